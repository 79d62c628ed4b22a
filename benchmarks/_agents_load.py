"""The load generator of benchmarks/agents.py: simulated agents over real HTTP/1.1.

Pure asyncio (uvloop when installed) with a hand-written minimal HTTP/1.1 client on
persistent keep-alive connections: each connection is an ``asyncio.Protocol`` that
writes one prepared request and parses the status line, ``Content-Length`` (or a
chunked body) and nothing else, calling back when the answer is complete. No Django
here: the generator shares two cores with the server it measures, so a request must
cost it a few tens of microseconds, not the milliseconds of an HTTP library.

Two ways of sending:

* ``run_open`` — open loop, as a fleet behaves: every agent checks in every 60 s
  (± jitter) from a phase of its own, whether or not the server keeps up; latency is
  counted from the moment the check-in was *due*, so a server that falls behind shows
  it in the latency instead of slowing the generator down (no coordinated omission).
* ``run_closed`` — the burst: ``concurrency`` connections, each sending the next
  agent's check-in as soon as the previous answer arrived; latency from send to answer.

Every answered request is kept as (agent, t) in ``acked`` (a 200) or counted in
``errors``; ``sent`` has every sample sent, answered or not, so the caller can tell
a lost result (acknowledged, not stored) from an unacknowledged one the server kept.
"""

# ruff: noqa: UP031 - JSON templates read better with %-formatting than with doubled braces
from __future__ import annotations

import asyncio
import functools
import heapq
import random
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

CHECKIN_PATH = "/agent/v1/checkin"
MOUNTS = ("/", "/home", "/srv")
# The seeded volumes' sizes (bytes): what the state block reports as total.
TOTALS = (256 * 10**9, 1000 * 10**9, 2000 * 10**9)
# Idle connections older than this are not reused (uvicorn's keep-alive timeout is 5 s).
IDLE_MAX_S = 3.0
# The open loop's dispatch tick: a check-in is sent at most this late (counted in its latency).
TICK_S = 0.004


