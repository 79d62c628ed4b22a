"""Raw RFC 822 bytes → a plain ``ParsedMail``: what the inbound pipeline needs, decoded.

The stdlib ``email`` package does the MIME work. Mail in the wild is broken in every
way (undeclared or unknown charsets, headers the modern policy refuses, truncated
base64), so every step here is defensive: messages are read with the compat32 policy,
which never refuses a header, and the values used are decoded explicitly (encoded
words, raw 8-bit); a body in an unknown charset falls back to UTF-8, then Latin-1.
``parse_message`` itself should not raise; the pipeline still treats an exception as
a dead letter.

HTML is sanitised with nh3 (no scripts, no event handlers, no remote images, which
track the reader). The "new" part of a reply is split from the quoted history the
mail programs add, so the timeline can collapse it without losing it.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.header import Header, decode_header
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any

import nh3

from atalaya.mail import addressing

# More Received headers than this: the mail is going round in circles.
MAX_RECEIVED = 25
SUBJECT_LIMIT = 250
NAME_LIMIT = 200

AUTO_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
BOUNCE_SENDERS = ("mailer-daemon@", "postmaster@")


@dataclass
class MailAttachment:
    """One file of the mail: a real attachment or an inline image (``content_id``)."""

    filename: str
    content_type: str
    data: bytes
    content_id: str = ""
    is_inline: bool = False

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Bounce:
    """What a delivery status notification (RFC 3464) says failed, and for which mail."""

    recipient: str = ""
    status: str = ""
    diagnostic: str = ""
    original_message_id: str = ""

    @property
    def reason(self) -> str:
        return " ".join(part for part in (self.status, self.diagnostic) if part)[:500]


@dataclass
class ParsedMail:
    """A received mail, decoded: headers as plain strings, bodies as text, files as bytes."""

    message_id: str
    has_message_id: bool = True
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    subject: str = ""
    from_name: str = ""
    from_address: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    delivered_to: list[str] = field(default_factory=list)
    x_original_to: list[str] = field(default_factory=list)
    date: datetime | None = None
    text: str = ""
    html: str = ""
    new_text: str = ""
    quoted_text: str = ""
    attachments: list[MailAttachment] = field(default_factory=list)
    # Why it is an automatic mail ("Auto-Submitted: auto-replied"), or "".
    auto_reply: str = ""
    is_bounce: bool = False
    bounce: Bounce | None = None
    # Why it looks like a mail loop (our own mark, too many hops), or "".
    loop: str = ""
    received_count: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)

    @property
    def recipients(self) -> list[str]:
        """Every address it was delivered to, the envelope's first, each once."""
        seen: dict[str, None] = {}
        for address in (*self.delivered_to, *self.x_original_to, *self.to, *self.cc):
            seen.setdefault(address, None)
        return list(seen)


# --- headers ------------------------------------------------------------------------------


def one_line(value: str, limit: int) -> str:
    """Header injection: CR, LF and other control characters never survive into a value."""
    value = value or ""
    # Most values are printable already: only the others are filtered character by
    # character (about thirty values a mail).
    cleaned = (
        value if value.isprintable() else "".join(ch if ch.isprintable() else " " for ch in value)
    )
    return " ".join(cleaned.split())[:limit]


def _decode_raw_header(value: Any) -> str:
    """A header value with its encoded words decoded, never raising.

    Raw 8-bit bytes (RFC 6532 UTF-8 headers, or a mail program's local charset) come
    through compat32 as "unknown-8bit" and are read as UTF-8, else Latin-1.
    """
    if isinstance(value, str) and "=?" not in value:
        # No encoded word (most values): decode_header would give the text back as is.
        return value
    try:
        parts = decode_header(value)
    except Exception:  # noqa: BLE001 - a broken encoded word: keep the raw text
        return str(value or "")
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            known = charset if charset and charset != "unknown-8bit" else None
            out.append(decode_bytes(chunk, known))
        else:
            out.append(str(chunk))
    return "".join(out)


def _raw_values(msg: Message, name: str) -> list[Any]:
    try:
        return list(msg.get_all(name) or [])
    except Exception:  # noqa: BLE001
        return []


def header_values(msg: Message, name: str) -> list[str]:
    """All values of a header, decoded (encoded words, any charset, raw 8-bit)."""
    return [_decode_raw_header(value) for value in _raw_values(msg, name)]


def header(msg: Message, name: str) -> str:
    values = header_values(msg, name)
    return values[0] if values else ""


