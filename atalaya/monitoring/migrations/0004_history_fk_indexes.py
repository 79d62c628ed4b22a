"""The history tables lose the single-column foreign-key index their composite primary
key already provides (its leading column): fewer bytes per row and one index fewer for
every sample the check-in inserts.

On SQLite Django rebuilds the four tables for this, which would undo 0002's WITHOUT
ROWID rollup tables, so the rollups are laid out that way again afterwards.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models


def rollups_without_rowid(apps, schema_editor):
    layout = importlib.import_module("atalaya.monitoring.migrations.0002_rollup_storage")
    if schema_editor.connection.vendor == "sqlite":
        layout._rebuild(schema_editor, without_rowid=True)


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0003_volume_fillfactor"),
    ]

    operations = [
        migrations.AlterField(
            model_name="metricrollup",
            name="device",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="monitoring.device",
            ),
        ),
        migrations.AlterField(
            model_name="metricsample",
            name="device",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="monitoring.device",
            ),
        ),
        migrations.AlterField(
            model_name="volumerollup",
            name="volume",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="monitoring.volume",
            ),
        ),
        migrations.AlterField(
            model_name="volumesample",
            name="volume",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="monitoring.volume",
            ),
        ),
        migrations.RunPython(rollups_without_rowid, migrations.RunPython.noop, elidable=False),
    ]
