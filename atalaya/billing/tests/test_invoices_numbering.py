"""Gap-free numbers under concurrency: workers issuing drafts of one series at once.

On PostgreSQL (CI's second pass, ATALAYA_DATABASE_URL) the threads share the test
database and the series row's UPDATE lock is what orders them; on SQLite they race
on a file copy in WAL mode, as production does. Either way every issued invoice has
its own number and together they are 1..n with no gap.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connection, connections

from atalaya.billing.models import Invoice, InvoiceSeries
from atalaya.billing.services import invoices
from atalaya.billing.tests.factories import billing_ready, series
from atalaya.core import services as core_services
from atalaya.tickets.tests.test_services import threads_use_a_file_database


@pytest.mark.django_db(transaction=True)
def test_concurrent_issuers_get_consecutive_numbers(settings, tmp_path: Path) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    client = core_services.create_client(actor=None, name="Concurrent Invoices S.L.")
    billing_ready(client)
    numbering = series("RACE", "RACE-")
    threads_count, per_thread = 2 if connection.vendor == "sqlite" else 4, 6
    drafts = [
        invoices.create_draft(
            actor=None,
            client=client,
            series=numbering,
            lines=[{"description": f"d{i}", "quantity": "1", "unit_price": "10", "vat_rate": "21"}],
        ).pk
        for i in range(threads_count * per_thread)
    ]
    got: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads_count)
    stored: list[tuple[int, str]] = []

    def worker(ids: list[int]) -> None:
        try:
            start.wait()
            for pk in ids:
                issued = invoices.issue_invoice(actor=None, invoice=Invoice.objects.get(pk=pk))
                with lock:
                    got.append(issued.number or 0)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def read_back() -> None:
        stored.extend(
            Invoice.objects.filter(series__code="RACE", status="issued").values_list(
                "number", "code"
            )
        )
        stored.append((InvoiceSeries.objects.get(code="RACE").next_number, ""))
        connections.close_all()

    with threads_use_a_file_database(tmp_path):
        chunks = [drafts[i::threads_count] for i in range(threads_count)]
        threads = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        reader = threading.Thread(target=read_back)
        reader.start()
        reader.join(timeout=60)
    assert not errors, f"{connection.vendor}: {errors!r}"
    total = threads_count * per_thread
    assert sorted(got) == list(range(1, total + 1)), "a gap or a duplicate"
    *rows, (next_number, _blank) = stored
    assert sorted(n for n, _code in rows) == list(range(1, total + 1))
    assert {code for _n, code in rows} == {f"RACE-{n:05d}" for n in range(1, total + 1)}
    assert next_number == total + 1
