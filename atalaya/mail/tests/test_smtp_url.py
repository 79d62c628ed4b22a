"""ATALAYA_SMTP_URL: parsing, and sending over each kind of real server."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import pytest

from atalaya.mail import smtp
from atalaya.mail.tests.smtp_server import (
    SMTP_PASSWORD,
    SMTP_USER,
    SmtpServer,
    start_smtp_server,
)

MESSAGE = b"Subject: hi\r\nMessage-ID: <probe@atalaya.test>\r\n\r\nbody\r\n"


def test_submission_url_with_encoded_credentials() -> None:
    config = smtp.parse_smtp_url("smtp://us%40er:p%3Ass%2Fw%40rd@mail.example.com:587")
    assert config.host == "mail.example.com"
    assert config.port == 587
    assert (config.username, config.password) == ("us@er", "p:ss/w@rd")
    assert not config.implicit_tls
    assert config.starttls == "auto"
    assert "p:ss" not in repr(config) and "w@rd" not in config.safe_url()


def test_smtps_is_implicit_tls_on_465_by_default() -> None:
    config = smtp.parse_smtp_url("smtps://user:pw@mail.example.com")
    assert (config.port, config.implicit_tls, config.starttls) == (465, True, "off")


@pytest.mark.parametrize(
    ("query", "mode"),
    [("", "auto"), ("?starttls=require", "require"), ("?starttls=false", "off")],
)
def test_starttls_modes(query: str, mode: str) -> None:
    assert smtp.parse_smtp_url(f"smtp://relay.local{query}").starttls == mode


def test_defaults_and_timeout() -> None:
    config = smtp.parse_smtp_url("smtp://relay.local?timeout=2.5")
    assert (config.port, config.timeout, config.username) == (25, 2.5, "")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "empty"),
        ("http://mail.example.com", "smtp:// or smtps://"),
        ("mail.example.com:25", "smtp:// or smtps://"),
        ("smtp://", "no host"),
        ("smtp://host:99999", "port"),
        ("smtp://host:abc", "port"),
        ("smtp://host/path", "path"),
        ("smtp://host?starttls=maybe", "starttls"),
        ("smtp://host?timeout=soon", "timeout"),
        ("smtp://host?tls=1", "unknown options"),
        ("smtps://host?starttls=require", "TLS already"),
        ("smtp://:secret@host", "password but no user"),
    ],
)
def test_malformed_urls_get_a_clear_error(url: str, says: str) -> None:
    with pytest.raises(smtp.SmtpUrlError, match=says):
        smtp.parse_smtp_url(url)


def _send_one(server: SmtpServer) -> None:
    with smtp.SmtpConnection(smtp.parse_smtp_url(server.url)) as connection:
        connection.send("support@atalaya.test", "ana@alfa.example", MESSAGE)


def test_plain_relay(smtp_server: SmtpServer) -> None:
    _send_one(smtp_server)
    (received,) = smtp_server.messages
    assert received.rcpt_tos == ["ana@alfa.example"]
    assert received.message_id == "<probe@atalaya.test>"


def test_starttls_with_login(smtp_tls_server: SmtpServer) -> None:
    assert "starttls=require" in smtp_tls_server.url
    _send_one(smtp_tls_server)
    (received,) = smtp_tls_server.messages
    assert received.login == SMTP_USER


def test_starttls_when_offered_without_being_asked(smtp_tls_server: SmtpServer) -> None:
    # The server refuses mail before STARTTLS, so this passes only if we upgraded.
    smtp_tls_server.url = smtp_tls_server.url.replace("?starttls=require", "")
    _send_one(smtp_tls_server)
    assert len(smtp_tls_server.messages) == 1


def test_smtps_with_login(smtps_server: SmtpServer) -> None:
    assert smtps_server.url.startswith("smtps://")
    _send_one(smtps_server)
    assert smtps_server.messages[0].login == SMTP_USER


def test_certificate_is_verified(smtp_tls_server: SmtpServer, settings: Any) -> None:
    settings.MAIL_CA_FILE = ""  # the self-signed certificate is no longer trusted
    with pytest.raises(smtp.SendError, match="CERTIFICATE_VERIFY_FAILED|certificate") as caught:
        _send_one(smtp_tls_server)
    assert caught.value.connection
    assert smtp_tls_server.messages == []


def test_wrong_password_is_a_connection_error(smtp_tls_server: SmtpServer) -> None:
    smtp_tls_server.url = smtp_tls_server.url.replace(quote(SMTP_PASSWORD, safe=""), "wrong")
    with pytest.raises(smtp.SendError, match="refused the login") as caught:
        _send_one(smtp_tls_server)
    assert caught.value.connection and "wrong" not in str(caught.value)


def test_require_starttls_refuses_a_server_without_it(smtp_server: SmtpServer) -> None:
    smtp_server.url = smtp_server.url.replace("?starttls=false", "?starttls=require")
    with pytest.raises(smtp.SendError, match="does not offer STARTTLS"):
        _send_one(smtp_server)
    assert smtp_server.messages == []


def test_one_connection_for_many_messages_and_a_reconnect() -> None:
    # A server that hangs up on idle clients after 0.3 s.
    server = start_smtp_server(query="?starttls=false", timeout=0.3)
    try:
        with smtp.SmtpConnection(smtp.parse_smtp_url(server.url)) as connection:
            for _ in range(5):
                connection.send("support@atalaya.test", "ana@alfa.example", MESSAGE)
            assert connection.connects == 1
            time.sleep(0.8)
            connection.send("support@atalaya.test", "ana@alfa.example", MESSAGE)
            assert connection.connects == 2
        assert len(server.messages) == 6
    finally:
        server.stop()


def test_unreachable_server(settings: Any) -> None:
    from atalaya.mail.tests.smtp_server import _free_port

    config = smtp.parse_smtp_url(f"smtp://127.0.0.1:{_free_port()}?timeout=2")
    with pytest.raises(smtp.SendError, match="cannot connect") as caught:
        smtp.SmtpConnection(config).open()
    assert caught.value.connection
