"""Remote actions: verify the server's signature, refuse what must not run, run the rest.

An action arrives as ``{"payload": <canonical JSON text>, "signature": <base64>}``.
The signature is checked over the payload's exact bytes with the public key stored
at enrollment *before* the payload is trusted. Then, in order, the action is refused
(``status: "refused"`` with a ``reason``) when it is for another device, expired,
replayed (its nonce seen before; nonces are kept in the spool until the action's
expiry), of an unknown kind, a script whose body does not match its ``sha256``, a
script while the local configuration does not allow scripts, or a reboot while it
does not allow reboots.

A script runs with its interpreter and the arguments as argv (never a shell string),
in a directory of its own, with the action's timeout; its combined output (the last
64 KiB), exit code and duration are the result.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .config import LocalConfig
from .spool import Spool

log = logging.getLogger(__name__)

OUTPUT_LIMIT = 64 * 1024
DEFAULT_TIMEOUT_S = 300
MAX_TIMEOUT_S = 24 * 3600
SUFFIXES = {"sh": ".sh", "bash": ".sh", "python": ".py", "powershell": ".ps1"}


@dataclass
class Decision:
    """What to do with one received action: run it (``payload``) or report ``result``."""

    action_id: str
    kind: str
    payload: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    # The action was already handled and its result is still waiting in the spool.
    skip: bool = False


def refused(payload: dict[str, Any], reason: str) -> dict[str, Any]:
    return {
        "action_id": str(payload.get("id") or ""),
        "nonce": str(payload.get("nonce") or ""),
        "status": "refused",
        "exit_code": None,
        "output": "",
        "duration_ms": 0,
        "finished_at": int(time.time()),
        "reason": reason,
    }


def verify_signature(public_key_b64: str, payload: str, signature_b64: str) -> bool:
    """Whether ``signature_b64`` is the server's Ed25519 signature of ``payload``'s bytes."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
        signature = base64.b64decode(signature_b64, validate=True)
        key.verify(signature, payload.encode("utf-8"))
    except (InvalidSignature, ValueError, TypeError, binascii.Error):
        return False
    return True


def decide(
    envelope: Any,
    *,
    public_key: str,
    device_id: str,
    config: LocalConfig,
    spool: Spool,
    now: float | None = None,
) -> Decision | None:
    """Check one action envelope; None if it is too malformed to name an action at all."""
    now = time.time() if now is None else now
    if not isinstance(envelope, dict):
        log.error("ignoring an action that is not an object: %r", envelope)
        return None
    text, signature = envelope.get("payload"), envelope.get("signature")
    try:
        # Parsed only to name the action in a refusal; trusted only once verified.
        payload = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not payload.get("id"):
        log.error("ignoring an action whose payload names no action: %r", text)
        return None
    action_id, kind = str(payload["id"]), str(payload.get("kind") or "")
    if spool.has_result(action_id):
        return Decision(action_id, kind, skip=True)
    if not isinstance(signature, str) or not signature:
        return Decision(action_id, kind, result=refused(payload, "unsigned action"))
    if not isinstance(text, str) or not verify_signature(public_key, text, signature):
        return Decision(action_id, kind, result=refused(payload, "bad signature"))
    if payload.get("v") != 1:
        return Decision(
            action_id, kind, result=refused(payload, f"unknown version {payload.get('v')!r}")
        )
    if str(payload.get("device_id")) != device_id:
        return Decision(action_id, kind, result=refused(payload, "action for another device"))
    try:
        expires_at = int(payload["expires_at"])
        nonce = str(payload["nonce"])
    except (KeyError, TypeError, ValueError):
        return Decision(action_id, kind, result=refused(payload, "no expiry or nonce"))
    if expires_at <= now:
        return Decision(action_id, kind, result=refused(payload, "expired"))
    if not nonce:
        return Decision(action_id, kind, result=refused(payload, "no expiry or nonce"))
    if not spool.claim_nonce(nonce, action_id, expires_at):
        return Decision(action_id, kind, result=refused(payload, "replayed (nonce seen before)"))
    if kind == "reboot":
        if not config.allow_reboot:
            return Decision(
                action_id, kind, result=refused(payload, "reboots disabled in agent.conf")
            )
        return Decision(action_id, kind, payload=payload)
    if kind == "scan":
        return _decide_scan(action_id, payload)
    if kind != "run_script":
        return Decision(action_id, kind, result=refused(payload, f"unknown kind {kind!r}"))
    script = payload.get("script")
    if not isinstance(script, dict) or not isinstance(script.get("body"), str):
        return Decision(action_id, kind, result=refused(payload, "no script"))
    digest = hashlib.sha256(script["body"].encode("utf-8")).hexdigest()
    if digest != str(script.get("sha256") or "").lower():
        return Decision(action_id, kind, result=refused(payload, "script sha256 mismatch"))
    if not config.allow_scripts:
        return Decision(
            action_id,
            kind,
            result=refused(payload, "scripts disabled (allow_scripts = false in agent.conf)"),
        )
    args = payload.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        return Decision(action_id, kind, result=refused(payload, "arguments must be strings"))
    if interpreter_argv(str(script.get("interpreter") or ""), Path("x")) is None:
        return Decision(
            action_id,
            kind,
            result=refused(payload, f"interpreter {script.get('interpreter')!r} not available"),
        )
    return Decision(action_id, kind, payload=payload)


