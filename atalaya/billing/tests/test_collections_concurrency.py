"""Two workers settling (or returning) one direct debit at once: the compare-and-set
lets exactly one of them move it, the other gets a clear error, one payment exists."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection

from atalaya.billing.models import Collection, CollectionEvent, Payment
from atalaya.billing.services import collections
from atalaya.billing.tests import factories
from atalaya.billing.tests.payments_fixtures import (
    creditor_settings,
    dd_invoice,
    mandate_of,
    scheduled,
)


def _race(work: Any) -> list[str]:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        try:
            barrier.wait()
            for _attempt in range(100):
                try:
                    work()
                except OperationalError as exc:
                    # SQLite's shared-cache test database answers "table is locked" at
                    # once instead of waiting; a real worker retries, and so does this
                    # one (both could otherwise give up and nothing would move).
                    if "locked" not in str(exc):
                        raise
                    time.sleep(0.01)
                    continue
                outcomes.append("moved")
                return
            outcomes.append("gave up: the table stayed locked")
        except ValidationError as exc:
            outcomes.append("refused: " + " ".join(exc.messages))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_two_workers_settle_one_collection(world):
    factories.make_billing_contacts(world)
    creditor_settings()
    collection = scheduled(dd_invoice(world.client_a, mandate_of(world.client_a)))
    batch = collections.create_batch(actor=None, due_on=collection.due_on, sequence="FRST")
    collections.submit_batch(actor=None, batch=batch)

    def settle() -> None:
        copy = Collection.objects.select_related("client").get(pk=collection.pk)
        collections.mark_settled(actor=None, collection=copy)

    outcomes = _race(settle)
    assert sorted(o.split(":")[0] for o in outcomes) == ["moved", "refused"], outcomes
    assert Payment.objects.filter(collection=collection).count() == 1
    assert (
        CollectionEvent.objects.filter(collection=collection, to_status="provisional").count() == 1
    )

    def give_back() -> None:
        copy = Collection.objects.select_related("client").get(pk=collection.pk)
        collections.mark_returned(actor=None, collection=copy, reason_code="AM04")

    outcomes = _race(give_back)
    assert sorted(o.split(":")[0] for o in outcomes) == ["moved", "refused"], outcomes
    assert CollectionEvent.objects.filter(collection=collection, to_status="returned").count() == 1
    assert Payment.objects.get(collection=collection).returned_at is not None
