"""Sending over SMTP: the ``ATALAYA_SMTP_URL`` setting and one reusable connection.

``smtp://user:pass@host:587`` speaks plain SMTP and upgrades with STARTTLS whenever the
server offers it; ``?starttls=require`` refuses a server that does not offer it, and
``?starttls=false`` never upgrades (a relay on the same machine). ``smtps://…:465`` is
TLS from the first byte. ``?timeout=30`` sets the socket timeout in seconds. User and
password are URL-decoded, so ``p%40ss`` is ``p@ss``.

Certificates are always verified, against the system's store plus
``settings.MAIL_CA_FILE`` when set (a private CA, the tests' self-signed servers).
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
DEFAULT_TIMEOUT = 30.0
STARTTLS_MODES = {
    "": "auto",
    "auto": "auto",
    "true": "auto",
    "yes": "auto",
    "1": "auto",
    "require": "require",
    "required": "require",
    "false": "off",
    "no": "off",
    "0": "off",
    "off": "off",
}


class SmtpUrlError(ValueError):
    """``ATALAYA_SMTP_URL`` cannot be understood; the message says which part and why."""


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send, parsed from the URL (never shown: it holds the password)."""

    host: str
    port: int
    username: str = ""
    password: str = ""
    implicit_tls: bool = False
    # "auto": upgrade when offered; "require": refuse to send without it; "off": never.
    starttls: str = "auto"
    timeout: float = DEFAULT_TIMEOUT

    def __repr__(self) -> str:
        return f"SmtpConfig({self.safe_url()!r})"

    def safe_url(self) -> str:
        """The URL without the password, for logs and the outbox page."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpConfig:
    """The SmtpConfig of an ``smtp://`` or ``smtps://`` URL; SmtpUrlError if it is malformed."""
    url = (url or "").strip()
    if not url:
        raise SmtpUrlError("ATALAYA_SMTP_URL is empty")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise SmtpUrlError(
            f"ATALAYA_SMTP_URL must start with smtp:// or smtps://, not {scheme or 'nothing'}://"
        )
    try:
        host = parts.hostname
        port = parts.port
    except ValueError as error:  # a port that is not a number or out of range
        raise SmtpUrlError(f"ATALAYA_SMTP_URL has a bad port: {error}") from None
    if not host:
        raise SmtpUrlError("ATALAYA_SMTP_URL names no host")
    if parts.path not in ("", "/"):
        raise SmtpUrlError("ATALAYA_SMTP_URL takes no path after the host and port")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"starttls", "timeout"}
    if unknown:
        raise SmtpUrlError(
            f"ATALAYA_SMTP_URL has unknown options: {', '.join(sorted(unknown))} "
            "(known: starttls, timeout)"
        )
    starttls_value = query.get("starttls", [""])[-1].strip().lower()
    if starttls_value not in STARTTLS_MODES:
        raise SmtpUrlError(
            f"ATALAYA_SMTP_URL: starttls must be require or false, not {starttls_value!r}"
        )
    starttls = STARTTLS_MODES[starttls_value]
    if scheme == "smtps" and "starttls" in query:
        raise SmtpUrlError("ATALAYA_SMTP_URL: smtps:// is TLS already; starttls does not apply")
    timeout = DEFAULT_TIMEOUT
    if "timeout" in query:
        try:
            timeout = float(query["timeout"][-1])
        except ValueError:
            timeout = -1
        if not 0 < timeout <= 3600:
            raise SmtpUrlError("ATALAYA_SMTP_URL: timeout must be a number of seconds up to 3600")
    username = unquote(parts.username or "")
    password = unquote(parts.password or "")
    if password and not username:
        raise SmtpUrlError("ATALAYA_SMTP_URL has a password but no user")
    return SmtpConfig(
        host=host,
        port=port or DEFAULT_PORTS[scheme],
        username=username,
        password=password,
        implicit_tls=scheme == "smtps",
        starttls="off" if scheme == "smtps" else starttls,
        timeout=timeout,
    )