def _decide_scan(action_id: str, payload: dict[str, Any]) -> Decision:
    """A server-requested scan touches only local ranges (private, link-local,
    loopback): a signed action naming a public address is refused, not run."""
    from . import scan

    params = payload.get("scan")
    if not isinstance(params, dict):
        return Decision(action_id, "scan", result=refused(payload, "no scan parameters"))
    targets = params.get("targets") or []
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        return Decision(action_id, "scan", result=refused(payload, "targets must be strings"))
    try:
        addresses = scan.parse_targets(targets or scan.local_networks())
        scan.parse_ports(params.get("ports") or None)
    except scan.ScanError as exc:
        return Decision(action_id, "scan", result=refused(payload, str(exc)))
    public = [a for a in addresses if not scan.is_local_range(a)]
    if public:
        return Decision(
            action_id, "scan", result=refused(payload, f"not a local network: {public[0]}")
        )
    return Decision(action_id, "scan", payload=payload)


def run_scan(payload: dict[str, Any]) -> dict[str, Any]:
    """Run a scan action; its result carries the scan JSON beside a one-line output."""
    from . import scan

    started = time.monotonic()
    params = payload.get("scan") or {}
    targets = params.get("targets") or scan.local_networks()
    timeout_ms = params.get("timeout_ms")
    if not isinstance(timeout_ms, int) or isinstance(timeout_ms, bool):
        timeout_ms = scan.DEFAULT_TIMEOUT_MS
    try:
        found = scan.scan(targets, params.get("ports") or None, timeout_ms=timeout_ms)
    except (scan.ScanError, OSError) as exc:
        return _result(payload, "failed", 1, str(exc).encode(), started, "")
    result = _result(payload, "succeeded", 0, scan.summary(found).encode(), started, "")
    result["scan"] = found
    return result


def interpreter_argv(interpreter: str, path: Path) -> list[str] | None:
    """The argv that runs the script file ``path`` with ``interpreter``, None if absent."""
    if interpreter in ("sh", "bash"):
        found = shutil.which(interpreter)
        return [found, str(path)] if found else None
    if interpreter == "python":
        found = shutil.which("python3") or shutil.which("python") or sys.executable
        return [found, str(path)] if found else None
    if interpreter == "powershell":
        found = shutil.which("pwsh") or shutil.which("powershell")
        if not found:
            return None
        return [found, "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File"] + [
            str(path)
        ]
    return None


