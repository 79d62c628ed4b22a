"""A deterministic corpus of real-looking mail for the threading tests and the mail benchmark.

Given the mails Atalaya sent (one ``SentMail`` per outbox row: its Message-ID, the
subject with ``[#n]``, the Reply-To ``support+tN@…`` and the body with the signed
reference), ``reply_corpus`` writes the replies the way each mail client sends them,
as raw RFC 822 bytes: Outlook desktop (Thread-Index, "RE:"/"AW:", a quoted header
block in English, Spanish or German, windows-1252 quoted-printable, HTML with
``divRplyFwdMsg``), Outlook on the web that drops In-Reply-To, Gmail (base64 UTF-8,
``gmail_quote``), Apple Mail (quoted-printable, ``blockquote type="cite"``),
Thunderbird (format=flowed, 8bit), phones that drop the subject token and the
references, mail written afresh to the plus address, replies to replies, reply-all
delivered to two Atalaya mailboxes, and forwards that come back as replies.

Each item says which ticket it must land on and which matching rule is the strongest
one its marks allow (the order of mail/inbound.py: In-Reply-To, References, subject
token, reply address, body reference). ``new_mail_corpus`` writes the other traffic
of a help desk: new requests from clients' people (some HTML-only, some with PDFs and
screenshots of 50 KB to 2 MB), auto-replies and bounces.

Everything comes from a seeded ``random.Random``: the same input gives the same bytes.
"""

from __future__ import annotations

import base64
import html
import math
import quopri
import random
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

# The four marks, as mail/addressing.py writes them (copied patterns, not imported, so
# the corpus does not need Django settings to be read).
SUBJECT_TOKEN_RE = re.compile(r"\s*\[#\d{1,12}\]")
BODY_TOKEN_RE = re.compile(r"\[ref:ATL-\d{1,12}-[0-9a-f]{8}\]")

# Rule names as mail.models.MatchRule spells them.
IN_REPLY_TO = "in_reply_to"
REFERENCES = "references"
SUBJECT_TOKEN = "subject_token"
REPLY_ADDRESS = "reply_address"
BODY_TOKEN = "body_token"
NEW = "new"


@dataclass(frozen=True)
class SentMail:
    """One mail Atalaya sent: what a reply can quote and point at."""

    ticket_number: int
    message_id: str  # without angle brackets
    subject: str
    from_header: str  # "Atalaya <support@…>"
    reply_to: str  # support+tN@…
    to_address: str
    to_name: str
    body_text: str
    sent_at: datetime
    body_html: str = ""
    language: str = "es"
    references: str = ""
    # Other people at the same client, for reply-all, forwards and replies to replies.
    colleagues: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_outbound(cls, message: Any, colleagues: Sequence[tuple[str, str]] = ()) -> SentMail:
        """From a mail.models.OutboundMessage row (its ticket loaded or loadable)."""
        return cls(
            ticket_number=message.ticket.number,
            message_id=message.message_id,
            subject=message.subject,
            from_header=message.from_address,
            reply_to=message.reply_to,
            to_address=message.to_address,
            to_name=message.to_name or message.to_address.partition("@")[0],
            body_text=message.body_text,
            body_html=message.body_html,
            sent_at=message.created_at,
            language=message.language,
            references=message.references,
            colleagues=tuple(colleagues),
        )


@dataclass
class CorpusMail:
    """One delivery of one raw mail to one Atalaya mailbox, and what must come of it.

    ``expected_rule`` is the strongest matching rule the mail's marks allow; for a second
    delivery of the same mail (reply-all with CC) ``is_duplicate`` is set and nothing may
    change. ``ticket_number`` is None for mail that must not land on an existing ticket.
    """

    raw: bytes
    mailbox: str
    style: str
    message_id: str
    ticket_number: int | None
    expected_rule: str
    expected_outcome: str = "appended"
    is_duplicate: bool = False
    sender: str = ""
    attachment_bytes: int = 0
    notes: dict[str, Any] = field(default_factory=dict)
    # When the MTA handed it over: pass it to ingest as ``now`` (the loop check counts
    # a sender's mails per window of time, and real mail does not arrive all at once).
    received_at: datetime | None = None


# --- words ----------------------------------------------------------------------------

REPLY_LINES = {
    "es": [
        "Gracias, ya funciona correctamente.",
        "Sigue sin funcionar, el error ha vuelto a aparecer esta mañana.",
        "¿Podéis llamarme cuando podáis? Estoy en la extensión 214.",
        "Perfecto, lo probamos mañana a primera hora y os digo algo.",
        "He reiniciado el equipo como me indicasteis y ahora va más rápido.",
        "Os paso la captura de pantalla del mensaje que sale al arrancar.",
        "El compañero de contabilidad también tiene el mismo problema.",
        "Vale, de acuerdo. Podéis cerrar la incidencia.",
        "No he podido probarlo todavía, estoy fuera hasta el jueves.",
        "La impresora de la segunda planta vuelve a atascarse con papel A3.",
    ],
    "en": [
        "Thanks, that fixed it.",
        "Still not working, the error came back this morning.",
        "Could you give me a call? I'm on extension 214.",
        "Great, we'll test it first thing tomorrow and let you know.",
        "I restarted the laptop as you suggested and it is faster now.",
        "Here is the screenshot of the message it shows at start-up.",
        "My colleague in accounts has the same problem too.",
        "OK, fine by me. You can close the ticket.",
        "I haven't been able to try it yet, I'm out until Thursday.",
        "The second floor printer is jamming again with A3 paper.",
    ],
}
SIGNATURES = {
    "es": ["Saludos,", "Un saludo,", "Gracias,", "Atentamente,"],
    "en": ["Regards,", "Best,", "Thanks,", "Kind regards,"],
}
NEW_SUBJECTS = {
    "es": [
        "No puedo acceder al correo desde casa",
        "La VPN se desconecta cada 10 minutos",
        "Impresora de recepción sin conexión",
        "Alta de usuario para una nueva empleada",
        "El portátil no arranca después de la actualización",
        "Solicitud de licencia de Office para el equipo de ventas",
        "Problema con la copia de seguridad del servidor",
        "Teams no detecta la cámara",
        "Correo sospechoso recibido en administración",
        "Necesitamos ampliar el espacio del disco compartido",
        "Factura electrónica no se envía",
        "Lentitud general en la red de la oficina",
    ],
    "en": [
        "Cannot reach my mail from home",
        "VPN drops every ten minutes",
        "Reception printer offline",
        "New starter needs an account on Monday",
        "Laptop won't boot after the update",
        "Office licence for the sales team",
        "Server backup failed last night",
        "Teams doesn't see the webcam",
        "Suspicious email received in accounts",
        "Shared drive is almost full",
        "Invoices are not being sent",
        "Everything is slow on the office network",
    ],
}
NEW_BODIES = {
    "es": [
        "Buenos días,\n\nDesde esta mañana no consigo {0}. Me sale un mensaje de error "
        "y no sé qué hacer. ¿Podéis echarle un vistazo?\n\nGracias de antemano.",
        "Hola,\n\nOs escribo porque {0}. Es bastante urgente porque mañana tenemos "
        "cierre de mes.\n\nUn saludo.",
        "Hola equipo,\n\nComo os comenté por teléfono, {0}. Adjunto más información "
        "si la necesitáis.\n\nQuedo a la espera.",
    ],
    "en": [
        "Hi,\n\nSince this morning I cannot {0}. It shows an error message and I don't "
        "know what to do. Could you have a look?\n\nThanks in advance.",
        "Hello,\n\nI'm writing because {0}. It's fairly urgent, we close the month "
        "tomorrow.\n\nRegards.",
        "Hi team,\n\nAs I mentioned on the phone, {0}. Happy to send more details if "
        "you need them.\n\nThanks.",
    ],
}
NEW_DETAILS = {
    "es": [
        "entrar en el correo desde el portátil",
        "la VPN se cae al compartir pantalla",
        "el escáner no guarda en la carpeta compartida",
        "el programa de nóminas tarda muchísimo en abrir",
        "la impresora imprime hojas en blanco",
    ],
    "en": [
        "open my mailbox on the laptop",
        "the VPN drops when I share my screen",
        "the scanner can't save to the shared folder",
        "the payroll program takes ages to open",
        "the printer prints blank pages",
    ],
}
ACCENTED_NAMES = [
    "José Muñoz",
    "María Peña",
    "Begoña Ibáñez",
    "Íñigo Zárate",
    "Núria Pujòl",
    "François Lefèvre",
    "Jürgen Müller",
    "Zoë Ångström",
]
WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
    "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
}
MONTHS = {
    "en": [
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ],
    "es": [
        "enero", "febrero", "marzo", "abril", "mayo", "junio",
        "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
    ],
    "de": [
        "Januar", "Februar", "März", "April", "Mai", "Juni",
        "Juli", "August", "September", "Oktober", "November", "Dezember",
    ],
}  # fmt: skip


