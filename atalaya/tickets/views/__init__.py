"""Ticket views, one module per area: tickets (list and page), dashboards (who, flooded)."""
