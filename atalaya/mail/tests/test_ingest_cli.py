"""``atalaya mail ingest``: the command an MTA pipes mail into, and its exit statuses."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from atalaya.mail.models import InboundMessage, Mailbox, Outcome
from atalaya.mail.tests import mails

ATALAYA = str(Path(sys.executable).with_name("atalaya"))


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def _run(monkeypatch: pytest.MonkeyPatch, raw: bytes, *args: str) -> str:
    monkeypatch.setattr(sys, "stdin", _Stdin(raw))
    out = io.StringIO()
    call_command("mail", "ingest", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


@pytest.fixture
def inbox(world: Any, settings: Any, tmp_path: Any) -> Mailbox:
    settings.MEDIA_ROOT = tmp_path
    return Mailbox.objects.create(address="support@atalaya.localhost")


def test_ingest_prints_what_happened(world: Any, inbox: Mailbox, monkeypatch: Any) -> None:
    printed = _run(monkeypatch, mails.build(subject="Need help"))
    assert printed.startswith("ticket #") and printed.endswith("(new)")
    reply = mails.build(subject=f"Re: [#{world.ticket_a.number}]")
    assert _run(monkeypatch, reply) == (
        f"ticket #{world.ticket_a.number}, matched by subject token [#{world.ticket_a.number}]"
    )


def test_ingest_json_is_one_object(world: Any, inbox: Mailbox, monkeypatch: Any) -> None:
    raw = mails.build(subject="json please")
    found = json.loads(_run(monkeypatch, raw, "--json", "--mailbox", "Support@atalaya.localhost"))
    assert found["outcome"] == "created" and found["is_new_ticket"] is True
    assert isinstance(found["ticket_number"], int) and found["is_duplicate"] is False
    assert InboundMessage.objects.get(pk=found["inbound_id"]).mailbox == inbox
    again = json.loads(_run(monkeypatch, raw, "--json"))
    assert again["is_duplicate"] is True and again["inbound_id"] == found["inbound_id"]


def test_a_dead_letter_still_exits_zero(
    world: Any, inbox: Mailbox, monkeypatch: Any, settings: Any
) -> None:
    settings.MAIL_MAX_BYTES = 100
    found = json.loads(_run(monkeypatch, mails.build(body="x" * 500), "--json"))
    assert found["outcome"] == Outcome.DEAD_LETTER and found["error"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh install on disk for the real command in a subprocess (migrated once)."""
    directory = tmp_path_factory.mktemp("ingest-cli")
    env = {
        **os.environ,
        "ATALAYA_DATA_DIR": str(directory),
        "ATALAYA_DATABASE_URL": f"sqlite:///{directory}/atalaya.sqlite3",
    }
    subprocess.run([ATALAYA, "migrate", "-v0"], env=env, check=True, timeout=300)
    return env


def test_the_real_command_in_a_subprocess(data_dir: dict[str, str]) -> None:
    raw = mails.build(sender="who@nowhere.example", subject="from the MTA")
    done = subprocess.run(
        [ATALAYA, "mail", "ingest", "--json"],
        input=raw,
        env=data_dir,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["outcome"] == "triage" and found["inbound_id"]
    garbage = subprocess.run(
        [ATALAYA, "mail", "ingest"], input=b"\x00\xff", env=data_dir, capture_output=True
    )
    assert garbage.returncode == 0, garbage.stderr


def test_exit_75_when_the_mail_cannot_be_stored(data_dir: dict[str, str]) -> None:
    env = {**data_dir, "ATALAYA_DATABASE_URL": "postgres://nobody@127.0.0.1:9/none"}
    done = subprocess.run(
        [ATALAYA, "mail", "ingest"],
        input=mails.build(),
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 75
    assert b"could not be stored" in done.stderr