def _addresses(msg: Message, *names: str) -> list[tuple[str, str]]:
    """(name, address) pairs of address headers, addresses lowered, junk dropped.

    Split on the raw value, then decode each display name: an encoded comma or angle
    bracket in a name never makes a second address.
    """
    values: list[str] = []
    for name in names:
        for value in _raw_values(msg, name):
            values.append(
                str(value) if not isinstance(value, Header) else _decode_raw_header(value)
            )
    pairs = []
    try:
        parsed = getaddresses(values)
    except Exception:  # noqa: BLE001
        parsed = [parseaddr(value) for value in values]
    for display, address in parsed:
        address = one_line(address, 254).lower()
        if "@" in address and " " not in address:
            pairs.append((one_line(_decode_raw_header(display), NAME_LIMIT), address))
    return pairs


def synthetic_message_id(raw: bytes) -> str:
    """The id of a mail that has none: from its bytes, so the same mail gets the same id."""
    return f"sha256-{hashlib.sha256(raw).hexdigest()}@atalaya.invalid"


def message_id_of_headers(raw: bytes) -> str:
    """The Message-ID from the header block alone (for mail too large to parse whole)."""
    try:
        head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0][:200_000]
        msg = BytesHeaderParser(policy=policy.compat32).parsebytes(head)
        found = addressing.message_ids_in(str(msg.get("Message-ID", "")))
        return found[0] if found else ""
    except Exception:  # noqa: BLE001
        return ""


# --- bodies ---------------------------------------------------------------------------------


def decode_bytes(payload: bytes, charset: str | None) -> str:
    """Text in any charset; an unknown or wrong one falls back to UTF-8, then Latin-1."""
    if charset:
        charset = charset.strip().strip('"').lower()
        try:
            return payload.decode(charset, "replace")
        except (LookupError, ValueError, TypeError):
            pass
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1")


def _part_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - a broken transfer encoding: the text as it is
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "replace")
    return b""


def _part_text(part: Message) -> str:
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001
        charset = None
    return decode_bytes(_part_bytes(part), charset).replace("\r\n", "\n").replace("\x00", "")


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:  # noqa: BLE001
        name = ""
    name = _decode_raw_header(name) if "=?" in name else name
    # Only the last path component: a name like "../../etc/passwd" is just "passwd".
    name = re.split(r"[\\/]", name)[-1]
    return one_line(name, 200).strip(". ")


_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "text/plain": "txt",
    "text/html": "html",
    "message/rfc822": "eml",
}


def _disposition(part: Message) -> str:
    try:
        return (part.get_content_disposition() or "").lower()
    except Exception:  # noqa: BLE001
        return ""


# --- HTML -----------------------------------------------------------------------------------

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup",
    "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "ins", "li", "ol", "p", "pre", "q", "s", "small", "span", "strike",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "blockquote": {"type"},
    "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign"},
    "font": {"color"},
    "div": {"class", "id"},
    "*": {"dir", "lang"},
}


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    # A remote image is a read receipt for whoever sent it (and a way to track the
    # technician): only inline images (cid:, rewritten to the stored file later) stay.
    if tag == "img" and attribute == "src":
        return value if value.strip().lower().startswith("cid:") else None
    if attribute in ("class", "id"):
        # Kept only for the quote markers the splitter looks for.
        return value if re.fullmatch(r"[\w -]{1,80}", value) else None
    return value


def sanitize_html(markup: str) -> str:
    """The mail's HTML without scripts, styles, handlers or remote images (nh3)."""
    return nh3.clean(
        markup,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "cid"},
        attribute_filter=_attribute_filter,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


_BLOCK_END = re.compile(r"(?i)<\s*(br|/p|/div|/tr|/li|/h\d|/blockquote|hr)\b[^>]*>")


def html_to_text(markup: str) -> str:
    """A plain reading of (sanitised) HTML: blocks become lines, tags go, entities decode."""
    text = _BLOCK_END.sub("\n", markup)
    text = nh3.clean(text, tags=set())
    text = html_lib.unescape(text).replace("\xa0", " ")
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# Where the quoted history starts in the HTML of Apple Mail, Gmail, Outlook, Thunderbird.
_HTML_QUOTE = re.compile(
    r"""(?ix)<blockquote[^>]*type="?cite|<div[^>]*class="[^"]*gmail_quote|"""
    r"""<div[^>]*id="?(divRplyFwdMsg|appendonsend)|<div[^>]*class="?moz-cite-prefix"""
)


