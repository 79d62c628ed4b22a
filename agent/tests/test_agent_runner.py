"""Check-ins over real HTTP against a protocol stub on 127.0.0.1: batches, 4xx, 5xx, 401.

The stub speaks PROTOCOL.md's check-in (it is not the Atalaya server, whose own test
runs the agent against the real one: atalaya/monitoring/tests/test_agent_e2e.py); it
lets these tests answer 422, 503 or 401 on purpose.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
from atalaya_agent.config import NotEnrolledError, State
from atalaya_agent.runner import Agent
from atalaya_agent.transport import Backoff, Rejected, Unreachable

from .conftest import Signer


class Stub:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, Any], dict[str, str]]] = []
        self.config: dict[str, Any] | None = None
        self.inventory_hash = ""
        self.actions: list[dict[str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body["_auth"] = self.headers.get("Authorization")
                stub.requests.append(body)
                if body.get("inventory"):
                    stub.inventory_hash = body["inventory"]["hash"]
                # As the protocol says: an action is re-sent until its result arrives.
                reported = {r["action_id"] for r in body.get("results") or []}
                stub.actions = [
                    a for a in stub.actions if json.loads(a["payload"])["id"] not in reported
                ]
                if stub.answers:
                    status, answer, headers = stub.answers.pop(0)
                else:
                    status, headers = 200, {}
                    answer = {
                        "server_time": body["sent_at"],
                        "accepted": len(body["samples"]),
                        "duplicates": 0,
                        "inventory_hash": stub.inventory_hash,
                        "next_checkin_s": 60,
                        "config": stub.config,
                        "actions": stub.actions,
                    }
                raw = json.dumps(answer).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    s = Stub()
    yield s
    s.close()


def agent_for(state_dir: Path, url: str) -> Agent:
    state = State.load(state_dir)
    state.server = url
    state.save()
    return Agent(state_dir)


def fill(agent: Agent, count: int, start: int = 1_000_000) -> None:
    for i in range(count):
        agent.spool.add_sample({"t": start + 60 * i, "cpu_pct": float(i), "volumes": []})


def test_spool_replays_oldest_first_in_batches_of_500(enrolled_dir: Path, stub: Stub) -> None:
    agent = agent_for(enrolled_dir, stub.url)
    fill(agent, 1200)
    agent.collect()
    agent.spool.add_job("nightly-backup", ok=True, message="3 GB", t=1_000_000)
    assert agent.sync() == []
    sizes = [len(r["samples"]) for r in stub.requests]
    assert sizes == [500, 500, 201]
    sent = [s["t"] for r in stub.requests for s in r["samples"]]
    assert sent == sorted(sent) and len(set(sent)) == 1201
    # The snapshot rides with the newest batch only; the inventory goes until answered.
    assert ["state" in r for r in stub.requests] == [False, False, True]
    assert ["inventory" in r for r in stub.requests] == [True, False, False]
    assert stub.requests[0]["jobs"] == [
        {"name": "nightly-backup", "t": 1_000_000, "ok": True, "message": "3 GB"}
    ]
    assert all(r["_auth"] == "Bearer atd_test" for r in stub.requests)
    assert stub.requests[0]["config_version"] == 1 and stub.requests[0]["scripts_enabled"] is False
    assert agent.spool.counts()["sample"] == 0 and agent.spool.counts()["job"] == 0
    agent.close()


def test_unreachable_and_busy_keep_everything(enrolled_dir: Path, stub: Stub) -> None:
    agent = agent_for(enrolled_dir, "http://127.0.0.1:9")  # the discard port: refused
    agent.collect()
    with pytest.raises(Unreachable):
        agent.sync()
    assert agent.spool.sample_count() == 1
    agent.close()
    agent = agent_for(enrolled_dir, stub.url)
    stub.answers.append((503, {"detail": "busy"}, {"Retry-After": "7"}))
    with pytest.raises(Unreachable) as exc:
        agent.sync()
    assert exc.value.retry_after == 7 and exc.value.status == 503
    assert agent.spool.sample_count() == 1
    agent.sync()
    assert agent.spool.sample_count() == 0
    agent.close()


def test_a_batch_rejected_three_times_is_dropped_alone(enrolled_dir: Path, stub: Stub) -> None:
    agent = agent_for(enrolled_dir, stub.url)
    fill(agent, 600)
    for _ in range(3):
        stub.answers.append(
            (422, {"detail": "invalid", "errors": [{"field": "samples.0.t", "message": "bad"}]}, {})
        )
    for _ in range(2):
        with pytest.raises(Rejected, match="samples.0.t: bad"):
            agent.sync()
        assert agent.spool.sample_count() == 600
    agent.sync()
    # The offending 500 are gone (after a loud log line); the other 100 went through.
    assert agent.spool.sample_count() == 0
    delivered = stub.requests[-1]["samples"]
    assert [s["t"] for s in delivered] == [1_000_000 + 60 * i for i in range(500, 600)]
    agent.close()


def test_401_means_enroll_again(enrolled_dir: Path, stub: Stub) -> None:
    agent = agent_for(enrolled_dir, stub.url)
    agent.collect()
    stub.answers.append((401, {"detail": "device retired"}, {}))
    with pytest.raises(NotEnrolledError, match="device retired"):
        agent.sync()
    assert agent.spool.sample_count() == 1
    agent.close()


def test_server_config_is_stored_and_followed(enrolled_dir: Path, stub: Stub) -> None:
    agent = agent_for(enrolled_dir, stub.url)
    stub.config = {
        "version": 2,
        "checkin_interval_s": 120,
        "services": ["cron"],
        # This test's own process, by whatever name it runs under.
        "processes": [psutil.Process().name()],
    }
    agent.collect()
    agent.sync()
    assert State.load(enrolled_dir).server_config["version"] == 2
    stub.config = None
    agent.collect()
    agent.sync()
    last = stub.requests[-1]
    assert last["config_version"] == 2
    assert last["state"]["processes"][psutil.Process().name()] >= 1
    assert "cron" in last["state"]["services"]
    assert agent.interval == 60  # next_checkin_s of the answer
    agent.close()


def test_actions_in_the_answer_run_and_are_reported_at_once(
    enrolled_dir: Path, stub: Stub, signer: Signer, tmp_path: Path
) -> None:
    (enrolled_dir / "agent.conf").write_text(
        f"[agent]\nallow_scripts = true\nreboot_command = touch {tmp_path / 'rebooted'}\n"
    )
    agent = agent_for(enrolled_dir, stub.url)
    script_payload = signer.script_payload("echo hello $1", args=["world"])
    script = signer.envelope(script_payload)
    reboot = signer.envelope(signer.payload("reboot"))
    stub.actions = [script, reboot]
    agent.collect()
    agent.cycle()
    # The follow-up check-in carried both results; the reboot came after reporting it.
    results = {r["action_id"]: r for r in stub.requests[-1]["results"]}
    assert results[script_payload["id"]]["output"] == "hello world\n"
    assert {r["status"] for r in results.values()} == {"succeeded"}
    assert len(stub.requests[-1]["results"]) == 2
    assert (tmp_path / "rebooted").exists()
    assert agent.spool.counts()["result"] == 0
    log = agent.spool.action_log()
    assert {entry["kind"] for entry in log} == {"run_script", "reboot"}
    agent.close()


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(base=1, cap=8)
    delays = [backoff.next_delay() for _ in range(8)]
    assert all(0.5 <= d <= 1 for d in delays[:1])
    assert all(4 <= d <= 8 for d in delays[4:])
    assert backoff.next_delay(retry_after=30) == 8  # Retry-After, but never past the cap
    backoff.reset()
    assert backoff.next_delay() <= 1


def cli(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atalaya_agent.cli", *args, "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )


def test_cli_once_unreachable_keeps_the_sample_and_report_job(enrolled_dir: Path) -> None:
    done = cli(enrolled_dir, "run", "--once")
    assert done.returncode == 2, done.stderr
    assert "check-in failed" in done.stderr
    done = cli(enrolled_dir, "report-job", "nightly-backup", "--fail", "--message", "disk full")
    assert done.returncode == 0, done.stderr
    status = json.loads(cli(enrolled_dir, "status").stdout)
    assert status["spool"]["sample"] == 1 and status["spool"]["job"] == 1
    assert status["device_id"] == State.load(enrolled_dir).device_id
    assert status["last_error"]
    # Not enrolled: a clear message and exit code 1, no traceback.
    empty = enrolled_dir.parent / "empty"
    done = cli(empty, "run", "--once")
    assert done.returncode == 1 and "not enrolled" in done.stderr and "Traceback" not in done.stderr
