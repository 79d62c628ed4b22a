"""The agent's loop: collect, spool, check in, run the actions the answer carries.

Every cycle (60 s, ±10 % jitter so a fleet spreads out) takes one sample into the
spool, then checks in: the spool is sent oldest first in batches of at most 500
samples, each batch deleted only after the server's 200. While the server is
unreachable, collection goes on and check-ins back off exponentially (with jitter,
up to ``backoff_max_s``). Actions in the answer are checked and run; their results
are reported at once by a follow-up check-in (and stay spooled if that fails).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import random
import socket
import threading
import time
from pathlib import Path
from typing import IO, Any

from . import __version__, actions
from .collect import Collector, inventory_hash, machine_id, os_release, platform_name
from .config import (
    CONF_FILE,
    CONF_TEMPLATE,
    DEFAULT_INTERVAL_S,
    SPOOL_FILE,
    LocalConfig,
    NotEnrolledError,
    State,
    ensure_dir,
    write_private,
)
from .spool import Spool
from .transport import Backoff, Rejected, Transport, Unauthorized, Unreachable, encode

log = logging.getLogger(__name__)

MAX_BATCH = 500
# Job heartbeats and action results per check-in (the server's bounds).
MAX_JOBS = 100
MAX_RESULTS = 100
# Three 4xx answers for the same batch and it is dropped (PROTOCOL.md).
MAX_REJECTIONS = 3
# Action rounds per cycle: a follow-up answer may carry new actions, but not forever.
MAX_ACTION_ROUNDS = 3


class Agent:
    """One enrolled agent: its state, local configuration, spool, collector and transport."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.config = LocalConfig.load(state_dir)
        self.state = State.load(state_dir)
        self.spool = Spool(state_dir / SPOOL_FILE, max_samples=self.config.max_samples)
        self.collector = Collector(state_dir)
        self.transport = Transport(
            self.state.server,
            token=self.state.token,
            ca_file=self.config.ca_file or self.state.ca_file,
            timeout=self.config.timeout_s,
        )
        self.server_interval: float | None = None
        self.backoff = Backoff(base=min(10.0, self.interval), cap=self.config.backoff_max_s)
        self.latest_state: dict[str, Any] | None = None
        self.reboot_requested = False
        self.stop = threading.Event()

    def close(self) -> None:
        self.spool.close()

    @property
    def interval(self) -> float:
        if self.config.interval_s:
            return self.config.interval_s
        if self.server_interval:
            return self.server_interval
        return float(self.state.server_config.get("checkin_interval_s") or DEFAULT_INTERVAL_S)

    # -- collecting ---------------------------------------------------------------

    def collect(self) -> int:
        """Take one sample into the spool and refresh the snapshot; returns its ``t``."""
        sample, volumes = self.collector.sample()
        t = self.spool.add_sample(sample)
        self.latest_state = self.collector.state(
            volumes=volumes, services=self.state.services, processes=self.state.processes
        )
        return t

    # -- checking in --------------------------------------------------------------

    def _body(
        self,
        samples: list[dict[str, Any]],
        jobs: list[dict[str, Any]],
        results: list[dict[str, Any]],
        *,
        last: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "agent_version": __version__,
            "sent_at": int(time.time()),
            "config_version": self.state.config_version,
            "scripts_enabled": self.config.allow_scripts,
            "samples": samples,
            "jobs": jobs,
            "results": results,
        }
        # The snapshot goes with the newest batch only: an old replay batch is history.
        if last and self.latest_state is not None:
            body["state"] = self.latest_state
        data = self.collector.inventory()
        digest = inventory_hash(data)
        if digest != self.state.inventory_hash:
            body["inventory"] = {"hash": digest, "data": data}
        return body

    def sync(self) -> list[Any]:
        """Send everything spooled, oldest first; returns the actions of the last answer.

        Raises ``Unreachable`` (everything stays spooled), ``Rejected`` (a 4xx for a
        batch not yet struck out) or ``NotEnrolledError`` (401).
        """
        batch = MAX_BATCH
        answer_actions: list[Any] = []
        max_body = self.config.max_body_kb * 1024
        while True:
            sample_rows = self.spool.oldest_samples(batch)
            job_rows = self.spool.jobs(MAX_JOBS)
            result_rows = self.spool.results(MAX_RESULTS)
            more = self.spool.sample_count() > len(sample_rows)
            body = self._body(
                [s for _, s in sample_rows],
                [j for _, j in job_rows],
                [r for _, r in result_rows],
                last=not more,
            )
            data = encode(body)
            if len(data) > max_body and len(sample_rows) > 1:
                batch = max(1, len(sample_rows) // 2)
                continue
            key = ":".join(
                str(rows[0][0]) if rows else "" for rows in (sample_rows, job_rows, result_rows)
            )
            try:
                _status, answer = self.transport.post("checkin", data)
            except Unauthorized as exc:
                raise NotEnrolledError(
                    f"the server refused this device's token ({exc.detail or 'unauthorized'}): "
                    "the device was retired or enrolled again elsewhere; enroll it again"
                ) from None
            except Rejected as exc:
                if self._strike(key) < MAX_REJECTIONS:
                    raise
                log.error(
                    "DROPPING a batch the server rejected %d times (%s): %d samples "
                    "(t %s..%s), %d job heartbeats, %d action results",
                    MAX_REJECTIONS,
                    exc,
                    len(sample_rows),
                    sample_rows[0][1]["t"] if sample_rows else "-",
                    sample_rows[-1][1]["t"] if sample_rows else "-",
                    len(job_rows),
                    len(result_rows),
                )
                self._forget(sample_rows, job_rows, result_rows)
                continue
            self._forget(sample_rows, job_rows, result_rows)
            self._apply(answer, body)
            answer_actions = list(answer.get("actions") or [])
            if not more and len(job_rows) < MAX_JOBS and len(result_rows) < MAX_RESULTS:
                return answer_actions
            batch = MAX_BATCH

    def _strike(self, key: str) -> int:
        count = int(self.spool.get_meta("reject_count", "0")) + 1
        if self.spool.get_meta("reject_key") != key:
            count = 1
        self.spool.set_meta("reject_key", key)
        self.spool.set_meta("reject_count", str(count))
        return count

    def _forget(self, samples: list[Any], jobs: list[Any], results: list[Any]) -> None:
        self.spool.delete_samples([i for i, _ in samples])
        self.spool.delete_jobs([i for i, _ in jobs])
        self.spool.delete_results([i for i, _ in results])
        self.spool.set_meta("reject_count", "0")

    def _apply(self, answer: dict[str, Any], body: dict[str, Any]) -> None:
        changed = False
        digest = answer.get("inventory_hash")
        if isinstance(digest, str) and digest != self.state.inventory_hash:
            self.state.inventory_hash = digest
            changed = True
        config = answer.get("config")
        if isinstance(config, dict) and config != self.state.server_config:
            log.info("new configuration from the server: %s", config)
            self.state.server_config = config
            changed = True
        if isinstance(answer.get("next_checkin_s"), (int, float)) and answer["next_checkin_s"] > 0:
            self.server_interval = float(answer["next_checkin_s"])
        if changed:
            self.state.save()
        self.spool.set_meta("last_checkin_at", str(int(time.time())))
        if isinstance(answer.get("server_time"), (int, float)):
            self.spool.set_meta("clock_offset_s", str(int(answer["server_time"] - body["sent_at"])))

    # -- actions ------------------------------------------------------------------

    def handle_actions(self, envelopes: list[Any]) -> int:
        """Decide on and run each action; returns how many new results were spooled."""
        new = 0
        for envelope in envelopes:
            decision = actions.decide(
                envelope,
                public_key=self.state.signing_public_key,
                device_id=self.state.device_id,
                config=self.config,
                spool=self.spool,
            )
            if decision is None or decision.skip:
                continue
            if decision.result is not None:
                log.warning(
                    "refused action %s (%s): %s",
                    decision.action_id,
                    decision.kind,
                    decision.result["reason"],
                )
                result = decision.result
            elif decision.kind == "reboot":
                assert decision.payload is not None
                log.warning("action %s: reboot requested", decision.action_id)
                result = actions.reboot_result(decision.payload)
                self.reboot_requested = True
            elif decision.kind == "scan":
                assert decision.payload is not None
                log.info("action %s: network scan", decision.action_id)
                result = actions.run_scan(decision.payload)
                log.info("action %s: %s", decision.action_id, result["output"])
            else:
                assert decision.payload is not None
                script = decision.payload.get("script") or {}
                log.info(
                    "action %s: running script %s %s",
                    decision.action_id,
                    script.get("name"),
                    decision.payload.get("args") or [],
                )
                result = actions.run_script(decision.payload, self.state_dir / "work")
                log.info(
                    "action %s: %s (exit %s, %d ms)",
                    decision.action_id,
                    result["status"],
                    result["exit_code"],
                    result["duration_ms"],
                )
            self.spool.add_result(result, kind=decision.kind)
            new += 1
        return new

    def cycle(self) -> None:
        """Check in, run the answer's actions, report their results at once."""
        envelopes = self.sync()
        for _round in range(MAX_ACTION_ROUNDS):
            if not self.handle_actions(envelopes):
                break
            try:
                envelopes = self.sync()
            except (Unreachable, Rejected):
                # The results stay spooled and go out with the next check-in.
                if self.reboot_requested:
                    self._reboot()
                raise
        if self.reboot_requested:
            self._reboot()

    def _reboot(self) -> None:
        self.reboot_requested = False
        actions.reboot(self.config)

    # -- the loop -----------------------------------------------------------------

    def jittered(self, seconds: float) -> float:
        return seconds * random.uniform(0.9, 1.1)

    def run_forever(self) -> None:
        """Collect and check in until ``stop`` is set (SIGTERM, SIGINT)."""
        next_collect = time.monotonic()
        next_sync = next_collect
        log.info(
            "atalaya-agent %s running: device %s, server %s, every %g s",
            __version__,
            self.state.device_id,
            self.state.server,
            self.interval,
        )
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_collect:
                try:
                    self.collect()
                except Exception:  # noqa: BLE001 - one bad cycle must not stop monitoring
                    log.exception("collection failed")
                next_collect = now + self.jittered(self.interval)
            if now >= next_sync:
                try:
                    self.cycle()
                except (Unreachable, Rejected) as exc:
                    retry_after = exc.retry_after if isinstance(exc, Unreachable) else None
                    delay = self.backoff.next_delay(retry_after)
                    log.warning(
                        "check-in failed (%s); %d samples spooled; next try in %.1f s",
                        exc,
                        self.spool.sample_count(),
                        delay,
                    )
                    self.spool.set_meta("last_error", f"{int(time.time())} {exc}")
                    next_sync = time.monotonic() + delay
                else:
                    if self.backoff.failures:
                        log.info("server reachable again; spool replayed")
                    self.backoff.reset()
                    next_sync = next_collect
            self.stop.wait(max(0.0, min(next_collect, next_sync) - time.monotonic()))
        log.info("atalaya-agent stopped")

    def run_once(self) -> bool:
        """One sample and one check-in (plus the actions' report); False if unreachable."""
        self.collect()
        try:
            self.cycle()
        except (Unreachable, Rejected) as exc:
            log.error("check-in failed (%s); %d samples spooled", exc, self.spool.sample_count())
            self.spool.set_meta("last_error", f"{int(time.time())} {exc}")
            return False
        return True


def enroll(
    state_dir: Path,
    *,
    server: str,
    token: str,
    ca_file: str | None = None,
    out: IO[str] | None = None,
) -> State:
    """Enroll this machine with ``token`` and store the device id, token and public key.

    Raises ``Unauthorized`` (the enrollment token is expired, revoked, used up or
    unknown; its ``detail`` says which), ``Rejected``, ``Unreachable`` or ValueError
    for an answer that lacks what the protocol promises.
    """
    ensure_dir(state_dir)
    os_name, os_version = os_release()
    body = {
        "token": token,
        "hostname": socket.gethostname(),
        "machine_id": machine_id(state_dir),
        "platform": platform_name(),
        "os_name": os_name,
        "os_version": os_version,
        "agent_version": __version__,
    }
    transport = Transport(server, ca_file=ca_file)
    _status, answer = transport.post("enroll", body)
    for name in ("device_id", "device_token", "signing_public_key"):
        if not isinstance(answer.get(name), str) or not answer[name]:
            raise ValueError(f"the server's enrollment answer has no {name}")
    try:
        raw_key = base64.b64decode(answer["signing_public_key"], validate=True)
    except (binascii.Error, ValueError):
        raw_key = b""
    if len(raw_key) != 32:
        raise ValueError("the server's signing_public_key is not a base64 Ed25519 key")
    previous: State | None
    try:
        previous = State.load(state_dir)
    except NotEnrolledError:
        previous = None
    except Exception:  # noqa: BLE001 - a broken old state is replaced by the new one
        previous = None
    if previous is not None and previous.device_id != answer["device_id"]:
        spool = Spool(state_dir / SPOOL_FILE)
        try:
            spool.forget_device()
        finally:
            spool.close()
    config = answer.get("config") if isinstance(answer.get("config"), dict) else {}
    state = State(
        state_dir=state_dir,
        server=server,
        device_id=answer["device_id"],
        signing_public_key=answer["signing_public_key"],
        token=answer["device_token"],
        enrolled_at=int(time.time()),
        ca_file=ca_file,
        server_config=dict(config or {}),
    )
    state.save(token=True)
    conf = state_dir / CONF_FILE
    if not conf.exists():
        write_private(conf, CONF_TEMPLATE)
    if out is not None:
        out.write(f"enrolled as device {state.device_id} at {server}\n")
    return state


def acquire_lock(state_dir: Path) -> Any:
    """An exclusive lock on the state directory, so two `run` processes never overlap."""
    path = state_dir / "agent.lock"
    handle = open(path, "a+")  # noqa: SIM115 - held for the life of the process
    if os.name == "posix":
        import fcntl

        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return None
    return handle