# --- MIME writing -----------------------------------------------------------------------


def _qp(text: str, charset: str) -> bytes:
    # quopri leaves a bare "\n"; the whole message's line ends are set at the end.
    return quopri.encodestring(text.replace("\r\n", "\n").encode(charset, "replace"))


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data)


def _leaf(content_type: str, payload: bytes, cte: str, **params: str) -> bytes:
    head = content_type + "".join(f'; {k.replace("_", "-")}="{v}"' for k, v in params.items())
    return f"Content-Type: {head}\nContent-Transfer-Encoding: {cte}\n\n".encode() + payload


def text_part(text: str, subtype: str, charset: str, cte: str, **params: str) -> bytes:
    """A text/plain or text/html part encoded as a given client encodes it."""
    if cte == "quoted-printable":
        payload = _qp(text, charset)
    elif cte == "base64":
        payload = _b64(text.encode(charset, "replace"))
    else:  # 7bit / 8bit
        payload = text.encode(charset, "replace")
    if not payload.endswith(b"\n"):
        payload += b"\n"
    return _leaf(f"text/{subtype}", payload, cte, charset=charset, **params)


def multipart(subtype: str, parts: Sequence[bytes], rng: random.Random, **params: str) -> bytes:
    boundary = f"_{rng.getrandbits(64):016x}_{subtype}_{rng.getrandbits(32):08x}_"
    extra = "".join(f'; {k.replace("_", "-")}="{v}"' for k, v in params.items())
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"{extra}\n\n'.encode()]
    for part in parts:
        out.append(f"--{boundary}\n".encode() + part + (b"" if part.endswith(b"\n") else b"\n"))
    out.append(f"--{boundary}--\n".encode())
    return b"".join(out)


def attachment_part(
    filename: str, content_type: str, data: bytes, *, inline: bool = False
) -> bytes:
    disposition = "inline" if inline else "attachment"
    head = (
        f'Content-Type: {content_type}; name="{filename}"\n'
        f'Content-Disposition: {disposition}; filename="{filename}"; size={len(data)}\n'
        "Content-Transfer-Encoding: base64\n"
    )
    if inline:
        head += f"Content-ID: <{filename}@local>\n"
    return (head + "\n").encode() + _b64(data)


def fake_file(rng: random.Random, kind: str, size: int) -> tuple[str, str, bytes]:
    """A PDF or PNG of about ``size`` bytes: a real signature and random content after it."""
    if kind == "pdf":
        head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        tail = b"\n%%EOF\n"
        name = rng.choice(["factura", "presupuesto", "informe", "error", "invoice", "report"])
        return (
            f"{name}_{rng.randint(100, 9999)}.pdf",
            "application/pdf",
            (head + rng.randbytes(max(0, size - len(head) - len(tail))) + tail),
        )
    head = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x07\x80\x00\x00\x04\x38\x08\x06\x00\x00\x00"
    )
    name = rng.choice(["captura", "pantallazo", "screenshot", "image001", "IMG_"])
    return (
        f"{name}{rng.randint(1, 999)}.png",
        "image/png",
        head + rng.randbytes(max(0, size - len(head))),
    )


def attachment_size(rng: random.Random) -> int:
    """50 KB to 2 MB, log-uniform: most screenshots are small, some PDFs are scans."""
    return int(math.exp(rng.uniform(math.log(50_000), math.log(2_000_000))))


def encoded_header(value: str, charset: str = "utf-8") -> str:
    """A header value in RFC 2047 words when it is not ASCII, folded as clients fold."""
    try:
        value.encode("ascii")
        return value
    except UnicodeEncodeError:
        return Header(value, charset, maxlinelen=76, header_name="Subject").encode()


def address(name: str, addr: str, charset: str = "utf-8") -> str:
    try:
        name.encode("ascii")
        return formataddr((name, addr))
    except UnicodeEncodeError:
        try:
            name.encode(charset)
        except UnicodeEncodeError:
            charset = "utf-8"
        return formataddr((name, addr), charset=charset)


def message(headers: Sequence[tuple[str, str]], body: bytes, *, crlf: bool) -> bytes:
    """Headers (already encoded) and a MIME body (its own Content-* lines first)."""
    head = "".join(f"{name}: {value}\n" for name, value in headers)
    raw = head.encode("ascii", "replace") + b"MIME-Version: 1.0\n" + body
    return raw.replace(b"\n", b"\r\n") if crlf else raw


def fold_ids(ids: Sequence[str]) -> str:
    return "\n ".join(f"<{i}>" for i in ids)


# --- the replies -----------------------------------------------------------------------


def _strip_token(subject: str) -> str:
    return SUBJECT_TOKEN_RE.sub("", subject).strip()


def _base_subject(subject: str) -> str:
    return re.sub(r"^((re|rv|fw|fwd|aw|wg|tr)\s*:\s*)+", "", subject, flags=re.I)