def split_html(markup: str) -> tuple[str, str]:
    found = _HTML_QUOTE.search(markup)
    if not found:
        return markup, ""
    return markup[: found.start()], markup[found.start() :]


# --- quoted history -----------------------------------------------------------------------

# The attribution line a reply starts its quote with, per mail program and language.
_ATTRIBUTION = re.compile(
    r"""(?ix)^\s*(
        (on|am|le|el|il)\s.{4,300}(wrote|schrieb|a\sécrit|escribió|ha\sescrito|scrisse)\s*:
      | -{2,}\s*(original\smessage|mensaje\soriginal|message\sd'origine
                 |ursprüngliche\snachricht)\s*-{2,}
      | _{10,}
    )\s*$"""
)
_HEADER_BLOCK_START = re.compile(r"(?i)^\s*\*?(from|de|von)\s*:\*?\s")
_HEADER_BLOCK_NEXT = re.compile(
    r"(?i)^\s*\*?(sent|date|enviado|fecha|to|para|subject|asunto|gesendet|cc)\s*:\*?\s"
)


def split_quoted(text: str) -> tuple[str, str]:
    """(the new part, the quoted history) of a reply's plain text.

    Recognises Gmail's and Thunderbird's "On … wrote:" (also wrapped over two lines),
    Spanish "El … escribió:", Outlook's "-----Original Message-----" and its
    "From: … Sent: …" / "De: … Enviado: …" header block, and a run of ``>`` lines.
    """
    lines = text.split("\n")
    for index, line in enumerate(lines):
        joined = line if index + 1 >= len(lines) else f"{line} {lines[index + 1]}"
        start = None
        if _ATTRIBUTION.match(line):
            start = index
        elif line.strip() and not line.lstrip().startswith(">") and _ATTRIBUTION.match(joined):
            # Gmail wraps a long attribution: "On Mon, … Ana <ana@x>\nwrote:".
            if re.match(r"(?i)^\s*(wrote|escribió)\s*:\s*$", lines[index + 1]):
                start = index
        elif _HEADER_BLOCK_START.match(line):
            following = [row for row in lines[index + 1 : index + 5] if row.strip()]
            if sum(bool(_HEADER_BLOCK_NEXT.match(row)) for row in following) >= 2:
                start = index
        elif line.startswith(">"):
            start = index
        if start is not None:
            new = "\n".join(lines[:start]).rstrip()
            return new, "\n".join(lines[start:]).strip("\n")
    return text.rstrip(), ""


# --- delivery status ------------------------------------------------------------------------


def _dsn_fields(part: Message) -> list[dict[str, str]]:
    """The per-message and per-recipient field groups of a message/delivery-status part."""
    groups: list[dict[str, str]] = []
    payload = part.get_payload()
    if isinstance(payload, list):
        for block in payload:
            if isinstance(block, Message):
                groups.append({k.lower(): _decode_raw_header(v) for k, v in block.items()})
        if groups:
            return groups
    text = _part_text(part)
    for chunk in re.split(r"\n\s*\n", text):
        try:
            block = HeaderParser(policy=policy.compat32).parsestr(chunk.strip() + "\n")
        except Exception:  # noqa: BLE001, S112 - a garbled block says nothing
            continue
        groups.append({k.lower(): str(v) for k, v in block.items()})
    return groups


def _original_message_id(part: Message) -> str:
    """The Message-ID of the mail a bounce returns (message/rfc822 or rfc822-headers)."""
    content_type = part.get_content_type()
    try:
        if content_type == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message):
                found = addressing.message_ids_in(header(inner, "Message-ID"))
                return found[0] if found else ""
        text = _part_text(part)
        returned = HeaderParser(policy=policy.compat32).parsestr(text, headersonly=True)
        found = addressing.message_ids_in(str(returned.get("Message-ID", "")))
        return found[0] if found else ""
    except Exception:  # noqa: BLE001
        return ""


def _parse_bounce(msg: Message) -> Bounce:
    bounce = Bounce()
    for part in msg.walk():
        content_type = part.get_content_type()
        if content_type in ("message/delivery-status", "message/global-delivery-status"):
            for group in _dsn_fields(part):
                if "final-recipient" in group or "original-recipient" in group:
                    recipient = group.get("final-recipient") or group.get("original-recipient", "")
                    bounce.recipient = one_line(recipient.rpartition(";")[2], 254).lower()
                    bounce.status = one_line(group.get("status", ""), 20)
                    bounce.diagnostic = one_line(group.get("diagnostic-code", ""), 400)
                    break
        elif content_type in ("message/rfc822", "text/rfc822-headers") and not (
            bounce.original_message_id
        ):
            bounce.original_message_id = _original_message_id(part)
    return bounce


