"""A real SMTP server on 127.0.0.1 for the mail tests (aiosmtpd), in three variants.

* ``smtp_server``: plain SMTP, no login (a local relay);
* ``smtp_tls_server``: STARTTLS required with a self-signed certificate made by the
  ``openssl`` command, and AUTH PLAIN / LOGIN required for ``SMTP_USER``;
* ``smtps_server``: TLS from the first byte (port 465 style), with the same login.

Each records every message it accepts (``server.messages``) and can be told to answer
a recipient or the next messages with a 4xx or 5xx (``reject``, ``fail_next``). The TLS
fixtures point settings.MAIL_CA_FILE at the certificate, so verification stays on.
Register in a conftest with ``from atalaya.mail.tests.smtp_server import *``.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import subprocess
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = [
    "SMTP_PASSWORD",
    "SMTP_USER",
    "SmtpServer",
    "smtp_certificate",
    "smtp_server",
    "smtp_tls_server",
    "smtps_server",
    "start_smtp_server",
]

SMTP_USER = "atalaya@relay.test"
# Characters that must be URL-encoded in ATALAYA_SMTP_URL, on purpose.
SMTP_PASSWORD = "s3cr:t/p@ss"


@dataclass
class Received:
    """One accepted message, as the server saw it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str = ""

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class Recorder:
    """The aiosmtpd handler: records messages, answers as it is told."""

    messages: list[Received] = field(default_factory=list)
    rcpt_answers: dict[str, str] = field(default_factory=dict)
    data_answers: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        answer = self.rcpt_answers.get(address.lower())
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.data_answers:
                return self.data_answers.pop(0)
            login = session.auth_data if session.authenticated else b""
            self.messages.append(
                Received(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    data=bytes(envelope.original_content or envelope.content),
                    login=login.decode() if isinstance(login, bytes) else str(login or ""),
                )
            )
        return "250 2.0.0 Message accepted for delivery"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    if mechanism not in ("PLAIN", "LOGIN") or not isinstance(data, LoginPassword):
        return AuthResult(success=False, handled=False)
    ok = data.login.decode() == SMTP_USER and data.password.decode() == SMTP_PASSWORD
    return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)


class SmtpServer:
    """A running server; ``url`` is what ATALAYA_SMTP_URL should say to reach it."""

    def __init__(self, controller: Controller, handler: Recorder, url: str) -> None:
        self.controller = controller
        self.handler = handler
        self.url = url
        self.host = controller.hostname
        self.port = controller.port

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)

    def reject(self, address: str, answer: str = "550 5.1.1 No such user here") -> None:
        """Answer RCPT TO for ``address`` with ``answer`` (a 4xx or 5xx line)."""
        self.handler.rcpt_answers[address.lower()] = answer

    def fail_next(self, answer: str = "451 4.3.0 Try again later", times: int = 1) -> None:
        """Answer the next ``times`` messages' DATA with ``answer`` instead of accepting."""
        with self.handler.lock:
            self.handler.data_answers.extend([answer] * times)

    def reset(self) -> None:
        with self.handler.lock:
            self.handler.messages.clear()
            self.handler.data_answers.clear()
        self.handler.rcpt_answers.clear()

    def stop(self) -> None:
        self.controller.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_smtp_server(
    *, scheme: str = "smtp", query: str = "", login: bool = False, **smtp_kwargs: Any
) -> SmtpServer:
    """Start a server on a free port of 127.0.0.1 (the caller stops it)."""
    handler = Recorder()
    port = _free_port()
    if login:
        smtp_kwargs.setdefault("auth_required", True)
        smtp_kwargs["authenticator"] = _authenticate
    with warnings.catch_warnings():
        # "AUTH without TLS": said of the implicit-TLS server, which aiosmtpd cannot tell.
        warnings.simplefilter("ignore", UserWarning)
        controller = Controller(handler, hostname="127.0.0.1", port=port, **smtp_kwargs)
        controller.start()
    credentials = f"{quote(SMTP_USER, safe='')}:{quote(SMTP_PASSWORD, safe='')}@" if login else ""
    url = f"{scheme}://{credentials}127.0.0.1:{port}{query}"
    return SmtpServer(controller, handler, url)


@pytest.fixture(scope="session")
def smtp_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (certificate, key)."""
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    return context


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """Plain SMTP without login, like a relay on the same machine."""
    server = start_smtp_server(query="?starttls=false")
    yield server
    server.stop()


@pytest.fixture
def smtp_tls_server(smtp_certificate: tuple[Path, Path], settings: Any) -> Iterator[SmtpServer]:
    """STARTTLS (required by the server) with AUTH PLAIN/LOGIN for SMTP_USER."""
    settings.MAIL_CA_FILE = str(smtp_certificate[0])
    server = start_smtp_server(
        login=True,
        tls_context=_server_context(smtp_certificate),
        require_starttls=True,
        query="?starttls=require",
    )
    yield server
    server.stop()


@pytest.fixture
def smtps_server(smtp_certificate: tuple[Path, Path], settings: Any) -> Iterator[SmtpServer]:
    """Implicit TLS (smtps://) with AUTH PLAIN/LOGIN for SMTP_USER."""
    settings.MAIL_CA_FILE = str(smtp_certificate[0])
    server = start_smtp_server(
        scheme="smtps",
        login=True,
        ssl_context=_server_context(smtp_certificate),
        # aiosmtpd does not see that an implicit-TLS socket is encrypted.
        auth_require_tls=False,
    )
    yield server
    server.stop()