def _name_of(header: str) -> tuple[str, str]:
    name, addr = parseaddr(header)
    return name or addr, addr


class ReplyWriter:
    """Writes one reply of a given style to one sent mail; see the module docstring."""

    def __init__(
        self, rng: random.Random, support_address: str, domain_of_clients: str = ""
    ) -> None:
        self.rng = rng
        self.support = support_address
        self.support_domain = support_address.rpartition("@")[2]
        self.domain_of_clients = domain_of_clients
        self.arrival = datetime(2026, 12, 1, 10, tzinfo=dt_timezone(timedelta(0)))

    # small pieces ------------------------------------------------------------------

    def lang(self, sent: SentMail) -> str:
        return "es" if sent.language.startswith("es") else "en"

    def new_text(self, sent: SentMail, lang: str | None = None) -> str:
        lang = lang or self.lang(sent)
        lines = self.rng.sample(REPLY_LINES[lang], self.rng.randint(1, 2))
        return "\n\n".join(lines)

    def signature(self, name: str, lang: str) -> str:
        return f"{self.rng.choice(SIGNATURES[lang])}\n{name}"

    def sender(self, sent: SentMail, *, colleague: bool = False) -> tuple[str, str]:
        if colleague and sent.colleagues:
            return self.rng.choice(sent.colleagues)
        return sent.to_name, sent.to_address

    def reply_date(self) -> datetime:
        """The Date a client writes: a little before the mail arrives, in CET."""
        when = self.arrival - timedelta(seconds=self.rng.randint(2, 90))
        return when.astimezone(dt_timezone(timedelta(hours=1)))

    def message_id(self, style: str, addr: str) -> str:
        rng = self.rng
        domain = addr.rpartition("@")[2] or "example.net"
        if style.startswith("outlook"):
            prefix = rng.choice(["AM0PR", "DB9PR", "PAXPR", "VI1PR"])
            host = f"{prefix}0{rng.randint(1, 9)}MB{rng.randint(1000, 9999)}"
            region = f"eurprd0{rng.randint(1, 9)}"
            return f"{host}{rng.getrandbits(96):024X}@{host}.{region}.prod.outlook.com"
        if style.startswith("gmail"):
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_-"
            token = "".join(rng.choice(alphabet) for _ in range(44))
            return f"CA{token}=@mail.gmail.com"
        if style.startswith("apple"):
            head = uuid.UUID(int=rng.getrandbits(128)).hex.upper()[:8]
            return f"{head}-{rng.getrandbits(64):016X}@{domain}"
        if style.startswith("mobile"):
            return f"{rng.getrandbits(64):x}.{rng.getrandbits(32):x}@email.android.com"
        return f"{uuid.UUID(int=rng.getrandbits(128))}@{domain}"

    def thread_index(self) -> str:
        return base64.b64encode(self.rng.randbytes(22)).decode()

    def original_html(self, sent: SentMail) -> str:
        if sent.body_html:
            inner = re.sub(r"(?is)^.*?<body[^>]*>|</body>.*$", "", sent.body_html)
            return inner
        return "<p>" + html.escape(sent.body_text).replace("\n", "<br>\n") + "</p>"

    def _headers(
        self,
        *,
        sender: tuple[str, str],
        name_charset: str,
        to: Sequence[str],
        cc: Sequence[str] = (),
        subject: str,
        subject_charset: str = "utf-8",
        date: datetime,
        message_id: str,
        in_reply_to: str = "",
        references: Sequence[str] = (),
        extra: Sequence[tuple[str, str]] = (),
    ) -> list[tuple[str, str]]:
        headers = [
            ("From", address(sender[0], sender[1], name_charset)),
            ("To", ", ".join(to)),
        ]
        if cc:
            headers.append(("Cc", ", ".join(cc)))
        headers += [
            ("Subject", encoded_header(subject, subject_charset)),
            ("Date", format_datetime(date)),
            ("Message-ID", f"<{message_id}>"),
        ]
        if in_reply_to:
            headers.append(("In-Reply-To", f"<{in_reply_to}>"))
        if references:
            headers.append(("References", fold_ids(references)))
        return headers + list(extra)

    def name_charset(self) -> str:
        return self.rng.choice(["iso-8859-1", "utf-8"])

    # styles -------------------------------------------------------------------------

    def outlook(self, sent: SentMail, *, variant: str) -> tuple[bytes, dict[str, Any]]:
        """Outlook desktop: windows-1252 quoted-printable, a header block, divRplyFwdMsg.

        ``variant``: "en" (RE:, In-Reply-To and References), "es_norefs" (RE:, Spanish
        header block, no References), "de" (AW:, German block), "web_refs" (Outlook on
        the web / Exchange: In-Reply-To dropped, References kept), "web_subject" (both
        dropped: only the subject token is left).
        """
        rng = self.rng
        lang = {"de": "de", "es_norefs": "es"}.get(variant, self.lang(sent))
        text_lang = "es" if lang == "es" else ("es" if self.lang(sent) == "es" else "en")
        prefix = {"de": "AW:", "es_norefs": "RE:"}.get(variant, rng.choice(["RE:", "RE:", "Re:"]))
        sender = self.sender(sent)
        date = self.reply_date()
        mid = self.message_id("outlook", sender[1])
        when = sent.sent_at.astimezone(dt_timezone(timedelta(hours=1)))
        weekday = WEEKDAYS[lang][when.weekday()]
        month = MONTHS[lang][when.month - 1]
        from_name, from_addr = _name_of(sent.from_header)
        if lang == "es":
            sent_line = f"{weekday}, {when.day} de {month} de {when.year} {when:%H:%M}"
            labels = ("De", "Enviado el", "Para", "Asunto")
        elif lang == "de":
            sent_line = f"{weekday}, {when.day}. {month} {when.year} {when:%H:%M}"
            labels = ("Von", "Gesendet", "An", "Betreff")
        else:
            hour = when.hour % 12 or 12
            sent_line = (
                f"{weekday}, {month} {when.day}, {when.year} {hour}:{when:%M} "
                f"{'AM' if when.hour < 12 else 'PM'}"
            )
            labels = ("From", "Sent", "To", "Subject")
        block = [
            f"{labels[0]}: {from_name} <{from_addr}>",
            f"{labels[1]}: {sent_line}",
            f"{labels[2]}: {sent.to_name} <{sent.to_address}>",
            f"{labels[3]}: {sent.subject}",
        ]
        new = self.new_text(sent, text_lang)
        signature = self.signature(sender[0], text_lang)
        text = f"{new}\n\n{signature}\n\n________________________________\n" + "\n".join(block)
        text += "\n\n" + sent.body_text
        html_block = "<br>\n".join(
            f"<b>{html.escape(line.split(':', 1)[0])}:</b>{html.escape(line.split(':', 1)[1])}"
            for line in block
        )
        body_html = (
            '<html xmlns:o="urn:schemas-microsoft-com:office:office">\n<head>\n'
            '<meta http-equiv="Content-Type" content="text/html; charset=Windows-1252">\n'
            '<style type="text/css" style="display:none;"> '
            "P {margin-top:0;margin-bottom:0;} </style>\n"
            '</head>\n<body dir="ltr">\n'
            '<div style="font-family: Calibri, Arial, Helvetica, sans-serif; font-size: 12pt;">\n'
            + html.escape(new).replace("\n", "<br>\n")
            + "<br><br>"
            + html.escape(signature).replace("\n", "<br>\n")
            + '</div>\n<hr style="display:inline-block;width:98%" tabindex="-1">\n'
            '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" '
            'style="font-size:11pt" color="#000000">'
            + html_block
            + "</font>\n<div>&nbsp;</div>\n</div>\n<div>"
            + self.original_html(sent)
            + "</div>\n</body>\n</html>\n"
        )
        body = multipart(
            "alternative",
            [
                text_part(text, "plain", "windows-1252", "quoted-printable"),
                text_part(body_html, "html", "windows-1252", "quoted-printable"),
            ],
            rng,
        )
        in_reply_to, references = sent.message_id, self.chain(sent)
        rule = IN_REPLY_TO
        if variant == "es_norefs":
            references = []
        elif variant == "web_refs":
            in_reply_to, rule = "", REFERENCES
        elif variant == "web_subject":
            in_reply_to, references, rule = "", [], SUBJECT_TOKEN
        topic = _base_subject(_strip_token(sent.subject))
        headers = self._headers(
            sender=sender,
            name_charset=self.name_charset(),
            to=[sent.reply_to or self.support],
            subject=f"{prefix} {sent.subject}",
            subject_charset="windows-1252",
            date=date,
            message_id=mid,
            in_reply_to=in_reply_to,
            references=references,
            extra=[
                ("Thread-Topic", encoded_header(topic, "windows-1252")),
                ("Thread-Index", self.thread_index()),
                ("Accept-Language", "es-ES, en-US" if lang == "es" else "en-US"),
                ("Content-Language", {"es": "es-ES", "de": "de-DE"}.get(lang, "en-US")),
                ("X-MS-Has-Attach", ""),
                ("X-MS-TNEF-Correlator", ""),
                (
                    "X-Mailer",
                    "Microsoft Outlook 16.0" if not variant.startswith("web") else "Microsoft OWA",
                ),
            ],
        )
        return message(headers, body, crlf=True), {"rule": rule, "message_id": mid}

    def chain(self, sent: SentMail) -> list[str]:
        """The References of a reply: the sent mail's own References, then its Message-ID."""
        return [*re.findall(r"<([^<>\s]+)>", sent.references or ""), sent.message_id]

    def gmail(self, sent: SentMail) -> tuple[bytes, dict[str, Any]]:
        """Gmail: "On … wrote:" and ``>`` quoting, gmail_quote div, base64 UTF-8."""
        rng = self.rng
        lang = self.lang(sent)
        sender = self.sender(sent)
        date = self.reply_date()
        mid = self.message_id("gmail", sender[1])
        when = sent.sent_at.astimezone(dt_timezone(timedelta(hours=1)))
        from_name, from_addr = _name_of(sent.from_header)
        if lang == "es":
            day = ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"][when.weekday()]
            month = MONTHS["es"][when.month - 1][:3]
            attribution = (
                f"El {day}, {when.day} {month} {when.year} a las {when:%H:%M}, "
                f"{from_name} (<{from_addr}>) escribió:"
            )
        else:
            attribution = (
                f"On {when:%a}, {when.day} {when:%b} {when.year} at {when:%H:%M}, "
                f"{from_name} <{from_addr}> wrote:"
            )
        new = self.new_text(sent)
        signature = self.signature(sender[0], lang)
        quoted = "\n".join(f"> {line}" if line else ">" for line in sent.body_text.split("\n"))
        text = f"{new}\n\n{signature}\n\n{attribution}\n\n{quoted}\n"
        body_html = (
            '<div dir="ltr">'
            + html.escape(new).replace("\n", "<br>")
            + "<div><br></div><div>"
            + html.escape(signature).replace("\n", "<br>")
            + '</div></div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
            + html.escape(attribution)
            + '<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;'
            'border-left:1px solid rgb(204,204,204);padding-left:1ex">'
            + self.original_html(sent)
            + "</blockquote></div>\n"
        )
        body = multipart(
            "alternative",
            [
                text_part(text, "plain", "UTF-8", "base64"),
                text_part(body_html, "html", "UTF-8", "base64"),
            ],
            rng,
        )
        headers = self._headers(
            sender=sender,
            name_charset="utf-8",
            to=[sent.reply_to or self.support],
            subject=f"Re: {sent.subject}",
            date=date,
            message_id=mid,
            in_reply_to=sent.message_id,
            references=self.chain(sent),
        )
        return message(headers, body, crlf=rng.random() < 0.5), {
            "rule": IN_REPLY_TO,
            "message_id": mid,
        }

    def apple(self, sent: SentMail) -> tuple[bytes, dict[str, Any]]:
        """Apple Mail: "On 1 Dec 2026, at 10:00, … wrote:", blockquote type=cite, QP."""
        rng = self.rng
        lang = self.lang(sent)
        sender = self.sender(sent)
        date = self.reply_date()
        mid = self.message_id("apple", sender[1])
        when = sent.sent_at.astimezone(dt_timezone(timedelta(hours=1)))
        from_name, from_addr = _name_of(sent.from_header)
        if lang == "es":
            attribution = (
                f"El {when.day} {MONTHS['es'][when.month - 1][:3]} {when.year}, a las "
                f"{when:%H:%M}, {from_name} <{from_addr}> escribió:"
            )
        else:
            attribution = (
                f"On {when.day} {when:%b} {when.year}, at {when:%H:%M}, "
                f"{from_name} <{from_addr}> wrote:"
            )
        new = self.new_text(sent)
        quoted = "\n".join(f"> {line}" if line else ">" for line in sent.body_text.split("\n"))
        text = f"{new}\n\n{sender[0]}\n\n> {attribution}\n>\n{quoted}\n"
        body_html = (
            '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8">'
            '</head><body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; '
            'line-break: after-white-space;">'
            + html.escape(new).replace("\n", "<br>")
            + "<div><br></div><div>"
            + html.escape(sender[0])
            + '</div><div><br><blockquote type="cite"><div>'
            + html.escape(attribution)
            + '</div><br class="Apple-interchange-newline"><div>'
            + self.original_html(sent)
            + "</div></blockquote></div><br></body></html>\n"
        )
        body = multipart(
            "alternative",
            [
                text_part(text, "plain", "utf-8", "quoted-printable"),
                text_part(body_html, "html", "utf-8", "quoted-printable"),
            ],
            rng,
        )
        headers = self._headers(
            sender=sender,
            name_charset=self.name_charset(),
            to=[sent.reply_to or self.support],
            subject=f"Re: {sent.subject}",
            date=date,
            message_id=mid,
            in_reply_to=sent.message_id,
            references=self.chain(sent),
            extra=[("X-Mailer", "Apple Mail (2.3774.600.62)")],
        )
        return message(headers, body, crlf=rng.random() < 0.5), {
            "rule": IN_REPLY_TO,
            "message_id": mid,
        }

    def thunderbird(self, sent: SentMail) -> tuple[bytes, dict[str, Any]]:
        """Thunderbird: "On 01/12/2026 10:00, … wrote:", format=flowed, 8bit UTF-8."""
        lang = self.lang(sent)
        sender = self.sender(sent)
        date = self.reply_date()
        mid = self.message_id("thunderbird", sender[1])
        when = sent.sent_at.astimezone(dt_timezone(timedelta(hours=1)))
        from_name = _name_of(sent.from_header)[0]
        attribution = (
            f"El {when:%d/%m/%Y} a las {when:%H:%M}, {from_name} escribió:"
            if lang == "es"
            else f"On {when:%d/%m/%Y} {when:%H:%M}, {from_name} wrote:"
        )
        new = self.new_text(sent)
        quoted = "\n".join(
            flowed_line(f"> {line}" if line else ">", quote=True)
            for line in sent.body_text.split("\n")
        )
        text = "\n".join(flowed_line(line) for line in new.split("\n"))
        text += f"\n\n-- \n{sender[0]}\n\n{attribution}\n{quoted}\n"
        body = text_part(text, "plain", "UTF-8", "8bit", format="flowed")
        headers = self._headers(
            sender=sender,
            name_charset=self.name_charset(),
            to=[sent.reply_to or self.support],
            subject=f"Re: {sent.subject}",
            date=date,
            message_id=mid,
            in_reply_to=sent.message_id,
            references=self.chain(sent),
            extra=[
                (
                    "User-Agent",
                    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0",
                ),
                ("Content-Language", "es-ES" if lang == "es" else "en-GB"),
            ],
        )
        return message(headers, body, crlf=False), {"rule": IN_REPLY_TO, "message_id": mid}

    def mobile(self, sent: SentMail, *, to_plus: bool) -> tuple[bytes, dict[str, Any]]:
        """A phone client that drops the subject token and all references but quotes the
        body. Sent to the plain support address (typed from the address book) only the
        body reference is left; to the Reply-To, the plus address is."""
        rng = self.rng
        lang = self.lang(sent)
        sender = self.sender(sent)
        date = self.reply_date()
        mid = self.message_id("mobile", sender[1])
        from_name = _name_of(sent.from_header)[0]
        bare = _strip_token(sent.subject)
        attribution = rng.choice(
            [
                f"-------- Mensaje original --------\nDe: {from_name}\nAsunto: {bare}"
                if lang == "es"
                else f"-------- Original message --------\nFrom: {from_name}\nSubject: {bare}",
                f"{from_name} escribió:" if lang == "es" else f"{from_name} wrote:",
            ]
        )
        new = self.new_text(sent)
        footer = (
            "Enviado desde mi smartphone Samsung Galaxy."
            if lang == "es"
            else rng.choice(["Sent from my iPhone", "Sent from Outlook for Android"])
        )
        text = f"{new}\n\n{footer}\n\n{attribution}\n\n{sent.body_text}\n"
        body = text_part(text, "plain", "utf-8", rng.choice(["quoted-printable", "base64", "8bit"]))
        headers = self._headers(
            sender=sender,
            name_charset="utf-8",
            to=[sent.reply_to if to_plus and sent.reply_to else self.support],
            subject=f"Re: {_strip_token(sent.subject)}",
            date=date,
            message_id=mid,
            extra=[("X-Mailer", "Android Mail")],
        )
        if not BODY_TOKEN_RE.search(sent.body_text) and not to_plus:
            raise ValueError(f"the sent mail of #{sent.ticket_number} has no body reference")
        rule = REPLY_ADDRESS if to_plus and sent.reply_to else BODY_TOKEN
        return message(headers, body, crlf=rng.random() < 0.5), {"rule": rule, "message_id": mid}

    def plus_rewritten(self, sent: SentMail) -> tuple[bytes, dict[str, Any]]:
        """A new mail written to the ticket's address (saved in the address book) with a
        subject of its own: no references, no token, no quote."""
        rng = self.rng
        lang = self.lang(sent)
        sender = self.sender(sent)
        mid = self.message_id(rng.choice(["outlook", "gmail", "thunderbird"]), sender[1])
        subject = rng.choice(
            ["Lo de ayer", "Sigue igual", "Una cosa más", "Novedades"]
            if lang == "es"
            else ["About yesterday", "Same again", "One more thing", "Update"]
        )
        text = f"{self.new_text(sent)}\n\n{self.signature(sender[0], lang)}\n"
        body = text_part(text, "plain", "utf-8", "quoted-printable")
        headers = self._headers(
            sender=sender,
            name_charset=self.name_charset(),
            to=[sent.reply_to],
            subject=subject,
            date=self.reply_date(),
            message_id=mid,
        )
        return message(headers, body, crlf=rng.random() < 0.5), {
            "rule": REPLY_ADDRESS,
            "message_id": mid,
        }

    def reply_all(self, sent: SentMail) -> tuple[bytes, dict[str, Any]]:
        """Reply-all from a colleague who was in CC: To the ticket address, Cc a second
        Atalaya mailbox and people at the client. Delivered to both mailboxes."""
        rng = self.rng
        lang = self.lang(sent)
        sender = self.sender(sent, colleague=True)
        mid = self.message_id(rng.choice(["outlook", "gmail"]), sender[1])
        from_name, from_addr = _name_of(sent.from_header)
        new = self.new_text(sent)
        attribution = (
            f"El {sent.sent_at:%d/%m/%Y %H:%M}, {from_name} <{from_addr}> escribió:"
            if lang == "es"
            else f"On {sent.sent_at:%d/%m/%Y %H:%M}, {from_name} <{from_addr}> wrote:"
        )
        quoted = "\n".join(f"> {line}" for line in sent.body_text.split("\n"))
        text = f"{new}\n\n{self.signature(sender[0], lang)}\n\n{attribution}\n{quoted}\n"
        body = text_part(text, "plain", "utf-8", "base64")
        cc = [address(sent.to_name, sent.to_address), self.second_mailbox]
        headers = self._headers(
            sender=sender,
            name_charset=self.name_charset(),
            to=[sent.reply_to or self.support],
            cc=cc,
            subject=f"RE: {sent.subject}",
            date=self.reply_date(),
            message_id=mid,
            in_reply_to=sent.message_id,
            references=self.chain(sent),
        )
        return message(headers, body, crlf=True), {"rule": IN_REPLY_TO, "message_id": mid}

    second_mailbox = "helpdesk@atalaya.localhost"

    def forwarded_replied(self, sent: SentMail) -> tuple[bytes, dict[str, Any]]:
        """The contact forwarded our mail to a colleague (RV:/FW:), who answers us: the
        reply names only the forward (unknown to us); the subject still has the token."""
        lang = self.lang(sent)
        colleague = self.sender(sent, colleague=True)
        forward_id = self.message_id("outlook", sent.to_address)
        mid = self.message_id("outlook", colleague[1])
        fw = "RV:" if lang == "es" else "FW:"
        from_name, from_addr = _name_of(sent.from_header)
        labels = (
            ("De", "Enviado el", "Para", "Asunto")
            if lang == "es"
            else ("From", "Sent", "To", "Subject")
        )
        block = (
            f"{labels[0]}: {sent.to_name} <{sent.to_address}>\n"
            f"{labels[1]}: {sent.sent_at:%d/%m/%Y %H:%M}\n"
            f"{labels[2]}: {colleague[0]} <{colleague[1]}>\n{labels[3]}: {fw} {sent.subject}\n\n"
            + (
                "Te reenvío esto, ¿puedes contestarles tú?"
                if lang == "es"
                else "Forwarding this, can you answer them?"
            )
            + f"\n\n{labels[0]}: {from_name} <{from_addr}>\n{labels[3]}: {sent.subject}\n\n"
            + sent.body_text
        )
        text = (
            f"{self.new_text(sent)}\n\n{self.signature(colleague[0], lang)}\n\n"
            f"________________________________\n{block}\n"
        )
        body = text_part(text, "plain", "windows-1252", "quoted-printable")
        headers = self._headers(
            sender=colleague,
            name_charset=self.name_charset(),
            to=[self.support],
            cc=[address(sent.to_name, sent.to_address)],
            subject=f"RE: {fw} {sent.subject}",
            subject_charset="windows-1252",
            date=self.reply_date(),
            message_id=mid,
            in_reply_to=forward_id,
            references=[forward_id],
            extra=[("Thread-Index", self.thread_index())],
        )
        return message(headers, body, crlf=True), {"rule": SUBJECT_TOKEN, "message_id": mid}

    def reply_to_reply(
        self, sent: SentMail, parent_id: str, parent_from: tuple[str, str], *, via_references: bool
    ) -> tuple[bytes, dict[str, Any]]:
        """A colleague answers the client's earlier reply (which Atalaya received, so it is
        in the ledger). With ``via_references`` the In-Reply-To names a mail Atalaya never
        saw (an internal message between them) and only the References chain leads back."""
        rng = self.rng
        lang = self.lang(sent)
        sender = self.sender(sent, colleague=True)
        if sender[1] == parent_from[1]:
            sender = (sent.to_name, sent.to_address)
        mid = self.message_id("gmail" if rng.random() < 0.5 else "thunderbird", sender[1])
        chain = [*self.chain(sent), parent_id]
        in_reply_to = parent_id
        rule = IN_REPLY_TO
        if via_references:
            internal = self.message_id("outlook", parent_from[1])
            chain.append(internal)
            in_reply_to, rule = internal, REFERENCES
        new = self.new_text(sent)
        attribution = (
            f"El {sent.sent_at:%d/%m/%Y}, {parent_from[0]} <{parent_from[1]}> escribió:"
            if lang == "es"
            else f"On {sent.sent_at:%d/%m/%Y}, {parent_from[0]} <{parent_from[1]}> wrote:"
        )
        quoted_text = "\n".join(f"> {line}" for line in REPLY_LINES[lang][:2])
        text = f"{new}\n\n{self.signature(sender[0], lang)}\n\n{attribution}\n{quoted_text}\n"
        body = text_part(text, "plain", "utf-8", "quoted-printable")
        # The subject keeps the token, but the ledger is tried first.
        headers = self._headers(
            sender=sender,
            name_charset=self.name_charset(),
            to=[sent.reply_to or self.support, address(*parent_from)],
            subject=f"Re: Re: {sent.subject}",
            date=self.reply_date(),
            message_id=mid,
            in_reply_to=in_reply_to,
            references=chain,
        )
        return message(headers, body, crlf=rng.random() < 0.5), {"rule": rule, "message_id": mid}