def run_script(payload: dict[str, Any], work_dir: Path) -> dict[str, Any]:
    """Run an accepted script action and return its result (see the module docstring)."""
    script = payload["script"]
    interpreter = str(script["interpreter"])
    timeout = float(script.get("timeout_s") or DEFAULT_TIMEOUT_S)
    timeout = max(1.0, min(timeout, MAX_TIMEOUT_S))
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="action-", dir=str(work_dir)))
    path = tmp / ("script" + SUFFIXES.get(interpreter, ""))
    path.write_text(script["body"], encoding="utf-8")
    argv = interpreter_argv(interpreter, path)
    assert argv is not None  # decide() checked it
    argv += list(payload.get("args") or [])
    env = dict(os.environ, ATALAYA_ACTION_ID=str(payload["id"]))
    started = time.monotonic()
    tail: deque[bytes] = deque()
    size = [0]
    status, exit_code, reason = "failed", None, ""
    try:
        popen_kwargs: dict[str, Any] = {}
        if os.name == "posix":
            # Its own process group, so a timeout kills what the script started too.
            popen_kwargs["start_new_session"] = True
        else:
            popen_kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        proc = subprocess.Popen(  # noqa: S603 - argv list, never a shell string
            argv,
            cwd=str(tmp),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            **popen_kwargs,
        )
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        return _result(payload, "failed", None, b"", started, f"could not start: {exc}")

    def reader() -> None:
        stream = proc.stdout
        assert stream is not None
        # read1: whatever is there, so output is kept as it comes, not at exit.
        for chunk in iter(lambda: stream.read1(8192), b""):  # type: ignore[attr-defined]
            tail.append(chunk)
            size[0] += len(chunk)
            while size[0] - len(tail[0]) >= OUTPUT_LIMIT:
                size[0] -= len(tail.popleft())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        exit_code = proc.wait(timeout=timeout)
        status = "succeeded" if exit_code == 0 else "failed"
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.wait()
        exit_code = proc.returncode
        reason = f"timed out after {timeout:g} s"
    # A background child may hold the pipe open after the script exits: do not wait
    # for it forever.
    thread.join(timeout=2)
    if thread.is_alive():
        _kill(proc)
        thread.join(timeout=2)
    if proc.stdout is not None:
        proc.stdout.close()
    shutil.rmtree(tmp, ignore_errors=True)
    output = b"".join(tail)[-OUTPUT_LIMIT:]
    return _result(payload, status, exit_code, output, started, reason)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _result(
    payload: dict[str, Any],
    status: str,
    exit_code: int | None,
    output: bytes,
    started: float,
    reason: str,
) -> dict[str, Any]:
    return {
        "action_id": str(payload["id"]),
        "nonce": str(payload.get("nonce") or ""),
        "status": status,
        "exit_code": exit_code,
        "output": output.decode("utf-8", "replace"),
        "duration_ms": int((time.monotonic() - started) * 1000),
        "finished_at": int(time.time()),
        "reason": reason,
    }


def reboot_result(payload: dict[str, Any]) -> dict[str, Any]:
    """The result of a reboot, reported just before the agent asks the system to reboot."""
    return _result(payload, "succeeded", 0, b"", time.monotonic(), "")


def reboot_argv(config: LocalConfig) -> list[str]:
    """The command that reboots this machine (``reboot_command`` in agent.conf wins)."""
    if config.reboot_command:
        return shlex.split(config.reboot_command)
    if sys.platform == "win32":
        return ["shutdown", "/r", "/t", "0"]
    if sys.platform.startswith("linux") and shutil.which("systemctl"):
        return ["systemctl", "reboot"]
    return ["shutdown", "-r", "now"]


def reboot(config: LocalConfig) -> None:
    argv = reboot_argv(config)
    log.warning("rebooting: %s", " ".join(argv))
    try:
        done = subprocess.run(argv, check=False, stdin=subprocess.DEVNULL, timeout=60)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.error("the reboot command failed: %s", exc)
        return
    if done.returncode != 0:
        log.error("the reboot command exited with %d", done.returncode)