# --- the whole message -------------------------------------------------------------------


def _signals(msg: Message, mail: ParsedMail) -> None:
    """Auto-reply, bounce and loop marks (RFC 3834, RFC 3464 and common practice)."""
    auto = header(msg, "Auto-Submitted").strip().lower()
    precedence = header(msg, "Precedence").strip().lower()
    if auto and auto != "no":
        mail.auto_reply = f"Auto-Submitted: {one_line(auto, 40)}"
    elif msg.get("X-Autoreply") is not None or msg.get("X-Autorespond") is not None:
        mail.auto_reply = "X-Autoreply"
    elif precedence in AUTO_PRECEDENCE:
        mail.auto_reply = f"Precedence: {precedence}"
    try:
        report_type = (msg.get_param("report-type") or "") if msg.is_multipart() else ""
    except Exception:  # noqa: BLE001
        report_type = ""
    is_dsn = msg.get_content_type() == "multipart/report" and (
        str(report_type).lower() == "delivery-status"
    )
    if is_dsn or mail.from_address.startswith(BOUNCE_SENDERS):
        mail.is_bounce = True
        mail.bounce = _parse_bounce(msg)
    if msg.get(addressing.LOOP_HEADER) is not None:
        mail.loop = f"{addressing.LOOP_HEADER} header"
    mail.received_count = len(_raw_values(msg, "Received"))
    if mail.received_count > MAX_RECEIVED:
        mail.loop = f"{mail.received_count} Received headers"


def _bodies(msg: Message, mail: ParsedMail) -> None:
    texts: list[str] = []
    htmls: list[str] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        disposition = _disposition(part)
        filename = _filename(part)
        if content_type in ("message/delivery-status", "message/global-delivery-status"):
            texts.append(_part_text(part))
            continue
        is_body = disposition != "attachment" and not filename
        if is_body and content_type == "text/plain":
            texts.append(_part_text(part))
            continue
        if is_body and content_type == "text/html":
            htmls.append(_part_text(part))
            continue
        if content_type == "text/rfc822-headers" and mail.is_bounce:
            continue
        data = _part_bytes(part)
        content_id = one_line(str(part.get("Content-ID", "") or ""), 250).strip("<>")
        if not filename:
            extension = _EXTENSIONS.get(content_type, "bin")
            filename = f"{(content_id.partition('@')[0] or 'attachment')[:60]}.{extension}"
        mail.attachments.append(
            MailAttachment(
                filename=filename,
                content_type=one_line(content_type, 120),
                data=data,
                content_id=content_id,
                is_inline=disposition == "inline"
                or (bool(content_id) and disposition != "attachment"),
            )
        )
    mail.text = "\n\n".join(t.strip("\n") for t in texts if t.strip())
    raw_html = "\n".join(htmls)
    if raw_html:
        mail.html = sanitize_html(raw_html)
    if mail.text:
        mail.new_text, mail.quoted_text = split_quoted(mail.text)
    elif mail.html:
        new_html, quoted_html = split_html(mail.html)
        mail.text = html_to_text(mail.html)
        mail.new_text = html_to_text(new_html)
        mail.quoted_text = html_to_text(quoted_html)
        if not quoted_html:
            mail.new_text, mail.quoted_text = split_quoted(mail.text)


# A base64 body at least this large is set aside before parsing (see _parse_bytes).
BIG_BASE64 = 4096
_BASE64_CTE = re.compile(rb"(?im)^content-transfer-encoding:[ \t]*\"?base64\"?[ \t\r]*$")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_BASE64_RUN = re.compile(rb"(?:[A-Za-z0-9+/=]++\r?\n)++")