def flowed_line(line: str, width: int = 72, quote: bool = False) -> str:
    """RFC 3676 format=flowed: long lines broken at spaces with a trailing space."""
    if len(line) <= width:
        return line
    prefix = ""
    if quote:
        found = re.match(r"^(>+ ?)", line)
        prefix = found.group(1) if found else ""
        line = line[len(prefix) :]
    words, out, current = line.split(" "), [], ""
    for word in words:
        if current and len(prefix) + len(current) + len(word) + 1 > width:
            out.append(prefix + current + " ")
            current = word
        else:
            current = f"{current} {word}" if current else word
    out.append(prefix + current)
    return "\n".join(out)


# Styles and their weights in the corpus (each one a few percent of it).
STYLES: list[tuple[str, int]] = [
    ("outlook_en", 10),
    ("outlook_es_norefs", 8),
    ("outlook_de", 3),
    ("outlook_web_refs", 6),
    ("outlook_web_subject", 6),
    ("gmail", 12),
    ("apple", 8),
    ("thunderbird", 7),
    ("mobile_body", 6),
    ("mobile_plus", 4),
    ("plus_rewritten", 5),
    ("reply_all_cc", 7),
    ("forwarded_replied", 5),
    ("reply_to_reply", 7),
    ("reply_to_reply_refs", 6),
]


