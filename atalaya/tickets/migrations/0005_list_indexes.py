"""Ticket-list indexes for a million tickets (measured by benchmarks/tickets.py).

ticket_status_updated becomes ticket_status_cover, the same leading columns plus the
ones the list filters open tickets on, so those filters are answered from the index;
ticket_category_updated serves the list filtered by category, newest activity first.
"""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("tickets", "0004_search_vector")]

    operations = [
        migrations.RemoveIndex(model_name="ticket", name="ticket_status_updated"),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                fields=[
                    "status", "-updated_at", "priority", "assignee", "category", "created_at",
                    "first_response_due_at", "first_responded_at", "resolution_due_at",
                    "resolved_at", "sla_paused_at",
                ],
                name="ticket_status_cover",
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(fields=["category", "-updated_at"], name="ticket_category_updated"),
        ),
    ]