def install_uvloop() -> str:
    """Use uvloop's event loop when it is installed (about twice as cheap per request)."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return f"uvloop {uvloop.__version__}"


def checkin_body(
    t: int, sent_at: int, seed: int, *, with_state: bool = True, inventory: bool = False
) -> bytes:
    """A realistic check-in: one sample with three volumes, the state block, no inventory.

    Values drift with ``seed`` (the agent) and ``t`` so rows differ as they would; the
    text is formatted here rather than by ``json.dumps`` to keep the generator cheap.
    """
    r = (seed * 2654435761 + t * 40503) & 0xFFFFFFFF
    cpu = (r % 1000) / 10.0
    mem = 20.0 + (r >> 10) % 600 / 10.0
    load = (r >> 4) % 400 / 100.0
    frees = [TOTALS[k] // (2 + (seed + k) % 5) - (t % 86400) * 1000 * k for k in range(3)]
    vols = ",".join(
        '{"mount":"%s","free":%d,"used_pct":%.1f}'
        % (MOUNTS[k], frees[k], 100.0 - 100.0 * frees[k] / TOTALS[k])
        for k in range(3)
    )
    sample = (
        '{"t":%d,"n":1,"cpu_pct":%.1f,"mem_pct":%.1f,"swap_pct":0.0,"load1":%.2f,'
        '"volumes":[%s]}' % (t, cpu, mem, load, vols)
    )
    parts = [
        '{"agent_version":"0.1.0","sent_at":%d,"config_version":1,"scripts_enabled":false,'
        '"samples":[%s]' % (sent_at, sample)
    ]
    if with_state:
        state_vols = ",".join(
            '{"mount":"%s","device":"/dev/sd%s1","fstype":"ext4","total":%d,"used":%d,'
            '"free":%d,"read_only":false}'
            % (MOUNTS[k], "abc"[k], TOTALS[k], TOTALS[k] - frees[k], frees[k])
            for k in range(3)
        )
        uptime = 3600 + (seed * 977) % 2_000_000
        parts.append(
            ',"state":{"t":%d,"uptime_s":%d,"boot_time":%d,"reboot_pending":false,'
            '"users":["ana"],"volumes":[%s],"services":{},"processes":{},"smart":null,'
            '"missing":[]}' % (sent_at, uptime, sent_at - uptime, state_vols)
        )
    if inventory:
        parts.append(
            ',"inventory":{"hash":"%064x","data":{"hostname":"pc%06d","os":{"name":'
            '"Debian GNU/Linux","version":"12"},"cpu":{"model":"Intel(R) Core(TM) '
            'i5-8500T","cores":6},"memory_bytes":17179869184}}' % (seed, seed)
        )
    parts.append("}")
    return "".join(parts).encode()


def samples_body(sent_at: int, ts: list[int], seed: int) -> bytes:
    """A spool replay batch: several old samples and no state block (PROTOCOL.md)."""
    samples = []
    for t in ts:
        one = checkin_body(t, sent_at, seed, with_state=False)
        # Cut the one sample out of the single-sample body built above.
        start = one.index(b'"samples":[') + len(b'"samples":[')
        samples.append(one[start : one.rindex(b"]")])
    return (
        b'{"agent_version":"0.1.0","sent_at":%d,"config_version":1,"scripts_enabled":false,'
        b'"samples":[%s]}' % (sent_at, b",".join(samples))
    )


class Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: Any = None
        self.buf = bytearray()
        self.head_end = -1
        self.need = -1
        self.chunked = False
        self.close_after = False
        self.job: Any = None
        self.sent_at = 0.0
        self.last_used = time.perf_counter()
        self.ready: asyncio.Future[None] = pool.loop.create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if not self.ready.done():
            self.ready.set_result(None)

    def send(self, data: bytes | Callable[[], bytes], job: Any) -> None:
        self.job = job
        self.sent_at = time.perf_counter()
        # A callable builds the request now: a check-in says when it was *sent*.
        self.transport.write(data if isinstance(data, bytes) else data())

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while self.job is not None:
            if self.head_end < 0:
                i = buf.find(b"\r\n\r\n")
                if i < 0:
                    return
                self.head_end = i + 4
                head = bytes(buf[:i]).lower()
                self.status = int(head[9:12])
                self.close_after = b"\r\nconnection: close" in head
                k = head.find(b"\r\ncontent-length:")
                if k >= 0:
                    end = head.find(b"\r\n", k + 2)
                    self.need = self.head_end + int(head[k + 17 : end if end > 0 else None])
                    self.chunked = False
                else:
                    self.chunked = b"transfer-encoding: chunked" in head
                    self.need = -1
            if self.chunked:
                body = self._chunked_body()
                if body is None:
                    return
            else:
                if self.need < 0 or len(buf) < self.need:
                    if self.need < 0:
                        return  # no length, not chunked: ends with the connection
                    return
                body = bytes(buf[self.head_end : self.need])
                del buf[: self.need]
            self.head_end = -1
            job, self.job = self.job, None
            self.pool.done(self, job, self.status, body, time.perf_counter() - self.sent_at)
            if self.close_after:
                self.transport.close()
                return

    def _chunked_body(self) -> bytes | None:
        buf, pos, out = self.buf, self.head_end, bytearray()
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
            if size == 0:
                end = buf.find(b"\r\n\r\n", eol)
                if end < 0:
                    return None
                del buf[: end + 4]
                return bytes(out)
            if len(buf) < eol + 2 + size + 2:
                return None
            out += buf[eol + 2 : eol + 2 + size]
            pos = eol + 2 + size + 2

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed before it was ready"))
        self.pool.lost(self, self.job, exc)
        self.job = None


class Pool:
    """Keep-alive connections to one server and a queue of requests waiting for one.

    ``on_done(job, status, body, seconds)`` is called for every answer and
    ``on_error(job, reason)`` for a request whose connection failed; a failed
    connection is replaced by a new one on the next request.
    """

    def __init__(
        self,
        host: str,
        port: int,
        max_conns: int,
        on_done: Callable[[Any, int, bytes, float], None],
        on_error: Callable[[Any, str], None],
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.host, self.port, self.max_conns = host, port, max_conns
        self.on_done, self.on_error = on_done, on_error
        self.idle: deque[Conn] = deque()
        self.waiting: deque[tuple[bytes | Callable[[], bytes], Any]] = deque()
        self.open = 0
        self.connecting = 0
        self.peak_waiting = 0
        # Answers with 200 received before the phase ended (not those drained after).
        self.ok_in_phase = 0
        self.errors: Counter[str] = Counter()
        # Called after every answer or error, with the connection now free (or None).
        self.after: Callable[[Conn | None], None] | None = None

    async def connect(self) -> Conn:
        self.open += 1
        self.connecting += 1
        try:
            _transport, conn = await self.loop.create_connection(
                lambda: Conn(self), self.host, self.port
            )
            await conn.ready
            return conn
        except OSError:
            self.open -= 1
            raise
        finally:
            self.connecting -= 1

    async def warm(self, count: int) -> list[Conn]:
        """Open ``count`` connections now (before a clock starts) and keep them idle."""
        conns = []
        for k in range(0, count, 200):
            conns += await asyncio.gather(*(self.connect() for _ in range(min(200, count - k))))
        self.idle.extend(conns)
        return conns

    def submit(self, data: bytes | Callable[[], bytes], job: Any) -> None:
        idle = self.idle
        if idle and idle[-1].last_used < time.perf_counter() - IDLE_MAX_S:
            # The newest idle connection is old, so all are: the server may be closing
            # them right now (its keep-alive timeout), and a request written into that
            # race fails. Close them and open fresh ones instead.
            self.close()
        if idle:
            idle.pop().send(data, job)
            return
        self.waiting.append((data, job))
        if len(self.waiting) > self.peak_waiting:
            self.peak_waiting = len(self.waiting)
        if self.open < self.max_conns and self.connecting < 64:
            self.loop.create_task(self._open_for_waiting())

    async def _open_for_waiting(self) -> None:
        try:
            conn = await self.connect()
        except OSError as exc:
            self.errors[f"connect: {type(exc).__name__}"] += 1
            if self.waiting:
                data, job = self.waiting.popleft()
                self.on_error(job, f"connect: {exc}")
            return
        self._free(conn)

    def _free(self, conn: Conn) -> None:
        if self.waiting:
            data, job = self.waiting.popleft()
            conn.send(data, job)
        else:
            conn.last_used = time.perf_counter()
            self.idle.append(conn)

    def done(self, conn: Conn, job: Any, status: int, body: bytes, seconds: float) -> None:
        self.on_done(job, status, body, seconds)
        if conn.close_after:
            # The server ends this connection: a new one takes over its work.
            if self.after is not None:
                self.after(None)
            elif self.waiting:
                self.loop.create_task(self._open_for_waiting())
        elif self.after is not None:
            self.after(conn)
        else:
            self._free(conn)

    def lost(self, conn: Conn, job: Any, exc: Exception | None) -> None:
        self.open -= 1
        if conn in self.idle:
            self.idle.remove(conn)
        if job is None:
            return  # an idle connection the server closed (its keep-alive timeout)
        reason = f"connection lost: {type(exc).__name__ if exc else 'closed by the server'}"
        self.errors[reason] += 1
        self.on_error(job, reason)
        if self.after is not None:
            self.after(None)
        elif self.waiting and self.open < self.max_conns:
            self.loop.create_task(self._open_for_waiting())

    def close(self) -> None:
        for conn in list(self.idle):
            if conn.transport is not None:
                conn.transport.close()
        self.idle.clear()


class Fleet:
    """The simulated agents: tokens, their prepared request heads, what each last sent."""

    def __init__(self, host: str, port: int, tokens: list[str], *, inventory: bool = False):
        self.host, self.port = host, port
        self.n = len(tokens)
        self.heads = [
            (
                f"POST {CHECKIN_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Bearer {tok}\r\nContent-Type: application/json\r\n"
                "Content-Length: "
            ).encode()
            for tok in tokens
        ]
        self.last_t = array("q", [0]) * self.n
        self.inventory_due = bytearray([1 if inventory else 0]) * self.n
        self.stopped = bytearray(self.n)
        # Wall-clock time of each agent's latest check-in that got a 200 (when it was sent).
        self.last_ok_wall = array("d", [0.0]) * self.n
        self.acked: set[int] = set()
        self.sent: set[int] = set()

    def next_t(self, i: int, now_wall: float) -> int:
        """Agent ``i``'s next sample second (never one it used before)."""
        t = int(now_wall)
        if t <= self.last_t[i]:
            t = self.last_t[i] + 1
        self.last_t[i] = t
        return t

    def build(self, i: int, t: int, sent_at: float) -> bytes:
        """The raw check-in request of agent ``i`` for its sample ``t``, sent at ``sent_at``."""
        inventory = bool(self.inventory_due[i])
        if inventory:
            self.inventory_due[i] = 0
        body = checkin_body(t, int(sent_at), i, inventory=inventory)
        self.sent.add(i << 32 | t)
        return self.heads[i] + b"%d\r\n\r\n" % len(body) + body

    def request(self, i: int, now_wall: float) -> tuple[bytes, int]:
        """The next check-in of agent ``i``, sent now: the raw request bytes and its ``t``."""
        t = self.next_t(i, now_wall)
        return self.build(i, t, now_wall), t

    def raw(self, i: int, body: bytes) -> bytes:
        return self.heads[i] + b"%d\r\n\r\n" % len(body) + body


