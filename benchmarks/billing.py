"""Billing's headline figures, each measured in its own process on its own database.

    .venv/bin/python benchmarks/billing.py                 # SQLite
    .venv/bin/python benchmarks/billing.py --database postgres://postgres@127.0.0.1:5432/postgres

* ``_billing_agreements.py`` — the recurring run drafting 10,000 agreements' invoices
  (``RESULT draft_10k_agreements_s``, target ≤ 30 s);
* ``_billing_reminders.py`` — a reminder proposal over 100,000 open invoices
  (``RESULT reminder_proposal_100k_s``, target ≤ 10 s);
* ``_billing_bank.py`` — a camt.053 statement of 50,000 entries imported and reconciled
  (``RESULT camt_50k_reconcile_s``, target ≤ 30 s).

Each part seeds a database of its own (Django is configured once per process, so each
runs as a child process) and can be run alone with the same options; their ``#`` detail
lines and ``RESULT`` lines are passed through as they come.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = ("agreements", "reminders", "bank")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite files)")
    parser.add_argument("--only", help="comma-separated parts: " + ",".join(PARTS))
    args, rest = parser.parse_known_args()
    parts = args.only.split(",") if args.only else list(PARTS)
    failed = 0
    for part in parts:
        if part not in PARTS:
            parser.error(f"unknown part {part!r}; choose from {', '.join(PARTS)}")
        command = [sys.executable, str(HERE / f"_billing_{part}.py"), *rest]
        if args.database:
            command += ["--database", args.database]
        print(f"# {part}: {' '.join(command[1:])}", flush=True)
        failed |= subprocess.call(command) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
