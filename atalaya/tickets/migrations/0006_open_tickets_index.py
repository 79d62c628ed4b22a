"""A partial index of open tickets in updated order (used by PostgreSQL; see models.Ticket)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("tickets", "0005_list_indexes")]

    operations = [
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                fields=["-updated_at", "-id"],
                name="ticket_open_updated",
                condition=models.Q(
                    status__in=("new", "open", "waiting_client", "waiting_third_party")
                ),
            ),
        ),
    ]
