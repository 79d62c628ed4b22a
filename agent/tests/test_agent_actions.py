"""Signed actions: every refusal the protocol names, and scripts run as real processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from atalaya_agent import actions
from atalaya_agent.config import LocalConfig
from atalaya_agent.spool import Spool

from .conftest import DEVICE_ID, Signer


def decide(signer: Signer, spool: Spool, envelope: dict, **conf: bool) -> actions.Decision:
    decision = actions.decide(
        envelope,
        public_key=signer.public_b64,
        device_id=DEVICE_ID,
        config=LocalConfig(**conf),
        spool=spool,
    )
    assert decision is not None
    return decision


def reason(decision: actions.Decision) -> str:
    assert decision.result is not None, "expected a refusal"
    assert decision.result["status"] == "refused"
    assert decision.result["action_id"] == decision.action_id
    return decision.result["reason"]


def test_a_signed_reboot_for_this_device_is_accepted(signer: Signer, spool: Spool) -> None:
    payload = signer.payload("reboot")
    decision = decide(signer, spool, signer.envelope(payload))
    assert decision.result is None and decision.payload == payload


def test_replayed_nonce_is_refused(signer: Signer, spool: Spool) -> None:
    envelope = signer.envelope(signer.payload("reboot"))
    assert decide(signer, spool, envelope).result is None
    assert reason(decide(signer, spool, envelope)) == "replayed (nonce seen before)"
    # Another action reusing the nonce is a replay too, across a reopened spool.
    other = signer.payload("reboot", nonce=__import__("json").loads(envelope["payload"])["nonce"])
    reopened = Spool(spool.path)
    assert "replayed" in reason(decide(signer, reopened, signer.envelope(other)))
    reopened.close()


def test_an_action_whose_result_waits_in_the_spool_is_skipped(signer: Signer, spool: Spool) -> None:
    # The server re-sends an action until it hears the result: not a replay yet.
    payload = signer.payload("reboot")
    envelope = signer.envelope(payload)
    decide(signer, spool, envelope)
    spool.add_result(actions.reboot_result(payload), kind="reboot")
    assert decide(signer, spool, envelope).skip


def test_expired_is_refused(signer: Signer, spool: Spool) -> None:
    payload = signer.payload("reboot", expires_at=int(time.time()) - 1)
    assert reason(decide(signer, spool, signer.envelope(payload))) == "expired"


def test_bad_signature_is_refused(signer: Signer, spool: Spool) -> None:
    other = Signer()
    forged = other.envelope(signer.payload("reboot"))
    assert reason(decide(signer, spool, forged)) == "bad signature"
    # One changed byte of a genuine envelope.
    genuine = signer.envelope(signer.payload("reboot", args=[]))
    tampered = dict(
        genuine, payload=genuine["payload"].replace('"kind":"reboot"', '"kind":"reboo"')
    )
    assert reason(decide(signer, spool, tampered)) == "bad signature"
    garbage = dict(genuine, signature="not base64!")
    assert reason(decide(signer, spool, garbage)) == "bad signature"
    unsigned = {"payload": genuine["payload"]}
    assert reason(decide(signer, spool, unsigned)) == "unsigned action"
    # Nothing refused for its signature burnt a nonce: the genuine one still runs.
    assert decide(signer, spool, genuine).result is None


def test_action_for_another_device_is_refused(signer: Signer, spool: Spool) -> None:
    payload = signer.payload("reboot", device_id="6f1c2a8e-0000-4000-8000-000000000002")
    assert reason(decide(signer, spool, signer.envelope(payload))) == "action for another device"


def test_scripts_disabled_by_default(signer: Signer, spool: Spool) -> None:
    envelope = signer.envelope(signer.script_payload("echo hi"))
    assert "scripts disabled" in reason(decide(signer, spool, envelope))


def test_reboot_disabled_locally(signer: Signer, spool: Spool) -> None:
    envelope = signer.envelope(signer.payload("reboot"))
    assert "reboots disabled" in reason(decide(signer, spool, envelope, allow_reboot=False))


def test_script_sha_mismatch_is_refused(signer: Signer, spool: Spool) -> None:
    payload = signer.script_payload("echo hi")
    payload["script"]["body"] = "echo pwned"
    envelope = signer.envelope(payload)
    assert reason(decide(signer, spool, envelope, allow_scripts=True)) == "script sha256 mismatch"


def test_unknown_kind_and_malformed_envelopes(signer: Signer, spool: Spool) -> None:
    payload = signer.payload("format_disk")
    assert "unknown kind" in reason(decide(signer, spool, signer.envelope(payload)))
    for junk in ("x", {"payload": "not json", "signature": "AA=="}, {"payload": "{}"}):
        assert (
            actions.decide(
                junk,
                public_key=signer.public_b64,
                device_id=DEVICE_ID,
                config=LocalConfig(),
                spool=spool,
            )
            is None
        )


def run(signer: Signer, spool: Spool, tmp_path: Path, body: str, **kw) -> dict:
    payload = signer.script_payload(body, **kw)
    decision = decide(signer, spool, signer.envelope(payload), allow_scripts=True)
    assert decision.result is None, decision.result
    return actions.run_script(decision.payload, tmp_path / "work")


def test_script_runs_with_arguments_as_argv(signer: Signer, spool: Spool, tmp_path: Path) -> None:
    marker = tmp_path / "should-not-exist"
    body = 'for a in "$@"; do printf "[%s]\\n" "$a"; done; echo err >&2; exit 3\n'
    args = ["two words", f"; touch {marker}", "$(id)", "*"]
    result = run(signer, spool, tmp_path, body, args=args)
    assert result["status"] == "failed" and result["exit_code"] == 3
    # Each argument arrives whole and unexpanded: no shell ever parsed them.
    assert result["output"].splitlines() == [f"[{a}]" for a in args] + ["err"]
    assert not marker.exists()
    assert result["duration_ms"] >= 0 and result["finished_at"] >= int(time.time()) - 5
    # The script's temporary directory is gone.
    assert list((tmp_path / "work").iterdir()) == []


def test_python_script_succeeds(signer: Signer, spool: Spool, tmp_path: Path) -> None:
    body = "import sys\nprint('args', sys.argv[1:])\n"
    result = run(signer, spool, tmp_path, body, interpreter="python", args=["a", "b"])
    assert result["status"] == "succeeded" and result["exit_code"] == 0
    assert result["output"].strip() == "args ['a', 'b']"


def test_script_timeout_kills_it_and_its_children(
    signer: Signer, spool: Spool, tmp_path: Path
) -> None:
    # The background sleep holds the output pipe: the agent must not wait for it either.
    body = "echo started; sleep 60 & sleep 60\n"
    started = time.monotonic()
    result = run(signer, spool, tmp_path, body, timeout_s=1)
    elapsed = time.monotonic() - started
    assert elapsed < 10
    assert result["status"] == "failed"
    assert result["reason"] == "timed out after 1 s"
    assert result["output"].strip() == "started"
    assert 900 <= result["duration_ms"] < 10_000


def test_output_keeps_the_last_64_kib(signer: Signer, spool: Spool, tmp_path: Path) -> None:
    body = "i=0; while [ $i -lt 3000 ]; do printf '%0100d\\n' $i; i=$((i+1)); done; echo END\n"
    result = run(signer, spool, tmp_path, body)
    assert result["status"] == "succeeded"
    assert len(result["output"].encode()) == 64 * 1024
    assert result["output"].endswith("END\n")


def test_reboot_command_comes_from_the_local_config() -> None:
    assert actions.reboot_argv(LocalConfig(reboot_command="touch '/tmp/a b'")) == [
        "touch",
        "/tmp/a b",
    ]
    assert actions.reboot_argv(LocalConfig())[0] in ("systemctl", "shutdown")


@pytest.mark.parametrize("interpreter", ["cobol"])
def test_unknown_interpreter_is_refused(signer: Signer, spool: Spool, interpreter: str) -> None:
    envelope = signer.envelope(signer.script_payload("x", interpreter=interpreter))
    assert "not available" in reason(decide(signer, spool, envelope, allow_scripts=True))
