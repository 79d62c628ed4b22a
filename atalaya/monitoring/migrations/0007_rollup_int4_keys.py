"""The rollups' device and volume keys in 4-byte integers (models.Int4ForeignKey).

Measured with the rollups made bucket by bucket as the periodic task makes them (their
primary-key pages then split and fill as in production): a PostgreSQL device-day was
50.9 KB after 0006, above the 50 KB the issue allows. The metric row's data drops to
24 bytes (one alignment step less) and every primary-key entry of both tables by 8.
PostgreSQL only: SQLite stores integers by value either way, and a rebuild there would
lose the WITHOUT ROWID layout of 0002.
"""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations

import atalaya.monitoring.models


def forward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            'ALTER TABLE "monitoring_metricrollup" ALTER COLUMN "device_id" TYPE integer'
        )
        schema_editor.execute(
            'ALTER TABLE "monitoring_volumerollup" ALTER COLUMN "volume_id" TYPE integer'
        )


def backward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            'ALTER TABLE "monitoring_metricrollup" ALTER COLUMN "device_id" TYPE bigint'
        )
        schema_editor.execute(
            'ALTER TABLE "monitoring_volumerollup" ALTER COLUMN "volume_id" TYPE bigint'
        )


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0006_compact_rollups")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, backward, elidable=False)],
            state_operations=[
                migrations.AlterField(
                    model_name="metricrollup",
                    name="device",
                    field=atalaya.monitoring.models.Int4ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="monitoring.device",
                    ),
                ),
                migrations.AlterField(
                    model_name="volumerollup",
                    name="volume",
                    field=atalaya.monitoring.models.Int4ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="monitoring.volume",
                    ),
                ),
            ],
        )
    ]
