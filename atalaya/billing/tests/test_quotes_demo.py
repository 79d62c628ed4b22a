"""The demo's quotes: the remote worker bundle × 12 waiting for the client, one accepted
with its agreement, one declined, one expired; no quote mail queued while loading."""

from __future__ import annotations

from decimal import Decimal

import pytest
import time_machine

from atalaya.billing.models import Quote, QuoteStatus
from atalaya.core.demo.loader import load_demo
from atalaya.core.tests.test_demo import NOW
from atalaya.mail.models import OutboundMessage


@pytest.mark.django_db
def test_demo_quotes() -> None:
    with time_machine.travel(NOW, tick=False):
        load_demo(tickets=40, now=NOW)
    by_status = {q.status: q for q in Quote.objects.select_related("agreement")}
    assert set(by_status) == {
        QuoteStatus.SENT,
        QuoteStatus.ACCEPTED,
        QuoteStatus.DECLINED,
        QuoteStatus.EXPIRED,
    }
    waiting = by_status[QuoteStatus.SENT]
    bundle = waiting.lines.get(product__code="remote-worker")
    assert bundle.quantity == Decimal(12) and waiting.code.startswith("Q-")
    accepted = by_status[QuoteStatus.ACCEPTED]
    assert accepted.agreement is not None and accepted.decided_by is not None
    assert accepted.agreement.lines.count() == accepted.lines.count()
    assert by_status[QuoteStatus.DECLINED].decision_note
    assert not OutboundMessage.objects.filter(kind="quote").exists()