def reply_corpus(
    sent: Sequence[SentMail],
    *,
    count: int,
    seed: int = 3,
    support_address: str = "support@atalaya.localhost",
    second_mailbox: str = "helpdesk@atalaya.localhost",
    styles: Sequence[tuple[str, int]] = STYLES,
    attachment_share: float = 0.0,
    start: datetime | None = None,
    mean_gap_s: float = 120.0,
) -> list[CorpusMail]:
    """About ``count`` replies to the ``sent`` mails (reply-all adds its second delivery).

    Every style appears at least once when ``count`` is at least the number of styles;
    replies to replies follow the reply they answer. With ``attachment_share`` that part
    of the replies carries a screenshot or a PDF. The mails arrive one after another
    from ``start`` (default: shortly after the last sent mail), ``mean_gap_s`` apart on
    average.
    """
    rng = random.Random(seed)
    writer = ReplyWriter(rng, support_address)
    clock = start or max(s.sent_at for s in sent) + timedelta(minutes=5)
    writer.second_mailbox = second_mailbox
    names = [name for name, _w in styles]
    weights = [w for _n, w in styles]
    plan = names[: min(len(names), count)] + rng.choices(
        names, weights, k=max(0, count - len(names))
    )
    rng.shuffle(plan)
    # A reply to a reply needs one written before it.
    firsts = [i for i, name in enumerate(plan) if not name.startswith("reply_to_reply")]
    if firsts and firsts[0]:
        plan[0], plan[firsts[0]] = plan[firsts[0]], plan[0]
    # Earlier replies per ticket, for replies to replies: (message id, sender).
    earlier: dict[int, list[tuple[str, tuple[str, str]]]] = {}
    out: list[CorpusMail] = []
    for style in plan:
        clock += timedelta(seconds=rng.expovariate(1 / mean_gap_s))
        writer.arrival = clock
        target = rng.choice(sent)
        if style.startswith("reply_to_reply"):
            parents = earlier.get(target.ticket_number)
            if not parents:
                # Answer something already written; else write the first reply now.
                candidates = [s for s in sent if earlier.get(s.ticket_number)]
                if candidates:
                    target = rng.choice(candidates)
                    parents = earlier[target.ticket_number]
            if parents:
                parent_id, parent_from = rng.choice(parents)
                raw, info = writer.reply_to_reply(
                    target, parent_id, parent_from, via_references=style.endswith("_refs")
                )
            else:
                style = "gmail"
                raw, info = writer.gmail(target)
        elif style.startswith("outlook_"):
            raw, info = writer.outlook(target, variant=style.removeprefix("outlook_"))
        elif style == "gmail":
            raw, info = writer.gmail(target)
        elif style == "apple":
            raw, info = writer.apple(target)
        elif style == "thunderbird":
            raw, info = writer.thunderbird(target)
        elif style == "mobile_body":
            raw, info = writer.mobile(target, to_plus=False)
        elif style == "mobile_plus":
            raw, info = writer.mobile(target, to_plus=True)
        elif style == "plus_rewritten":
            raw, info = writer.plus_rewritten(target)
        elif style == "reply_all_cc":
            raw, info = writer.reply_all(target)
        elif style == "forwarded_replied":
            raw, info = writer.forwarded_replied(target)
        else:
            raise ValueError(f"unknown style {style}")
        attached = 0
        if attachment_share and rng.random() < attachment_share:
            raw, attached = add_attachment(raw, rng)
        sender = parseaddr(_header_of(raw, "From"))[1]
        item = CorpusMail(
            raw=raw,
            mailbox=support_address,
            style=style,
            message_id=info["message_id"],
            ticket_number=target.ticket_number,
            expected_rule=info["rule"],
            sender=sender,
            attachment_bytes=attached,
            received_at=clock,
        )
        if style == "reply_all_cc":
            # What each mailbox's MTA adds on delivery: the bytes differ, the Message-ID not.
            item.raw = delivered(raw, support_address, rng, clock)
            out.append(item)
            out.append(
                CorpusMail(
                    raw=delivered(raw, second_mailbox, rng, clock + timedelta(seconds=2)),
                    mailbox=second_mailbox,
                    style=style,
                    message_id=item.message_id,
                    ticket_number=target.ticket_number,
                    expected_rule=item.expected_rule,
                    is_duplicate=True,
                    sender=sender,
                    received_at=clock + timedelta(seconds=2),
                )
            )
        else:
            item.raw = delivered(raw, support_address, rng, clock)
            out.append(item)
        earlier.setdefault(target.ticket_number, []).append(
            (item.message_id, (_display_name(raw), sender))
        )
    return out