def configured() -> SmtpConfig | None:
    """The settings' SMTP server, or None when ATALAYA_SMTP_URL is empty (nothing is sent)."""
    if not (settings.SMTP_URL or "").strip():
        return None
    return parse_smtp_url(settings.SMTP_URL)


def tls_context() -> ssl.SSLContext:
    """Verifying TLS: the system's CAs plus ``MAIL_CA_FILE``; hostnames are checked."""
    context = ssl.create_default_context()
    if settings.MAIL_CA_FILE:
        context.load_verify_locations(cafile=settings.MAIL_CA_FILE)
    return context


class SendError(Exception):
    """One message was not accepted: ``permanent`` for a 5xx answer, else try again later.

    ``connection`` says the failure was the server or the network rather than this
    message, so the rest of the batch should wait too.
    """

    def __init__(
        self,
        text: str,
        *,
        code: int | None = None,
        permanent: bool = False,
        connection: bool = False,
    ) -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.permanent = permanent
        self.connection = connection


def _answer(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}"[:1000]


class SmtpConnection:
    """One SMTP session reused for many messages, opened on first use and reopened
    when the server or the network drops it.

    Use as a context manager; ``send`` raises SendError and never anything else.
    """

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None
        self.connects = 0

    def __enter__(self) -> SmtpConnection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def open(self) -> None:
        """Connect, say EHLO, upgrade to TLS as configured and log in."""
        self.close()
        config = self.config
        smtp: smtplib.SMTP
        try:
            if config.implicit_tls:
                smtp = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=config.timeout, context=tls_context()
                )
            else:
                smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        except (OSError, smtplib.SMTPException) as error:
            raise SendError(
                f"cannot connect to {config.safe_url()}: {error}", connection=True
            ) from None
        try:
            smtp.ehlo()
            if not config.implicit_tls and config.starttls != "off":
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=tls_context())
                    smtp.ehlo()
                elif config.starttls == "require":
                    raise SendError(
                        f"{config.safe_url()} does not offer STARTTLS (starttls=require)",
                        connection=True,
                    )
            if config.username:
                smtp.login(config.username, config.password)
        except SendError:
            _quietly_close(smtp)
            raise
        except smtplib.SMTPAuthenticationError as error:
            _quietly_close(smtp)
            raise SendError(
                f"{config.safe_url()} refused the login: "
                + _answer(error.smtp_code, error.smtp_error),
                code=error.smtp_code,
                connection=True,
            ) from None
        except (OSError, smtplib.SMTPException) as error:
            _quietly_close(smtp)
            raise SendError(f"{config.safe_url()}: {error}", connection=True) from None
        self._smtp = smtp
        self.connects += 1

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                _quietly_close(self._smtp)
            self._smtp = None

    def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Hand one message for one recipient to the server.

        A connection that was dropped since the last message is reopened and the
        message tried once more; a second failure is a SendError for the caller.
        """
        for attempt in (1, 2):
            if self._smtp is None:
                self.open()
            assert self._smtp is not None
            try:
                self._smtp.sendmail(sender, [recipient], message)
                return
            except smtplib.SMTPRecipientsRefused as error:
                code, text = error.recipients.get(recipient, (451, b"recipient refused"))
                raise SendError(_answer(code, text), code=code, permanent=code >= 500) from None
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
                code = error.smtp_code
                raise SendError(
                    _answer(code, error.smtp_error), code=code, permanent=code >= 500
                ) from None
            except (smtplib.SMTPServerDisconnected, OSError) as error:
                _quietly_close(self._smtp)
                self._smtp = None
                if attempt == 2:
                    raise SendError(f"connection lost: {error}", connection=True) from None
            except smtplib.SMTPResponseException as error:
                code = error.smtp_code
                self._reset()
                raise SendError(
                    _answer(code, error.smtp_error), code=code, permanent=code >= 500
                ) from None
            except smtplib.SMTPException as error:
                self._reset()
                raise SendError(str(error)) from None

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            _quietly_close(self._smtp)
            self._smtp = None


def _quietly_close(smtp: smtplib.SMTP | None) -> None:
    if smtp is None:
        return
    with contextlib.suppress(OSError):
        smtp.close()
