"""Notifications: the ticket services' signals become outbox mails (filled in next)."""

from __future__ import annotations