def _header_of(raw: bytes, name: str) -> str:
    found = re.search(rb"(?im)^" + name.encode() + rb":[ \t]*(.*(?:\r?\n[ \t].*)*)", raw)
    return found.group(1).decode("ascii", "replace").strip() if found else ""


def _display_name(raw: bytes) -> str:
    from email.header import decode_header, make_header

    name = parseaddr(_header_of(raw, "From"))[0]
    try:
        return str(make_header(decode_header(name)))
    except Exception:  # noqa: BLE001 - a name is only decoration here
        return name


def delivered(raw: bytes, mailbox: str, rng: random.Random, at: datetime) -> bytes:
    """The mail as an MTA hands it over: Delivered-To and a Received line on top."""
    eol = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
    queue_id = f"{rng.getrandbits(40):010X}"
    lines = [
        f"Delivered-To: {mailbox}".encode(),
        (
            "Received: from mail-out.example.net "
            f"(mail-out.example.net [192.0.2.{rng.randint(1, 254)}])"
        ).encode(),
        f"\tby mx.{mailbox.rpartition('@')[2]} (Postfix) with ESMTPS id {queue_id}".encode(),
        f"\tfor <{mailbox}>; {format_datetime(at)}".encode(),
    ]
    return eol.join(lines) + eol + raw


