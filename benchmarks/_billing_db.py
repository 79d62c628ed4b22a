"""What billing's benchmark parts share: a fresh database of their own, and log lines."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"# {message}", flush=True)


def configure(db_name: str, database: str | None) -> str:
    """Point ATALAYA_DATABASE_URL at a fresh database ``db_name`` before Django starts:
    on the PostgreSQL server ``database`` names, else a SQLite file under var/bench."""
    bench_dir = ROOT / "var" / "bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ATALAYA_DATA_DIR", str(bench_dir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atalaya.settings")
    if database and database.startswith(("postgres://", "postgresql://")):
        import psycopg

        parsed = urlparse(database)
        admin_url = urlunparse(parsed._replace(path="/postgres"))
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db_name}"')
        url = urlunparse(parsed._replace(path=f"/{db_name}"))
    else:
        path = bench_dir / f"{db_name}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    os.environ["ATALAYA_DATABASE_URL"] = url
    return url
