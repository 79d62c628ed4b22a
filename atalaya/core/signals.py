"""Signals core sends so that apps built on it can follow changes without core knowing them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent with ``client`` after its time zone, working days, hours or holidays change, so
# clocks laid out on the old calendar (ticket SLAs) can be laid out again.
client_calendar_changed = Signal()
