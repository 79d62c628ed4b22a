"""The agent API for a large fleet: a bare ASGI app with group commit, served by uvicorn.

The web UI stays on gunicorn; agents get this instead: thousands of keep-alive
connections on one event loop, no Django middleware, sessions or templates. Each
request is read, parsed and checked in the event loop (``wire.py``); the check-in then
goes on a queue to the process's single writer thread, which takes everything queued
(up to a cap), stores it with ``ingest_checkins`` in one transaction and only then
answers every request of the batch: an agent hears 200 only once its data is
committed, and a burst costs a few statements per batch instead of per check-in. When
the queue is deeper than the writer can clear within the agents' patience, new
check-ins get 503 with ``Retry-After`` at once (the agent spools and retries) instead
of waiting into a timeout.

Run it with ``atalaya agent_serve`` (also started by ``atalaya serve``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atalaya.settings")
django.setup()

from django.conf import settings  # noqa: E402 - after django.setup()
from django.db import DatabaseError, close_old_connections, connection, transaction  # noqa: E402

from atalaya.monitoring.agent_api.handlers import (  # noqa: E402
    RETRY_AFTER_S,
    busy,
    dumps,
    error_outcome,
    handle_enroll,
    too_large,
)
from atalaya.monitoring.agent_api.ingest import (  # noqa: E402
    Outcome,
    ingest_checkins,
    prepare_checkins,
    store_prepared,
)
from atalaya.monitoring.agent_api.wire import (  # noqa: E402
    Checkin,
    WireError,
    parse_checkin,
    token_hash_from_header,
)
from atalaya.monitoring.write_turn import write_turn  # noqa: E402

log = logging.getLogger("atalaya.agent_api")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

PREFIX = "/agent/v1/"
# One batch holds at most this many check-ins, or samples in all: a replay storm of
# 500-sample batches must not make one transaction (and its lock) run for seconds.
MAX_BATCH = int(os.environ.get("ATALAYA_AGENT_MAX_BATCH", "1000"))
MAX_BATCH_SAMPLES = 20_000
# Check-ins waiting for the writer before new ones are turned away with 503.
MAX_QUEUE = int(os.environ.get("ATALAYA_AGENT_MAX_QUEUE", "4000"))
WAL_CHECKPOINT_PAGES = int(os.environ.get("ATALAYA_AGENT_WAL_CHECKPOINT_PAGES", "4000"))
# Set to log the writer's throughput, batch sizes and busy share every so many seconds.
STATS_EVERY_S = float(os.environ.get("ATALAYA_AGENT_STATS_S", "0"))

JSON = (b"content-type", b"application/json")


class Writer:
    """The process's one database writer: drains the queue into batches, commits, answers."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: queue.SimpleQueue[tuple[Checkin, asyncio.Future[Outcome]] | None] = (
            queue.SimpleQueue()
        )
        self.waiting = 0
        self.batches = 0
        self._tuned: Any = None
        # batches, check-ins, seconds storing, largest batch, since (perf_counter)
        self.totals: list[Any] = [0, 0, 0.0, 0, time.perf_counter(), 0.0]
        self.thread = threading.Thread(target=self._run, name="agent-api-writer", daemon=True)
        self.thread.start()

    def submit(self, checkin: Checkin) -> asyncio.Future[Outcome]:
        future: asyncio.Future[Outcome] = self.loop.create_future()
        self.waiting += 1
        self.queue.put((checkin, future))
        return future

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=30)

    def _resolve(self, futures: list[asyncio.Future[Outcome]], outcomes: list[Outcome]) -> None:
        self.waiting -= len(futures)
        for future, outcome in zip(futures, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self.queue.get()
            if first is None:
                break
            batch = [first]
            samples = len(first[0].samples)
            while len(batch) < MAX_BATCH and samples < MAX_BATCH_SAMPLES:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                samples += len(item[0].samples)
            started, cpu = time.perf_counter(), time.thread_time()
            outcomes = self._store([checkin for checkin, _f in batch])
            self.batches += 1
            if STATS_EVERY_S:
                self._stats(len(batch), time.perf_counter() - started, time.thread_time() - cpu)
            self.loop.call_soon_threadsafe(self._resolve, [f for _c, f in batch], outcomes)
        connection.close()

    def _tune_sqlite(self) -> None:
        connection.ensure_connection()
        raw = connection.connection
        if raw is self._tuned:
            return
        # A batch touches a few pages per device all over the tables: a page cache of
        # 64 MB instead of 2 MB keeps them in memory. Checkpoints stay with this, the
        # only busy writer (a checkpoint in a thread of its own never catches up with
        # it, and the WAL would grow without end), but run every 16 MB of WAL instead of
        # every 4: a page written by many batches is copied back once.
        raw.execute("PRAGMA cache_size=-65536")
        raw.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        self._tuned = raw

    def _stats(self, size: int, seconds: float, cpu: float) -> None:
        totals = self.totals
        totals[0] += 1
        totals[1] += size
        totals[2] += seconds
        totals[3] = max(totals[3], size)
        totals[5] += cpu
        now = time.perf_counter()
        if now - totals[4] >= STATS_EVERY_S:
            span = now - totals[4]
            log.warning(
                "writer: %d check-ins/s in %d batches (mean %.1f, max %d), busy %.0f%%, "
                "%.0f us per check-in (%.0f us CPU), queue %d",
                totals[1] / span,
                totals[0],
                totals[1] / max(totals[0], 1),
                totals[3],
                100 * totals[2] / span,
                1e6 * totals[2] / max(totals[1], 1),
                1e6 * totals[5] / max(totals[1], 1),
                self.waiting,
            )
            self.totals = [0, 0, 0.0, 0, now, 0.0]

    def _store(self, checkins: list[Checkin]) -> list[Outcome]:
        # Closed only when broken: the writer is busy all day, and a new connection
        # every CONN_MAX_AGE would start with a cold cache (and, on PostgreSQL, a new
        # backend process) in the middle of the load.
        close_old_connections()
        connection.ensure_connection()
        connection.close_at = None
        if connection.vendor == "sqlite":
            self._tune_sqlite()
        try:
            # Read and build the rows first; only the writes take the database's turn.
            prepared = prepare_checkins(checkins)
            with write_turn(), transaction.atomic():
                return store_prepared(prepared)
        except Exception:
            if len(checkins) == 1:
                log.exception("a check-in could not be stored")
                connection.close()
                return [busy()]
        # One bad check-in must not fail its whole batch: store them one by one.
        log.warning("a batch of %d check-ins failed; storing them one by one", len(checkins))
        connection.close()
        outcomes = []
        for checkin in checkins:
            try:
                with write_turn():
                    outcomes.extend(ingest_checkins([checkin]))
            except DatabaseError:
                log.exception("a check-in could not be stored")
                connection.close()
                outcomes.append(busy())
            except Exception:
                log.exception("a check-in could not be stored")
                outcomes.append(Outcome(500, {"detail": "Internal error.", "errors": []}))
        return outcomes


class AgentApp:
    """The ASGI application: routes of ``/agent/v1/`` and the lifespan that runs the writer."""

    def __init__(self) -> None:
        self.writer: Writer | None = None
        self.limit = settings.AGENT_MAX_BODY_BYTES
        # Enrollment is rare and touches more tables: run it beside, not in, the writer.
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="agent-api-enroll")
        self._openapi: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._writer()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.writer is not None:
                    await asyncio.get_running_loop().run_in_executor(None, self.writer.stop)
                    self.writer = None
                self.executor.shutdown(wait=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _writer(self) -> Writer:
        if self.writer is None:
            self.writer = Writer(asyncio.get_running_loop())
        return self.writer

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if not path.startswith(PREFIX):
            return await self.answer(send, Outcome(404, {"detail": "Not found.", "errors": []}))
        route = path[len(PREFIX) :]
        if route not in ("checkin", "enroll", "openapi.json"):
            return await self.answer(send, Outcome(404, {"detail": "Not found.", "errors": []}))
        allowed = "GET" if route == "openapi.json" else "POST"
        if method != allowed:
            outcome = Outcome(405, {"detail": "Method not allowed.", "errors": []})
            return await self.answer(send, outcome, [(b"allow", allowed.encode())])
        if route == "openapi.json":
            return await self.openapi(send)
        authorization = None
        declared = 0
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
        if declared > self.limit:
            return await self.answer(send, too_large(self.limit), close=True)
        body = await self.body(receive)
        if body is None:
            return None
        if len(body) > self.limit:
            return await self.answer(send, too_large(self.limit), close=True)
        if route == "enroll":
            loop = asyncio.get_running_loop()
            outcome = await loop.run_in_executor(self.executor, _enroll, body)
            return await self.answer(send, outcome)
        try:
            token_hash = token_hash_from_header(authorization)
            checkin = parse_checkin(body, token_hash)
        except WireError as exc:
            return await self.answer(send, error_outcome(exc))
        writer = self._writer()
        if writer.waiting >= MAX_QUEUE:
            return await self.answer(send, busy())
        return await self.answer(send, await writer.submit(checkin))

    async def body(self, receive: Receive) -> bytes | None:
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if chunk:
                chunks.append(chunk)
                size += len(chunk)
                if size > self.limit:
                    # Stop reading: the answer is 413 whatever the rest says.
                    return b"".join(chunks)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def openapi(self, send: Send) -> None:
        if self._openapi is None:
            loop = asyncio.get_running_loop()
            self._openapi = await loop.run_in_executor(self.executor, _openapi_document)
        await self.raw(send, 200, self._openapi)

    async def answer(
        self,
        send: Send,
        outcome: Outcome,
        extra: list[tuple[bytes, bytes]] | None = None,
        *,
        close: bool = False,
    ) -> None:
        headers = list(extra or ())
        if outcome.status in (429, 503):
            # Spread the retries so a wave of turned-away agents does not return at once.
            retry = RETRY_AFTER_S + random.randint(0, RETRY_AFTER_S)
            headers.append((b"retry-after", str(retry).encode()))
        if close:
            headers.append((b"connection", b"close"))
        await self.raw(send, outcome.status, dumps(outcome.body), headers)

    async def raw(
        self, send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [JSON, (b"content-length", str(len(body)).encode()), *(headers or ())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _enroll(body: bytes) -> Outcome:
    # Enrollments are rare: a connection of their own each time, closed after, so no
    # idle connection lingers in the pool's threads.
    try:
        return handle_enroll(body)
    finally:
        connection.close()


def _openapi_document() -> bytes:
    from atalaya.monitoring.agent_api import views  # noqa: F401 - registers the operations
    from atalaya.monitoring.agent_api.schema import api

    return dumps(api.get_openapi_schema(path_prefix="/agent/v1/"))


application = AgentApp()