class Stats:
    """Latencies (ms) and outcomes of one phase."""

    def __init__(self) -> None:
        self.lat_ms = array("d")
        self.net_ms = array("d")
        self.lag_ms = array("d")
        self.done_at = array("d")
        self.ok = 0
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.first_error_bodies: list[str] = []
        self.started = 0.0
        self.ended = 0.0
        self.peak_waiting = 0
        # Answers with 200 received before the phase ended (not those drained after).
        self.ok_in_phase = 0
        self.conn_errors: dict[str, int] = {}

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def timeline(self, step: float = 10.0) -> list[tuple[float, int, float]]:
        """(seconds into the phase, answers, p99 ms) for each ``step`` of the phase."""
        bins: dict[int, list[float]] = {}
        for at, ms in zip(self.done_at, self.lat_ms, strict=True):
            bins.setdefault(int((at - self.started) // step), []).append(ms)
        out = []
        for k in sorted(bins):
            values = sorted(bins[k])
            out.append(
                (k * step, len(values), values[min(len(values) - 1, int(len(values) * 0.99))])
            )
        return out

    def percentile(self, which: str, p: float) -> float:
        values = sorted(getattr(self, which))
        if not values:
            return float("nan")
        k = min(len(values) - 1, max(0, round((len(values) - 1) * p / 100)))
        return values[k]


def _record(fleet: Fleet, stats: Stats, job: Any, status: int, body: bytes, net: float) -> None:
    i, t, due, send_wall = job
    now = time.perf_counter()
    stats.done_at.append(now)
    stats.net_ms.append(net * 1000)
    stats.lat_ms.append((now - due) * 1000 if due else net * 1000)
    if status == 200:
        stats.ok += 1
        fleet.acked.add(i << 32 | t)
        if send_wall > fleet.last_ok_wall[i]:
            fleet.last_ok_wall[i] = send_wall
    else:
        stats.statuses[status] += 1
        stats.errors[f"HTTP {status}"] += 1
        if len(stats.first_error_bodies) < 5:
            stats.first_error_bodies.append(f"{status} {body[:300]!r}")


def _build_now(fleet: Fleet, job: list[Any]) -> bytes:
    job[3] = time.time()
    return fleet.build(job[0], job[1], job[3])


async def run_open(
    fleet: Fleet,
    seconds: float,
    *,
    interval: float = 60.0,
    jitter: float = 3.0,
    max_conns: int = 256,
    stop_at: float | None = None,
    stop_agents: list[int] | None = None,
    on_stop: Callable[[], None] | None = None,
    should_end: Callable[[float], bool] | None = None,
    seed: int = 1,
) -> Stats:
    """Every agent checks in every ``interval`` s (± ``jitter``) for ``seconds`` seconds.

    At ``stop_at`` seconds into the run the ``stop_agents`` fall silent (as stopped
    machines do) while the rest go on. ``should_end(elapsed)`` is asked every second
    and may end the run early.
    """
    stats = Stats()
    pool = Pool(
        fleet.host,
        fleet.port,
        max_conns,
        lambda job, st, body, net: _record(fleet, stats, job, st, body, net),
        lambda job, reason: stats.errors.__setitem__(reason, stats.errors[reason] + 1),
    )
    await pool.warm(min(max_conns, 32))
    rng = random.Random(seed)
    start = time.perf_counter()
    heap = [(start + rng.random() * interval, i) for i in range(fleet.n) if not fleet.stopped[i]]
    heapq.heapify(heap)
    stats.started = start
    end = start + seconds
    stopped = False
    next_check = start + 1.0
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        if not stopped and stop_at is not None and now >= start + stop_at:
            if on_stop is not None:
                on_stop()  # may narrow stop_agents (in place) first
            for i in stop_agents or []:
                fleet.stopped[i] = 1
            stopped = True
        if now >= next_check:
            next_check = now + 1.0
            if should_end is not None and should_end(now - start):
                break
        wall = time.time()
        while heap and heap[0][0] <= now:
            due, i = heapq.heappop(heap)
            if fleet.stopped[i]:
                continue
            t = fleet.next_t(i, wall)
            stats.lag_ms.append((now - due) * 1000)
            # The sample is taken when due; the request is built when a connection
            # takes it, so its sent_at is the real sending time (a request that waited
            # for a connection would otherwise look like a clock 30+ s slow).
            job = [i, t, due, wall]
            pool.submit(functools.partial(_build_now, fleet, job), job)
            heapq.heappush(heap, (due + interval + (rng.random() * 2 - 1) * jitter, i))
        # Wake up every few milliseconds and send all that came due meanwhile: a
        # wake-up per check-in would cost the generator more than the request does.
        wait = (heap[0][0] - time.perf_counter()) if heap else TICK_S
        await asyncio.sleep(min(max(wait, TICK_S), 0.05))
    stats.ended = time.perf_counter()
    stats.ok_in_phase = stats.ok
    # Let the requests in flight finish (they are part of what was sent).
    deadline = time.perf_counter() + 30
    while (pool.open - len(pool.idle) > 0 or pool.waiting) and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    pool.close()
    stats.peak_waiting = pool.peak_waiting
    stats.conn_errors = dict(pool.errors)
    return stats


async def run_closed(fleet: Fleet, seconds: float, concurrency: int) -> Stats:
    """As fast as the server answers: ``concurrency`` requests in flight for ``seconds``."""
    stats = Stats()
    agents = [i for i in range(fleet.n) if not fleet.stopped[i]]
    pool = Pool(
        fleet.host,
        fleet.port,
        concurrency,
        lambda job, st, body, net: _record(fleet, stats, job, st, body, net),
        lambda job, reason: stats.errors.__setitem__(reason, stats.errors[reason] + 1),
    )
    conns = await pool.warm(concurrency)
    loop = asyncio.get_running_loop()
    state: dict[str, Any] = {"pos": 0, "active": 0, "end": 0.0}

    async def reopen() -> None:
        try:
            conn = await pool.connect()
        except OSError:
            state["active"] -= 1
            return
        issue(conn)

    def issue(conn: Conn | None) -> None:
        if time.perf_counter() >= state["end"]:
            state["active"] -= 1
            if conn is not None:
                pool.idle.append(conn)
            return
        if conn is None:
            # A connection died under a request: replace it, to keep the concurrency.
            loop.create_task(reopen())
            return
        i = agents[state["pos"] % len(agents)]
        state["pos"] += 1
        wall = time.time()
        data, t = fleet.request(i, wall)
        conn.send(data, (i, t, 0.0, wall))

    pool.after = issue
    pool.idle.clear()
    stats.started = time.perf_counter()
    state["end"] = stats.started + seconds
    state["active"] = len(conns)
    for conn in conns:
        issue(conn)
    while state["active"] > 0 and time.perf_counter() < state["end"] + 30:
        await asyncio.sleep(0.01)
    stats.ended = time.perf_counter()
    stats.conn_errors = dict(pool.errors)
    pool.after = None
    pool.close()
    return stats


async def send_one(host: str, port: int, data: bytes) -> tuple[int, bytes]:
    """One request on a connection of its own (for the replay checks)."""
    result: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()

    def done(job: Any, status: int, body: bytes, seconds: float) -> None:
        if not result.done():
            result.set_result((status, body))

    def error(job: Any, reason: str) -> None:
        if not result.done():
            result.set_exception(ConnectionError(reason))

    pool = Pool(host, port, 1, done, error)
    pool.submit(data, ("one",))
    try:
        return await asyncio.wait_for(result, 60)
    finally:
        pool.close()


async def send_many(
    host: str, port: int, requests: list[bytes], concurrency: int = 32
) -> list[tuple[int, bytes]]:
    """Many one-off requests over ``concurrency`` keep-alive connections, answers in order."""
    answers: list[Any] = [None] * len(requests)
    remaining = [len(requests)]
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def settle(k: int, value: Any) -> None:
        answers[k] = value
        remaining[0] -= 1
        if remaining[0] == 0 and not finished.done():
            finished.set_result(None)

    pool = Pool(
        host,
        port,
        concurrency,
        lambda job, status, body, s: settle(job, (status, body)),
        lambda job, reason: settle(job, (0, reason.encode())),
    )
    for k, data in enumerate(requests):
        pool.submit(data, k)
    if requests:
        await asyncio.wait_for(finished, 300)
    pool.close()
    return answers
