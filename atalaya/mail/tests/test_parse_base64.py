"""Large base64 bodies are set aside before the stdlib parser reads the mail
(parse._parse_bytes): the result must be exactly what the plain parse gives.

The reference is the same ``parse_message`` with the threshold out of reach, so every
mail goes through ``message_from_bytes`` whole; real mails with files, their LF
variants, nested messages and mails mutated byte by byte (in the base64, the
boundaries, the headers) must decode to equal ``ParsedMail`` values.
"""

from __future__ import annotations

import base64
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atalaya.mail import parse
from atalaya.mail.tests import corpus, mails

BLOB = random.Random(7).randbytes(30_000)
SEEDS = [
    mails.build(
        msg_id="<b64-1@alfa.example>",
        html="<p>Hola</p>",
        attachments=[("a.pdf", "application/pdf", BLOB), ("b.png", "image/png", BLOB[:9000])],
    ),
    mails.build(msg_id="<b64-2@alfa.example>", attachments=[("c.bin", "text/plain", BLOB)]),
    # A whole single-part mail in base64, its last line without a line end.
    (
        b"From: a@alfa.example\r\nMessage-ID: <b64-3@alfa.example>\r\n"
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(BLOB).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    ),
    # A forwarded mail (message/rfc822) carrying the file, and a base64 body with
    # text after it in the same part.
    (
        b"From: a@alfa.example\r\nMessage-ID: <b64-4@alfa.example>\r\n"
        b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\npreamble\r\n--XX\r\n'
        b"Content-Type: text/plain\r\n\r\nsee below\r\n--XX\r\n"
        b"Content-Type: message/rfc822\r\n\r\n"
        + mails.build(
            msg_id="<inner@alfa.example>", attachments=[("d.pdf", "application/pdf", BLOB)]
        )
        + b"\r\n--XX\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(BLOB).replace(b"\n", b"\r\n")
        + b"not base64 at all\r\n--XX--\r\nepilogue\r\n"
    ),
]


def _plain(raw: bytes, monkeypatch: Any) -> parse.ParsedMail:
    with monkeypatch.context() as patch:
        patch.setattr(parse, "BIG_BASE64", 1 << 62)
        return parse.parse_message(raw)


def test_set_aside_bodies_are_found() -> None:
    for raw in SEEDS:
        _shortened, bodies = parse._set_aside_base64(raw)
        assert bodies, raw[:80]


@pytest.mark.parametrize("index", range(len(SEEDS)))
@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
def test_same_result_as_the_plain_parse(index: int, newline: bytes, monkeypatch: Any) -> None:
    raw = SEEDS[index].replace(b"\r\n", newline)
    fast = parse.parse_message(raw)
    assert fast == _plain(raw, monkeypatch)
    assert fast.attachments


def test_corpus_mails_with_files_parse_the_same(monkeypatch: Any) -> None:
    senders = [(f"Persona {i}", f"p{i}@cliente{i % 3}.example", "es") for i in range(12)]
    new = corpus.new_mail_corpus(senders, count=40, seed=3, attachment_share=0.6)
    with_files = [m.raw for m in new if m.attachment_bytes]
    assert len(with_files) >= 10
    for raw in with_files:
        assert parse.parse_message(raw) == _plain(raw, monkeypatch)


@st.composite
def mutated(draw: Any) -> bytes:
    """A seed with a few bytes replaced, inserted or cut, anywhere (base64 included)."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    alphabet = st.sampled_from([b"\r", b"\n", b"-", b"=", b":", b" ", b"A", b"\r\n", b"--XX"])
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        position = draw(st.integers(min_value=0, max_value=len(data) - 1))
        chunk = draw(st.one_of(alphabet, st.binary(min_size=1, max_size=6)))
        action = draw(st.sampled_from(["replace", "insert", "cut"]))
        if action == "replace":
            data[position : position + len(chunk)] = chunk
        elif action == "insert":
            data[position:position] = chunk
        else:
            del data[position : position + len(chunk)]
    return bytes(data)


@settings(max_examples=150, deadline=None)
@given(raw=mutated())
def test_mutated_mails_parse_the_same(raw: bytes) -> None:
    fast = parse.parse_message(raw)
    saved = parse.BIG_BASE64
    parse.BIG_BASE64 = 1 << 62
    try:
        plain = parse.parse_message(raw)
    finally:
        parse.BIG_BASE64 = saved
    assert fast == plain
