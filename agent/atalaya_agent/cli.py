"""The ``atalaya-agent`` command: enroll, run, report-job, status.

Exit codes: 0 done; 1 bad usage or configuration, or not enrolled; 2 the server was
unreachable (``run --once``: the sample stays spooled; ``enroll``: nothing stored);
3 the server no longer accepts this device's token (enroll again).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from . import __version__
from .config import SPOOL_FILE, ConfigError, NotEnrolledError, State, default_state_dir
from .runner import Agent, acquire_lock, enroll
from .spool import Spool
from .transport import Rejected, TransportError, Unauthorized, Unreachable, normalise_server

log = logging.getLogger("atalaya_agent")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atalaya-agent", description="The Atalaya monitoring agent."
    )
    parser.add_argument("--version", action="version", version=f"atalaya-agent {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help="where the agent keeps its state (default: $ATALAYA_AGENT_STATE_DIR, "
        "/var/lib/atalaya-agent as root, ~/.local/state/atalaya-agent otherwise)",
    )
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)
    # Accepted before and after the sub-command.
    parser.add_argument("--state-dir", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="store_true", default=False)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("enroll", parents=[common], help="join a site with an enrollment token")
    p.add_argument("--server", required=True, help="the Atalaya server, https://host[:port]")
    p.add_argument("--token", required=True, help="the site's enrollment token (ate_…)")
    p.add_argument("--ca-file", help="a CA bundle to verify the server's certificate")
    p.add_argument(
        "--allow-http",
        action="store_true",
        help="allow plain HTTP to a server that is not on this machine (not recommended)",
    )

    p = sub.add_parser("run", parents=[common], help="collect and check in until stopped")
    p.add_argument("--once", action="store_true", help="one sample and one check-in, then exit")

    p = sub.add_parser(
        "report-job", parents=[common], help="record a backup job's run (for its script to call)"
    )
    p.add_argument("name", help="the job's name, e.g. nightly-backup")
    outcome = p.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--ok", dest="ok", action="store_true", help="the job succeeded")
    outcome.add_argument("--fail", dest="ok", action="store_false", help="the job failed")
    p.add_argument("--message", default="", help="a short note (at most 500 characters)")

    sub.add_parser("status", parents=[common], help="show the enrollment and the spool (JSON)")

    p = sub.add_parser(
        "scan", parents=[common], help="scan hosts for open TCP ports (a technician's check)"
    )
    p.add_argument("targets", nargs="+", help="IPs, networks (10.0.0.0/24), ranges, names")
    p.add_argument("--ports", default="", help="e.g. 22,80,8000-8010 (default: top 100 + risky)")
    p.add_argument("--timeout-ms", type=int, default=1000, help="per connection (default 1000)")
    p.add_argument("--concurrency", type=int, default=2048, help="connections in flight")
    p.add_argument("--json", action="store_true", help="print the scan JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    state_dir: Path = args.state_dir or default_state_dir()
    try:
        if args.command == "enroll":
            return cmd_enroll(args, state_dir)
        if args.command == "run":
            return cmd_run(args, state_dir)
        if args.command == "report-job":
            return cmd_report_job(args, state_dir)
        if args.command == "scan":
            return cmd_scan(args)
        return cmd_status(state_dir)
    except NotEnrolledError as exc:
        print(f"atalaya-agent: {exc}", file=sys.stderr)
        return 3 if "refused this device" in str(exc) else 1
    except ConfigError as exc:
        print(f"atalaya-agent: {exc}", file=sys.stderr)
        return 1
    except PermissionError as exc:
        print(f"atalaya-agent: {exc} (run as the user that owns {state_dir})", file=sys.stderr)
        return 1


def cmd_scan(args: argparse.Namespace) -> int:
    """Scan now and print what answered; needs no enrollment."""
    from . import scan

    try:
        result = scan.scan(
            args.targets, args.ports, timeout_ms=args.timeout_ms, concurrency=args.concurrency
        )
    except scan.ScanError as exc:
        print(f"atalaya-agent: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for found in result["hosts"]:
        mac = f"  {found['mac']}" if found["mac"] else ""
        print(f"{found['ip']}{mac}")
        for port in found["ports"]:
            banner = f"  {port['banner']}" if port["banner"] else ""
            print(f"  {port['port']}/tcp open{banner}")
    print(scan.summary(result))
    return 0


def cmd_enroll(args: argparse.Namespace, state_dir: Path) -> int:
    try:
        server = normalise_server(args.server, allow_http=args.allow_http)
    except ValueError as exc:
        print(f"atalaya-agent: {exc}", file=sys.stderr)
        return 1
    try:
        enroll(state_dir, server=server, token=args.token, ca_file=args.ca_file, out=sys.stdout)
    except Unauthorized as exc:
        print(f"atalaya-agent: enrollment refused: {exc.detail or exc}", file=sys.stderr)
        return 1
    except Rejected as exc:
        print(f"atalaya-agent: enrollment rejected: {exc}", file=sys.stderr)
        return 1
    except Unreachable as exc:
        print(f"atalaya-agent: server unreachable: {exc}", file=sys.stderr)
        return 2
    except (TransportError, ValueError) as exc:
        print(f"atalaya-agent: enrollment failed: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_run(args: argparse.Namespace, state_dir: Path) -> int:
    lock = acquire_lock(state_dir) if state_dir.exists() else None
    if state_dir.exists() and lock is None:
        print(f"atalaya-agent: another `atalaya-agent run` uses {state_dir}", file=sys.stderr)
        return 1
    agent = Agent(state_dir)
    try:
        if args.once:
            return 0 if agent.run_once() else 2

        def stop(_signum: int, _frame: Any) -> None:
            agent.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        agent.run_forever()
        return 0
    finally:
        agent.close()
        if lock is not None:
            lock.close()


def cmd_report_job(args: argparse.Namespace, state_dir: Path) -> int:
    name = args.name.strip()
    if not name or len(name) > 100:
        print("atalaya-agent: the job name must be 1 to 100 characters", file=sys.stderr)
        return 1
    State.load(state_dir)  # not enrolled: say so rather than spool for nobody
    spool = Spool(state_dir / SPOOL_FILE)
    try:
        spool.add_job(name, args.ok, args.message, t=int(time.time()))
    finally:
        spool.close()
    print(f"job {name} recorded as {'ok' if args.ok else 'failed'}; sent with the next check-in")
    return 0


def cmd_status(state_dir: Path) -> int:
    state = State.load(state_dir)
    spool = Spool(state_dir / SPOOL_FILE)
    try:
        last = spool.get_meta("last_checkin_at")
        report = {
            "state_dir": str(state_dir),
            "server": state.server,
            "device_id": state.device_id,
            "enrolled_at": state.enrolled_at,
            "config": state.server_config,
            "last_checkin_at": int(last) if last else None,
            "last_error": spool.get_meta("last_error") or None,
            "spool": dict(spool.counts(), samples_n=spool.total_n()),
            "actions": spool.action_log(),
        }
    finally:
        spool.close()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