def add_attachment(raw: bytes, rng: random.Random, kind: str | None = None) -> tuple[bytes, int]:
    """Wrap the body of a written mail in multipart/mixed with a PDF or PNG after it."""
    crlf = b"\r\n" in raw[:2000]
    text = raw.replace(b"\r\n", b"\n")
    head, _sep, body = text.partition(b"\nMIME-Version: 1.0\n")
    size = attachment_size(rng)
    filename, content_type, data = fake_file(rng, kind or rng.choice(["pdf", "png"]), size)
    mixed = multipart("mixed", [body, attachment_part(filename, content_type, data)], rng)
    out = head + b"\nMIME-Version: 1.0\n" + mixed
    return (out.replace(b"\n", b"\r\n") if crlf else out), len(data)


# --- new mail, auto-replies, bounces -----------------------------------------------------


def new_mail_corpus(
    senders: Sequence[tuple[str, str, str]],
    *,
    count: int,
    seed: int = 5,
    support_address: str = "support@atalaya.localhost",
    attachment_share: float = 0.2,
    html_only_share: float = 0.08,
    auto_share: float = 0.03,
    bounce_share: float = 0.02,
    bounced_recipients: Sequence[str] = (),
    strangers: float = 0.05,
    start: datetime | None = None,
    mean_gap_s: float = 120.0,
) -> list[CorpusMail]:
    """New requests from the people of clients (``senders``: name, address, language).

    Some are HTML only, ``attachment_share`` of them carry a PDF or PNG of 50 KB–2 MB,
    ``strangers`` come from unknown people at the same domains, and a few are
    auto-replies (out of office) and bounces (a DSN naming one of
    ``bounced_recipients``), which must open nothing. They arrive from ``start``,
    ``mean_gap_s`` apart on average.
    """
    rng = random.Random(seed)
    out: list[CorpusMail] = []
    clock = start or datetime(2026, 12, 1, 9, tzinfo=dt_timezone(timedelta(0)))
    for i in range(count):
        clock += timedelta(seconds=rng.expovariate(1 / mean_gap_s))
        roll = rng.random()
        name, addr, lang = rng.choice(senders)
        lang = "es" if lang.startswith("es") else "en"
        if roll < bounce_share and bounced_recipients:
            out.append(_bounce(rng, rng.choice(bounced_recipients), support_address, clock))
            continue
        if roll < bounce_share + auto_share:
            out.append(_auto_reply(rng, name, addr, lang, support_address, clock))
            continue
        if rng.random() < strangers:
            domain = addr.rpartition("@")[2]
            name = rng.choice(ACCENTED_NAMES)
            addr = f"{name.split()[0].lower().encode('ascii', 'ignore').decode()}{i}@{domain}"
        elif rng.random() < 0.15:
            name = rng.choice(ACCENTED_NAMES)
        subject = rng.choice(NEW_SUBJECTS[lang])
        text = rng.choice(NEW_BODIES[lang]).format(rng.choice(NEW_DETAILS[lang]))
        text += f"\n\n{name}\n"
        client_style = rng.choice(["outlook", "gmail", "apple", "thunderbird"])
        mid = ReplyWriter(rng, support_address).message_id(client_style, addr)
        html_text = (
            "<p>" + html.escape(text).replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>"
        )
        if rng.random() < html_only_share:
            body = text_part(
                f'<html><body>{html_text}<img src="https://tracker.example/p.gif"></body></html>',
                "html",
                "utf-8",
                "quoted-printable",
            )
            style = "new_html_only"
        else:
            charset, cte = {
                "outlook": ("windows-1252", "quoted-printable"),
                "gmail": ("UTF-8", "base64"),
                "apple": ("utf-8", "quoted-printable"),
                "thunderbird": ("UTF-8", "8bit"),
            }[client_style]
            body = multipart(
                "alternative",
                [
                    text_part(text, "plain", charset, cte),
                    text_part(f"<html><body>{html_text}</body></html>", "html", charset, cte),
                ],
                rng,
            )
            style = f"new_{client_style}"
        headers = [
            ("From", address(name, addr, rng.choice(["iso-8859-1", "utf-8"]))),
            ("To", support_address),
            ("Subject", encoded_header(subject, "utf-8")),
            (
                "Date",
                format_datetime(clock - timedelta(seconds=rng.randint(2, 90))),
            ),
            ("Message-ID", f"<{mid}>"),
        ]
        raw = message(headers, body, crlf=client_style == "outlook")
        attached = 0
        if rng.random() < attachment_share:
            raw, attached = add_attachment(raw, rng)
            style += "_attachment"
        out.append(
            CorpusMail(
                raw=delivered(raw, support_address, rng, clock),
                mailbox=support_address,
                style=style,
                message_id=mid,
                ticket_number=None,
                expected_rule=NEW,
                expected_outcome="created",
                sender=addr,
                attachment_bytes=attached,
                received_at=clock,
            )
        )
    return out


