"""Property test: whatever bytes arrive, ingest stores them and never raises.

Arbitrary bytes and real messages mutated byte by byte go through ``ingest`` (not just
the parser): the outcome may be anything, a dead letter included, but every call
returns a result with a ledger row whose raw file holds exactly the bytes given.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atalaya.mail.inbound import ingest
from atalaya.mail.models import InboundMessage, Mailbox
from atalaya.mail.parse import parse_message
from atalaya.mail.tests import mails

SEEDS = [
    mails.build(msg_id="<seed1@alfa.example>"),
    mails.build(
        msg_id="<seed2@alfa.example>",
        subject="Re: [#1001] adjunto",
        html="<p>Hola<script>x()</script></p><blockquote type='cite'>old</blockquote>",
        attachments=[("a.pdf", "application/pdf", b"%PDF-1.4 tiny")],
    ),
    mails.bounce(recipient="ana@alfa.example", original_id="orig@atalaya.localhost"),
    (
        b"From: =?iso-2022-jp?b?GyRCRnxLXBsoQg==?= <j@alfa.example>\r\n"
        b"Subject: =?windows-1252?q?caf=E9?=\r\nMessage-ID: <seed4@alfa.example>\r\n"
        b"Content-Type: text/plain; charset=x-unknown\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nA=F1o =\r\n\r\n"
    ),
]


@st.composite
def mutated(draw: Any) -> bytes:
    """A real message with a few bytes replaced, inserted or cut."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        position = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        action = draw(st.sampled_from(["replace", "insert", "cut"]))
        chunk = draw(st.binary(min_size=1, max_size=8))
        if action == "replace":
            data[position : position + len(chunk)] = chunk
        elif action == "insert":
            data[position:position] = chunk
        else:
            del data[position : position + len(chunk)]
    return bytes(data)


def _header_soup() -> st.SearchStrategy[bytes]:
    names = st.sampled_from(
        [b"From", b"To", b"Cc", b"Subject", b"Message-ID", b"In-Reply-To", b"References",
         b"Content-Type", b"Content-Transfer-Encoding", b"Auto-Submitted", b"Received"]
    )  # fmt: skip
    line = st.tuples(names, st.binary(max_size=60)).map(lambda p: p[0] + b": " + p[1] + b"\r\n")
    return st.tuples(st.lists(line, max_size=12), st.binary(max_size=200)).map(
        lambda p: b"".join(p[0]) + b"\r\n" + p[1]
    )


ANY_MAIL = st.one_of(st.binary(max_size=2000), mutated(), _header_soup())


@pytest.mark.django_db
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=ANY_MAIL)
def test_ingest_never_raises_past_the_dead_letter_path(
    raw: bytes, world: Any, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    Mailbox.objects.get_or_create(address="support@atalaya.localhost")
    result = ingest(raw)
    assert result.inbound_id is not None and result.outcome
    row = InboundMessage.objects.get(pk=result.inbound_id)
    if not result.is_duplicate:
        with row.raw.open("rb") as handle:
            assert handle.read() == raw
    assert "\n" not in row.subject and "\r" not in row.subject


@settings(max_examples=200, deadline=None)
@given(raw=ANY_MAIL)
def test_the_parser_itself_never_raises(raw: bytes) -> None:
    mail = parse_message(raw)
    assert mail.message_id
    assert "\n" not in mail.subject and "\n" not in mail.from_name
