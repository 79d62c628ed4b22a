"""The dedicated database a benchmark seeds and measures, chosen before Django starts.

``ATALAYA_DATABASE_URL`` naming a PostgreSQL server gets a database of its own on that
server (created here, dropped first when ``fresh``); anything else gets a SQLite file
under ``var/bench/``. Nothing else on the server is touched.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent


def configure_database(*, pg_name: str, sqlite_name: str, fresh: bool) -> str:
    """Point ATALAYA_DATABASE_URL at the bench database (creating it); return the URL."""
    base = os.environ.get("ATALAYA_DATABASE_URL", "")
    bench_dir = ROOT / "var" / "bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ATALAYA_DATA_DIR", str(bench_dir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atalaya.settings")
    if base.startswith(("postgres://", "postgresql://")):
        import psycopg

        parsed = urlparse(base)
        admin_url = urlunparse(parsed._replace(path="/postgres"))
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (pg_name,)
            ).fetchone()
            if exists and fresh:
                conn.execute(f'DROP DATABASE "{pg_name}" WITH (FORCE)')
                exists = None
            if not exists:
                conn.execute(f'CREATE DATABASE "{pg_name}"')
        url = urlunparse(parsed._replace(path=f"/{pg_name}"))
    else:
        path = bench_dir / f"{sqlite_name}.sqlite3"
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    os.environ["ATALAYA_DATABASE_URL"] = url
    return url
