"""mail/parse.py: received mail decoded, in the shapes the common mail programs send."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from atalaya.mail import addressing
from atalaya.mail.parse import (
    decode_bytes,
    html_to_text,
    parse_message,
    sanitize_html,
    split_quoted,
    synthetic_message_id,
)
from atalaya.mail.tests import mails


def test_headers_are_decoded_and_normalised() -> None:
    raw = (
        b"From: =?utf-8?q?Jos=C3=A9_P=C3=A9rez?= <Jose@Alfa.EXAMPLE>\r\n"
        b'To: support@atalaya.localhost, "Help" <Help+t12@Atalaya.localhost>\r\n'
        b"Cc: a@b.example\r\nDelivered-To: support@atalaya.localhost\r\n"
        b"X-Original-To: help@atalaya.localhost\r\n"
        b"Subject: =?iso-8859-1?q?Re:_caf=E9?=\r\n"
        b"Message-ID: <Abc.1@Mail.Example>\r\nIn-Reply-To: <p@x.example>\r\n"
        b"References: <o@x.example>\r\n <p@x.example>\r\n"
        b"Date: Mon, 12 Jan 2026 10:00:00 +0100\r\n\r\nhi\r\n"
    )
    mail = parse_message(raw)
    assert mail.message_id == "Abc.1@mail.example" and mail.has_message_id
    assert mail.in_reply_to == ["p@x.example"]
    assert mail.references == ["o@x.example", "p@x.example"]
    assert mail.subject == "Re: café"
    assert (mail.from_name, mail.from_address) == ("José Pérez", "jose@alfa.example")
    assert mail.to == ["support@atalaya.localhost", "help+t12@atalaya.localhost"]
    assert mail.cc == ["a@b.example"]
    assert mail.recipients[0] == "support@atalaya.localhost"
    assert "help@atalaya.localhost" in mail.recipients
    assert mail.date is not None and mail.date.utcoffset() is not None


def test_raw_utf8_headers_are_read() -> None:
    raw = "From: Núria <n@x.example>\r\nSubject: Impresión rota\r\n\r\nx".encode()
    mail = parse_message(raw)
    assert mail.subject == "Impresión rota" and mail.from_name == "Núria"


def test_no_message_id_gets_a_stable_synthetic_one() -> None:
    raw = b"From: a@b.example\r\n\r\nbody"
    mail = parse_message(raw)
    assert not mail.has_message_id
    assert mail.message_id == synthetic_message_id(raw) == parse_message(raw).message_id


def test_header_injection_is_flattened() -> None:
    raw = (
        b"Subject: =?utf-8?b?SGkNCkJjYzogZXZpbEB4?=\r\n"
        b'From: "a=?utf-8?q?=0A?=b" <a@b.example>\r\n\r\nx'
    )
    mail = parse_message(raw)
    assert mail.subject == "Hi Bcc: evil@x"
    assert "\n" not in mail.from_name and "\r" not in mail.from_name


@pytest.mark.parametrize(
    ("payload", "charset", "expected"),
    [
        ("naïve".encode("latin-1"), "iso-8859-1", "naïve"),
        ("€".encode("cp1252"), "windows-1252", "€"),
        ("日本".encode("iso-2022-jp"), "iso-2022-jp", "日本"),
        ("Año".encode(), "bogus-charset", "Año"),
        ("Año".encode("latin-1"), "bogus-charset", "Año"),
        ("Año".encode("latin-1"), None, "Año"),
    ],
)
def test_decode_bytes(payload: bytes, charset: str | None, expected: str) -> None:
    assert decode_bytes(payload, charset) == expected


QUOTES = {
    "gmail": (
        "Thanks, works now.\n\nOn Mon, Jan 12, 2026 at 10:00 AM Support <s@x>\nwrote:\n> fixed\n"
    ),
    "gmail_es": "Gracias.\n\nEl lun, 12 ene 2026 a las 10:00, Soporte (<s@x>) escribió:\n> hecho\n",
    "outlook": (
        "OK.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nSubject: x\n\nfixed\n"
    ),
    "outlook_headers": (
        "OK.\n\n________________________________\nFrom: Support <s@x>\n"
        "Sent: Monday, 12 January 2026 10:00\nTo: Ana\nSubject: x\n\nfixed\n"
    ),
    "outlook_es": (
        "Vale.\n\nDe: Soporte <s@x>\nEnviado: lunes, 12 de enero de 2026 10:00\nPara: Ana\n"
        "Asunto: x\n\nhecho\n"
    ),
    "apple": "Great.\n\n> On 12 Jan 2026, at 10:00, Support <s@x> wrote:\n> \n> fixed\n",
    "thunderbird": "Fine.\n\nOn 01/12/2026 10:00, Support wrote:\n> fixed\n",
    "plain_quote": "Yes.\n> fixed?\n",
}


@pytest.mark.parametrize("style", sorted(QUOTES))
def test_quoted_history_is_split_from_the_new_part(style: str) -> None:
    new, quoted = split_quoted(QUOTES[style])
    assert new.strip() in {
        "Thanks, works now.",
        "Gracias.",
        "OK.",
        "Vale.",
        "Great.",
        "Fine.",
        "Yes.",
    }
    assert ("fixed" in quoted) or ("hecho" in quoted)


def test_no_quote_is_all_new() -> None:
    assert split_quoted("Just a question.\nFrom my phone") == (
        "Just a question.\nFrom my phone",
        "",
    )


def test_html_is_sanitised_and_remote_images_dropped() -> None:
    clean = sanitize_html(
        '<div onmouseover="x()"><script>bad()</script><style>p{}</style>'
        '<a href="javascript:alert(1)">a</a><a href="https://ok.example">b</a>'
        '<img src="http://track.example/p.gif"><img src="cid:img1@x">'
        '<iframe src="x"></iframe></div>'
    )
    assert "script" not in clean and "onmouseover" not in clean and "javascript" not in clean
    assert "track.example" not in clean and "iframe" not in clean and "p{}" not in clean
    assert 'src="cid:img1@x"' in clean and 'href="https://ok.example"' in clean


def test_apple_mail_html_quote_split() -> None:
    html = '<div>Sure</div><blockquote type="cite"><div>On … wrote:</div>old</blockquote>'
    msg = EmailMessage()
    msg["From"] = "a@b.example"
    msg.set_content(html, subtype="html")
    mail = parse_message(msg.as_bytes())
    assert mail.new_text == "Sure" and "old" in mail.quoted_text


def test_html_to_text() -> None:
    assert html_to_text("<p>a&amp;b</p><p>c<br>d</p>") == "a&b\nc\nd"


def test_attachments_and_inline_images() -> None:
    msg = EmailMessage()
    msg["From"] = "a@b.example"
    msg.set_content("text")
    msg.add_alternative('<img src="cid:pic@x">', subtype="html")
    msg.get_payload()[1].add_related(b"PNG", "image", "png", cid="<pic@x>")
    msg.add_attachment(b"data", maintype="application", subtype="pdf", filename="../../etc/a.pdf")
    mail = parse_message(msg.as_bytes())
    files = {a.filename: a for a in mail.attachments}
    assert files["a.pdf"].data == b"data" and not files["a.pdf"].is_inline
    inline = [a for a in mail.attachments if a.is_inline]
    assert inline[0].content_id == "pic@x" and inline[0].data == b"PNG"
    assert mail.text == "text"


@pytest.mark.parametrize(
    ("headers", "signal"),
    [
        ({"Auto-Submitted": "auto-generated"}, "auto"),
        ({"Auto-Submitted": "no"}, ""),
        ({"X-Autoreply": "yes"}, "auto"),
        ({"Precedence": "junk"}, "auto"),
        ({"Precedence": "first-class"}, ""),
        ({addressing.LOOP_HEADER: "1"}, "loop"),
    ],
)
def test_automatic_mail_signals(headers: dict[str, str], signal: str) -> None:
    mail = parse_message(mails.build(headers=headers))
    assert bool(mail.auto_reply) == (signal == "auto")
    assert bool(mail.loop) == (signal == "loop")


def test_a_delivery_status_notification() -> None:
    mail = parse_message(mails.bounce(recipient="Gone@Alfa.example", original_id="orig@a.example"))
    assert mail.is_bounce and mail.bounce is not None
    assert mail.bounce.recipient == "gone@alfa.example"
    assert mail.bounce.status == "5.1.1" and "user unknown" in mail.bounce.diagnostic
    assert mail.bounce.original_message_id == "orig@a.example"


def test_a_bounce_with_the_whole_original_attached() -> None:
    original = mails.build(msg_id="<whole@a.example>")
    raw = (
        b"From: postmaster@mx.example\r\nSubject: failure\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; x@y.example\r\nStatus: 5.0.0\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + original + b"\r\n--b--\r\n"
    )
    mail = parse_message(raw)
    assert mail.bounce is not None and mail.bounce.original_message_id == "whole@a.example"
    assert mail.bounce.recipient == "x@y.example"


def test_too_many_hops_is_a_loop() -> None:
    raw = b"Received: x\r\n" * 26 + b"From: a@b.example\r\n\r\nx"
    assert parse_message(raw).loop == "26 Received headers"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\x01\x02",
        b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\nno end',
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64===",
        b"Subject: =?utf-8?b?broken\r\nFrom: <<<@>>>\r\n\r\n",
        b'Content-Type: text/plain; charset="\xff\xfe"\r\n\r\n\xff',
        b"Message-ID: <" + b"a" * 400 + b"@x>\r\n\r\n",
    ],
)
def test_malformed_mail_never_raises(raw: bytes) -> None:
    mail = parse_message(raw)
    assert mail.message_id and len(mail.message_id) <= 300