def _set_aside_base64(raw: bytes) -> tuple[bytes, dict[str, str]]:
    """The mail with each large base64 body replaced by one token line, and the bodies.

    The stdlib parser reads every body line by line (about 100 ms a megabyte of
    attachment, most of the parse time of the mail mix). A run of base64 lines is
    plain text to its state machine wherever it stands (no colon, no leading blank,
    no "--", never empty), exactly like one line of letters, so the structure parsed
    from the shortened bytes is the structure of the original; the runs go back into
    the payloads they landed in afterwards.
    """
    runs: list[tuple[int, int]] = []
    position = 0
    while True:
        cte = _BASE64_CTE.search(raw, position)
        if cte is None:
            break
        blank = _BLANK_LINE.search(raw, cte.end() - 1)
        if blank is None:
            break
        run = _BASE64_RUN.match(raw, blank.end())
        position = blank.end()
        if run is not None and run.end() - run.start() >= BIG_BASE64:
            runs.append((run.start(), run.end()))
            position = run.end()
    if not runs:
        return raw, {}
    stem = f"ATALAYA{hashlib.sha256(raw[:4096]).hexdigest()[:16]}Z"
    if stem.encode() in raw:
        return raw, {}
    pieces: list[bytes] = []
    bodies: dict[str, str] = {}
    last = 0
    for number, (start, end) in enumerate(runs):
        token = f"{stem}{number}Z"
        eol = b"\r\n" if raw[end - 2 : end] == b"\r\n" else b"\n"
        # The run's last line end stays in the bytes: the parser strips the one before a
        # boundary from the payload, and does so the same way after the token.
        bodies[token] = raw[start : end - len(eol)].decode("ascii")
        pieces += [raw[last:start], token.encode(), eol]
        last = end
    pieces.append(raw[last:])
    return b"".join(pieces), bodies


def _parse_bytes(raw: bytes) -> Message:
    """``message_from_bytes`` (compat32), with large base64 bodies read in one piece.

    Every token must come back in exactly one leaf payload; anything else (a token in a
    preamble, say) and the mail is parsed again the plain way.
    """
    shortened, bodies = _set_aside_base64(raw)
    msg = message_from_bytes(shortened, policy=policy.compat32)
    if not bodies:
        return msg
    restored = 0
    for part in msg.walk():
        payload = part._payload  # type: ignore[attr-defined]  # noqa: SLF001 - the text as parsed
        if not isinstance(payload, str) or "ATALAYA" not in payload:
            continue
        for token, body in bodies.items():
            count = payload.count(token)
            if count == 1:
                payload = payload.replace(token, body)
                restored += 1
            elif count:
                restored = -len(bodies)
        part._payload = payload  # type: ignore[attr-defined]  # noqa: SLF001
    if restored != len(bodies):
        return message_from_bytes(raw, policy=policy.compat32)
    return msg


def parse_message(raw: bytes) -> ParsedMail:
    """Decode one received mail; see the module's docstring for how broken input is read."""
    # compat32, not policy.default: the modern header classes re-parse a header on every
    # access, about 10 ms a mail, half the budget of the ingestion figure; compat32
    # never refuses a header, and the few values read are decoded explicitly above.
    msg = _parse_bytes(raw)
    ids = addressing.message_ids_in(header(msg, "Message-ID"))
    mail = ParsedMail(message_id=ids[0] if ids else synthetic_message_id(raw))
    mail.has_message_id = bool(ids)
    mail.in_reply_to = addressing.message_ids_in(" ".join(header_values(msg, "In-Reply-To")))
    mail.references = addressing.message_ids_in(" ".join(header_values(msg, "References")))
    mail.subject = one_line(header(msg, "Subject"), SUBJECT_LIMIT)
    sender = _addresses(msg, "From") or _addresses(msg, "Sender") or _addresses(msg, "Return-Path")
    if sender:
        mail.from_name, mail.from_address = sender[0]
    mail.to = [address for _name, address in _addresses(msg, "To")]
    mail.cc = [address for _name, address in _addresses(msg, "Cc")]
    mail.delivered_to = [address for _name, address in _addresses(msg, "Delivered-To")]
    mail.x_original_to = [address for _name, address in _addresses(msg, "X-Original-To")]
    date = header(msg, "Date")
    try:
        mail.date = parsedate_to_datetime(date) if date else None
        if mail.date is not None and mail.date.tzinfo is None:
            mail.date = None
    except Exception:  # noqa: BLE001
        mail.date = None
    mail.headers = [
        (one_line(str(name), 80), one_line(_decode_raw_header(value), 2000))
        for name, value in msg.items()[:200]
    ]
    mail.defects = [type(defect).__name__ for defect in getattr(msg, "defects", [])][:20]
    _signals(msg, mail)
    _bodies(msg, mail)
    return mail
