"""API routes of monitoring: devices, alerts, remote actions and enrollment tokens."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["monitoring"])
