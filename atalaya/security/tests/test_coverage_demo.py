"""The coverage and awareness demo module: attestations and a paused campaign with a
couple of deliveries, through the services, no mail left queued, repeatable by seed."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from atalaya.core.demo.security_coverage import load_security_coverage
from atalaya.mail.models import Delivery, OutboundMessage
from atalaya.security import awareness, coverage
from atalaya.security.models import AwarenessCampaign, AwarenessDelivery, ProtectionAttestation

pytestmark = pytest.mark.django_db


def test_demo_module(world):
    from atalaya.core import services as core_services

    for n in range(4):
        core_services.create_contact(
            actor=None, clients=[world.client_a], name=f"User {n}", email=f"u{n}@alfa.example"
        )
    loader = SimpleNamespace(
        users={"admin": world.admin},
        clients={"a": world.client_a, "b": world.client_b},
        plan=SimpleNamespace(now=timezone.now()),
        progress=lambda message: None,
    )
    counts = load_security_coverage(loader, 7)
    assert counts["campaigns"] == 2 and counts["deliveries"] == 3  # 2 for A, 1 for B
    assert ProtectionAttestation.objects.count() == counts["attestations"] > 0
    assert AwarenessDelivery.objects.filter(acknowledged_at__isnull=False).count() == 2
    assert not AwarenessCampaign.objects.filter(is_active=True).exists()
    mails = OutboundMessage.objects.filter(kind="awareness")
    assert mails.count() == 3 and not mails.exclude(status=Delivery.CANCELLED).exists()
    # Nothing more goes out later, and the coverage page has something to show.
    assert awareness.send_due(now=timezone.now() + timedelta(days=30)) == 0
    assert coverage.coverage_of(world.client_a).covered > 0
