"""Awareness campaigns: short hygiene tips mailed to a client's users on a schedule."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from atalaya.core.models import Client, Contact
from atalaya.security.models.common import StaffOnlyQuerySet


class AwarenessTip(models.Model):
    """One tip in both languages. Atalaya ships a library (``is_builtin``); staff add
    their own. ``key`` is stable so the shipped library can be updated in place."""

    key = models.SlugField(max_length=80, unique=True)
    title_en = models.CharField(max_length=200)
    title_es = models.CharField(max_length=200)
    body_en = models.TextField()
    body_es = models.TextField()
    is_builtin = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class AwarenessCampaign(models.Model):
    """Tips sent in order to a client's users (contacts flagged as users), one every
    ``every_days`` from ``starts_on``; ``next_send_at`` is what the scheduler claims."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    tips = models.ManyToManyField(AwarenessTip, through="CampaignTip", related_name="+")
    starts_on = models.DateField()
    every_days = models.PositiveIntegerField(default=7)
    next_send_at = models.DateTimeField(null=True, blank=True)
    sent_count = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class CampaignTip(models.Model):
    campaign = models.ForeignKey(AwarenessCampaign, on_delete=models.CASCADE)
    tip = models.ForeignKey(AwarenessTip, on_delete=models.PROTECT)
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["campaign", "position"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "position"], name="campaign_tip_position")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}#{self.position}"


class AwarenessDelivery(models.Model):
    """One tip mailed to one contact; the mail's acknowledgement and opt-out links
    carry ``token`` (stored hashed), so a click proves which delivery it was."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    campaign = models.ForeignKey(
        AwarenessCampaign, on_delete=models.PROTECT, related_name="deliveries"
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="+")
    tip = models.ForeignKey(AwarenessTip, on_delete=models.PROTECT, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    outbound = models.ForeignKey(
        "mail.OutboundMessage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact", "tip"], name="delivery_once")
        ]

    def __str__(self) -> str:
        return f"{self.tip_id} to {self.contact_id}"


class AwarenessOptOut(models.Model):
    """A contact who asked for no more awareness mail from this client's campaigns."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    via = models.CharField(max_length=20, default="link")

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "contact"], name="awareness_optout_once")
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} opted out"