def _auto_reply(
    rng: random.Random, name: str, addr: str, lang: str, support: str, at: datetime
) -> CorpusMail:
    mid = f"{uuid.UUID(int=rng.getrandbits(128))}@{addr.rpartition('@')[2]}"
    subject = (
        rng.choice(["Respuesta automática: ", "Fuera de la oficina: "])
        + rng.choice(NEW_SUBJECTS["es"])
        if lang == "es"
        else rng.choice(["Automatic reply: ", "Out of Office: "]) + rng.choice(NEW_SUBJECTS["en"])
    )
    text = (
        "Estaré fuera de la oficina hasta el lunes 7 de diciembre con acceso limitado al correo."
        if lang == "es"
        else "I am out of the office until Monday 7 December with limited access to email."
    )
    marks = rng.choice(
        [
            [("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")],
            [("X-Autoreply", "yes"), ("Precedence", "auto_reply")],
            [("Auto-Submitted", "auto-generated"), ("Precedence", "bulk")],
        ]
    )
    headers = [
        ("From", address(name, addr)),
        ("To", support),
        ("Subject", encoded_header(subject)),
        ("Date", format_datetime(at - timedelta(seconds=1))),
        ("Message-ID", f"<{mid}>"),
        *marks,
    ]
    raw = message(headers, text_part(text, "plain", "utf-8", "quoted-printable"), crlf=True)
    return CorpusMail(
        raw=delivered(raw, support, rng, at),
        received_at=at,
        mailbox=support,
        style="auto_reply",
        message_id=mid,
        ticket_number=None,
        expected_rule="",
        expected_outcome="auto_reply",
        sender=addr,
    )


def _bounce(rng: random.Random, recipient: str, support: str, at: datetime) -> CorpusMail:
    """A Postfix DSN (multipart/report) for a mail Atalaya sent to ``recipient``."""
    domain = recipient.rpartition("@")[2]
    mid = f"20261201100000.{rng.getrandbits(40):010X}@mx.{domain}"
    original_id = f"{rng.getrandbits(96):024x}@atalaya.localhost"
    explanation = (
        f"This is the mail system at host mx.{domain}.\n\nI'm sorry to have to inform you "
        "that your message could not\nbe delivered to one or more recipients.\n\n"
        f"<{recipient}>: host mx.{domain}[192.0.2.25] said: 550 5.1.1\n"
        f"    <{recipient}>: Recipient address rejected: User unknown in local\n"
        "    recipient table (in reply to RCPT TO command)\n"
    )
    status = (
        f"Reporting-MTA: dns; mx.{domain}\nArrival-Date: Tue,  1 Dec 2026 10:00:00 +0100 (CET)\n\n"
        f"Final-Recipient: rfc822; {recipient}\nOriginal-Recipient: rfc822;{recipient}\n"
        "Action: failed\nStatus: 5.1.1\nRemote-MTA: dns; mx." + domain + "\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <" + recipient + ">: Recipient address rejected:\n"
        "    User unknown in local recipient table\n"
    )
    original = (
        f"From: Atalaya <{support}>\nTo: {recipient}\nSubject: Re: Impresora [#1]\n"
        f"Message-ID: <{original_id}>\nDate: Tue, 1 Dec 2026 09:59:00 +0000\n"
    )
    body = multipart(
        "report",
        [
            _leaf("text/plain", explanation.encode(), "7bit", charset="us-ascii"),
            b"Content-Type: message/delivery-status\n\n" + status.encode(),
            b"Content-Type: text/rfc822-headers\n\n" + original.encode(),
        ],
        rng,
        report_type="delivery-status",
    )
    headers = [
        ("From", f"MAILER-DAEMON@mx.{domain} (Mail Delivery System)"),
        ("To", support),
        ("Subject", "Undelivered Mail Returned to Sender"),
        ("Date", format_datetime(at - timedelta(seconds=1))),
        ("Message-ID", f"<{mid}>"),
        ("Auto-Submitted", "auto-replied"),
    ]
    raw = message(headers, body, crlf=False)
    return CorpusMail(
        raw=delivered(raw, support, rng, at),
        received_at=at,
        mailbox=support,
        style="bounce",
        message_id=mid,
        ticket_number=None,
        expected_rule="",
        expected_outcome="bounce",
        sender=f"MAILER-DAEMON@mx.{domain}",
        notes={"recipient": recipient},
    )
