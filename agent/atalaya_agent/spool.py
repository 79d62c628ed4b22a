"""The local spool: samples, job heartbeats and action results waiting for the server.

SQLite in WAL mode in the state directory, so `report-job` (called by backup
scripts) and the running agent can write at the same time. Rows are deleted only
after the server answered 200 for the request that carried them, so nothing is lost
across restarts or hours offline.

The spool is bounded by the number of samples. When it is over the bound, the oldest
samples are merged pairwise into one averaged sample whose ``n`` is the sum of the
two: old detail is thinned (older data ends up coarser, doubling its step each time
it is merged again), but no sample is ever silently dropped and the total ``n`` is
preserved. Job heartbeats and action results are few and each one matters: they are
never merged.

The spool also remembers the nonces of the actions it accepted, until each action's
expiry, so a replayed action is refused even after a restart.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS sample (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    t INTEGER NOT NULL UNIQUE,
    n INTEGER NOT NULL DEFAULT 1,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS job (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    t INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    message TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS result (
    action_id TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nonce (
    nonce TEXT PRIMARY KEY,
    action_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
-- The agent's own record of what it did with each action (shown by `status`).
CREATE TABLE IF NOT EXISTS action_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    exit_code INTEGER,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

METRICS = ("cpu_pct", "mem_pct", "swap_pct", "load1")
ACTION_LOG_KEEP = 1000


class Spool:
    """The agent's SQLite spool (see the module docstring)."""

    def __init__(self, path: Path, *, max_samples: int = 20_000) -> None:
        self.path = path
        self.max_samples = max_samples
        self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across a process crash under WAL; a power cut may lose the
        # last transaction, which for a sample a minute is an acceptable trade.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE: take the write lock up front so two processes never deadlock on
        # an upgrade from a read lock.
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------

    def get_meta(self, key: str, default: str = "") -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row["value"]) if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- samples ------------------------------------------------------------------

    def add_sample(self, sample: dict[str, Any]) -> int:
        """Spool one sample; returns its ``t``, moved forward if that second is taken.

        A sample's identity on the server is its second, so two samples must never
        share one (the second would be dropped as a duplicate): a sample taken in the
        same second as the newest one spooled or sent is stamped one second later.
        """
        sample = dict(sample)
        n = int(sample.pop("n", 1) or 1)
        with self.transaction() as db:
            row = db.execute("SELECT MAX(t) AS t FROM sample").fetchone()
            last = max(int(row["t"] or 0), int(self.get_meta("last_t", "0")))
            t = max(int(sample.pop("t")), last + 1)
            db.execute(
                "INSERT INTO sample (t, n, data) VALUES (?, ?, ?)",
                (t, n, json.dumps(sample, separators=(",", ":"))),
            )
            self.set_meta("last_t", str(t))
            self._bound(db)
        return t

    def sample_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM sample").fetchone()[0])

    def total_n(self) -> int:
        return int(self.db.execute("SELECT COALESCE(SUM(n), 0) FROM sample").fetchone()[0])

    def oldest_samples(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Up to ``limit`` samples, oldest first, as (row id, wire sample)."""
        rows = self.db.execute(
            "SELECT id, t, n, data FROM sample ORDER BY t LIMIT ?", (limit,)
        ).fetchall()
        out = []
        for row in rows:
            sample = {"t": int(row["t"]), "n": int(row["n"])}
            sample.update(json.loads(row["data"]))
            out.append((int(row["id"]), sample))
        return out

    def delete_samples(self, ids: list[int]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM sample WHERE id = ?", [(i,) for i in ids])

    def _bound(self, db: sqlite3.Connection) -> None:
        count = int(db.execute("SELECT COUNT(*) FROM sample").fetchone()[0])
        if count <= self.max_samples:
            return
        # Merge down to 90 % of the bound at once, so the merging runs once every
        # tenth of the bound, not on every sample once the spool is full.
        target = self.max_samples - self.max_samples // 10
        pairs = count - target
        rows = db.execute(
            "SELECT id, t, n, data FROM sample ORDER BY t LIMIT ?", (2 * pairs,)
        ).fetchall()
        for first, second in zip(rows[0::2], rows[1::2]):  # noqa: B905 - odd one waits
            a = dict(json.loads(first["data"]), t=int(first["t"]), n=int(first["n"]))
            b = dict(json.loads(second["data"]), t=int(second["t"]), n=int(second["n"]))
            merged = merge_samples(a, b)
            db.execute("DELETE FROM sample WHERE id = ?", (second["id"],))
            n = merged.pop("n")
            t = merged.pop("t")
            db.execute(
                "UPDATE sample SET t = ?, n = ?, data = ? WHERE id = ?",
                (t, n, json.dumps(merged, separators=(",", ":")), first["id"]),
            )

    # -- job heartbeats -----------------------------------------------------------

    def add_job(self, name: str, ok: bool, message: str = "", t: int | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO job (name, t, ok, message) VALUES (?, ?, ?, ?)",
                (name, int(t if t is not None else time.time()), int(ok), message[:500]),
            )

    def jobs(self, limit: int = 500) -> list[tuple[int, dict[str, Any]]]:
        rows = self.db.execute(
            "SELECT id, name, t, ok, message FROM job ORDER BY id LIMIT ?", (limit,)
        ).fetchall()
        return [
            (
                int(r["id"]),
                {"name": r["name"], "t": int(r["t"]), "ok": bool(r["ok"]), "message": r["message"]},
            )
            for r in rows
        ]

    def delete_jobs(self, ids: list[int]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM job WHERE id = ?", [(i,) for i in ids])

    # -- action results -----------------------------------------------------------

    def add_result(self, result: dict[str, Any], *, kind: str = "") -> None:
        """Spool an action's result (once per action) and note it in the action log."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO result (action_id, created, data) VALUES (?, ?, ?)",
                (str(result["action_id"]), int(time.time()), json.dumps(result)),
            )
            db.execute(
                "INSERT INTO action_log (action_id, kind, status, reason, exit_code, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    str(result["action_id"]),
                    kind,
                    result["status"],
                    result.get("reason") or "",
                    result.get("exit_code"),
                    int(time.time()),
                ),
            )
            db.execute(
                "DELETE FROM action_log WHERE id <= (SELECT MAX(id) FROM action_log) - ?",
                (ACTION_LOG_KEEP,),
            )

    def has_result(self, action_id: str) -> bool:
        row = self.db.execute("SELECT 1 FROM result WHERE action_id = ?", (action_id,))
        return row.fetchone() is not None

    def results(self, limit: int = 100) -> list[tuple[str, dict[str, Any]]]:
        rows = self.db.execute(
            "SELECT action_id, data FROM result ORDER BY created, action_id LIMIT ?", (limit,)
        ).fetchall()
        return [(str(r["action_id"]), json.loads(r["data"])) for r in rows]

    def delete_results(self, ids: list[str]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM result WHERE action_id = ?", [(i,) for i in ids])

    def action_log(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT action_id, kind, status, reason, exit_code, at FROM action_log "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [dict(r) for r in rows]

    # -- nonces -------------------------------------------------------------------

    def claim_nonce(self, nonce: str, action_id: str, expires_at: int) -> bool:
        """Remember ``nonce`` until ``expires_at``; False if it was seen before.

        The insert is the claim: two agent processes given the same action at once
        cannot both run it.
        """
        with self.transaction() as db:
            db.execute("DELETE FROM nonce WHERE expires_at < ?", (int(time.time()),))
            try:
                db.execute(
                    "INSERT INTO nonce (nonce, action_id, expires_at) VALUES (?, ?, ?)",
                    (nonce, action_id, int(expires_at)),
                )
            except sqlite3.IntegrityError:
                return False
        return True

    # -- enrollment ---------------------------------------------------------------

    def forget_device(self) -> None:
        """Drop what was spooled for a previous enrollment (another device id)."""
        with self.transaction() as db:
            db.execute("DELETE FROM sample")
            db.execute("DELETE FROM job")
            db.execute("DELETE FROM result")
            db.execute("DELETE FROM meta WHERE key != 'last_t'")

    def counts(self) -> dict[str, int]:
        out = {}
        for table in ("sample", "job", "result", "nonce"):
            out[table] = int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608
        return out


def _mean(a: Any, na: int, b: Any, nb: int) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return (float(a) * na + float(b) * nb) / (na + nb)


def merge_samples(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One sample averaging ``a`` and ``b`` (weighted by their ``n``), ``a`` the older.

    Its time is the weighted mean of theirs, which lies between them, so it can never
    collide with a neighbour's. A volume only one of them saw is kept as it was.
    """
    na, nb = int(a.get("n", 1)), int(b.get("n", 1))
    merged: dict[str, Any] = {
        "t": (int(a["t"]) * na + int(b["t"]) * nb) // (na + nb),
        "n": na + nb,
    }
    for key in METRICS:
        value = _mean(a.get(key), na, b.get(key), nb)
        merged[key] = round(value, 3) if isinstance(value, float) else value
    volumes: dict[str, dict[str, Any]] = {}
    for vol in a.get("volumes") or []:
        volumes[vol["mount"]] = dict(vol)
    for vol in b.get("volumes") or []:
        old = volumes.get(vol["mount"])
        if old is None:
            volumes[vol["mount"]] = dict(vol)
            continue
        old["free"] = int(round(_mean(old.get("free"), na, vol.get("free"), nb) or 0))
        used = _mean(old.get("used_pct"), na, vol.get("used_pct"), nb)
        old["used_pct"] = round(used, 3) if used is not None else None
    merged["volumes"] = list(volumes.values())
    return merged
