from __future__ import annotations

from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "atalaya.tickets"
    label = "tickets"
    verbose_name = "Tickets"

    def ready(self) -> None:
        from atalaya.core.signals import client_calendar_changed
        from atalaya.tickets.services import relay_client_clocks

        client_calendar_changed.connect(relay_client_clocks, dispatch_uid="tickets-relay-clocks")
