"""Background jobs: the periodic tasks are scheduled, run, and the Redis job store works."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import import_module
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import override_settings
from django.utils import timezone
from huey import RedisHuey
from huey.contrib.djhuey import HUEY

from atalaya.conftest import World
from atalaya.core.tasks import clear_expired_sessions
from atalaya.tickets import services
from atalaya.tickets.models import EventKind, Status, Ticket
from atalaya.tickets.tasks import auto_close_resolved_tickets

REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 13
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def immediate() -> Iterator[None]:
    """Huey's immediate mode: calling a task runs it at once, in this process."""
    HUEY.immediate = True
    try:
        yield
    finally:
        HUEY.immediate = settings.HUEY["immediate"]


def test_periodic_tasks_are_scheduled() -> None:
    def due(at: datetime) -> set[str]:
        return {task.name for task in HUEY.read_periodic(at)}

    nightly = clear_expired_sessions.task_class.__name__
    hourly = auto_close_resolved_tickets.task_class.__name__
    assert nightly in due(datetime(2026, 11, 26, 3, 17, tzinfo=UTC))
    assert nightly not in due(datetime(2026, 11, 26, 4, 17, tzinfo=UTC))
    assert hourly in due(datetime(2026, 11, 26, 14, 7, tzinfo=UTC))
    assert hourly not in due(datetime(2026, 11, 26, 14, 8, tzinfo=UTC))


@pytest.mark.django_db
def test_clear_expired_sessions_runs(immediate: None) -> None:
    store = import_module(settings.SESSION_ENGINE).SessionStore
    live, old = store(), store()
    live["k"] = old["k"] = 1
    live.create()
    old.create()
    Session.objects.filter(session_key=old.session_key).update(
        expire_date=timezone.now() - timedelta(days=1)
    )
    clear_expired_sessions()
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]


def _resolved(world: World, days_ago: int) -> Ticket:
    at = timezone.now() - timedelta(days=days_ago + 1)
    ticket = services.create_ticket(
        actor=world.tech, client=world.client_a, subject="Printer", contact=world.contact_a, now=at
    )
    services.change_status(
        ticket, actor=world.tech, status=Status.RESOLVED, now=at + timedelta(days=1)
    )
    return ticket


@pytest.mark.django_db
def test_auto_close_closes_only_stale_resolved_tickets(world: World, immediate: None) -> None:
    stale, fresh, reopened = _resolved(world, 8), _resolved(world, 2), _resolved(world, 9)
    services.add_reply(reopened, actor=world.portal_a, body="Still broken")
    # Periodic tasks keep no results in huey; what they did is in the database.
    auto_close_resolved_tickets()
    for ticket in (stale, fresh, reopened):
        ticket.refresh_from_db()
    assert stale.status == Status.CLOSED and stale.closed_at is not None
    assert (fresh.status, reopened.status) == (Status.RESOLVED, Status.OPEN)
    event = stale.events.filter(kind=EventKind.STATUS).latest("created_at")
    assert event.actor_id is None and event.changes == {"status": ["resolved", "closed"]}
    assert event.is_public
    # A second run finds nothing more to do.
    events = stale.events.count()
    auto_close_resolved_tickets()
    assert stale.events.count() == events
    assert services.close_stale_resolved_tickets(days=7) == 0


@pytest.mark.django_db
def test_auto_close_can_be_turned_off(world: World, immediate: None) -> None:
    stale = _resolved(world, 30)
    with override_settings(TICKET_AUTOCLOSE_DAYS=0):
        auto_close_resolved_tickets()
    stale.refresh_from_db()
    assert stale.status == Status.RESOLVED


def _redis_or_fail() -> None:
    try:
        socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=2).close()
    except OSError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT}; CI requires it.")
        pytest.skip(f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT} (required when CI=true)")


def test_redis_store_round_trip() -> None:
    """A task enqueued in Redis is dequeued, run and its result read back, as a worker does."""
    _redis_or_fail()
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    huey = RedisHuey(f"atalaya-test-{uuid.uuid4().hex}", url=url)

    @huey.task()
    def add(a: int, b: int) -> int:
        return a + b

    try:
        result = add(2, 3)
        assert huey.pending_count() == 1
        huey.execute(huey.dequeue())
        assert result.get() == 5 and huey.pending_count() == 0
    finally:
        huey.flush()


def test_settings_use_redis_and_the_consumer_runs_jobs_from_it(tmp_path: Path) -> None:
    """With ATALAYA_REDIS_URL set, jobs go to Redis and ``run_huey`` executes them."""
    _redis_or_fail()
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    env = {
        **os.environ,
        "ATALAYA_REDIS_URL": url,
        "ATALAYA_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "atalaya.settings",
    }
    env.pop("ATALAYA_DATABASE_URL", None)
    queue = RedisHuey("atalaya", url=url)
    queue.flush()
    atalaya = [sys.executable, "-m", "atalaya.cli"]
    subprocess.run([*atalaya, "migrate", "-v0"], env=env, check=True, cwd=REPO, timeout=120)
    enqueue = (
        "from huey.contrib.djhuey import HUEY\n"
        "from atalaya.core.tasks import clear_expired_sessions\n"
        "print(type(HUEY).__name__)\n"
        "clear_expired_sessions()\n"
    )
    out = subprocess.run(
        [*atalaya, "shell", "-c", enqueue],
        env=env,
        check=True,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert out.strip().splitlines()[-1] == "RedisHuey"
    assert queue.pending_count() == 1
    consumer = subprocess.Popen(
        [*atalaya, "run_huey", "--workers", "1"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while queue.pending_count() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert queue.pending_count() == 0
    finally:
        consumer.terminate()
        log, _ = consumer.communicate(timeout=30)
        queue.flush()
    assert "clear_expired_sessions" in log and "Traceback" not in log, log
