"""Rollups in small integers: the bucket's number instead of its epoch second, hundredths
of a percent in smallints, free space in whole MiB, the load as a ``real``.

PostgreSQL's history of a device-day went from 59.6 KB to under 50 KB (the 15-minute
rollups, 90 days of them, are most of it). Both tables are rebuilt (their column types
and order change; PostgreSQL pads by column order) and the rows converted; on SQLite
they stay WITHOUT ROWID, on PostgreSQL they keep their BRIN index on the bucket.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

import atalaya.monitoring.models

METRIC = "monitoring_metricrollup"
VOLUME = "monitoring_volumerollup"


def _columns(vendor: str, table: str) -> str:
    owner = "device_id" if table == METRIC else "volume_id"
    target = "monitoring_device" if table == METRIC else "monitoring_volume"
    unsigned = " unsigned" if vendor == "sqlite" else ""
    # PostgreSQL gets its foreign key after the copy (a deferred key's pending checks
    # would forbid the index that follows in the same transaction).
    fk = f' REFERENCES "{target}" ("id") DEFERRABLE INITIALLY DEFERRED' if unsigned else ""
    head = (
        f'"{owner}" bigint NOT NULL{fk}, "bucket" integer NOT NULL,'
        f' "samples" smallint{unsigned} NOT NULL CHECK ("samples" >= 0),'
    )
    if table == METRIC:
        body = (
            ' "cpu_avg_x100" smallint NULL, "cpu_max_x100" smallint NULL,'
            ' "mem_avg_x100" smallint NULL, "mem_max_x100" smallint NULL,'
            ' "swap_max_x100" smallint NULL, "load1_avg" real NULL,'
        )
    else:
        body = (
            ' "used_pct_max_x100" smallint NOT NULL, "free_avg_mib" integer NOT NULL,'
            ' "free_min_mib" integer NOT NULL,'
        )
    return f'{head}{body} PRIMARY KEY ("{owner}", "bucket")'


def _pct(column: str) -> str:
    return f"CAST(ROUND({column} * 100) AS SMALLINT)"


CONVERT = {
    METRIC: (
        "device_id, bucket, samples, cpu_avg_x100, cpu_max_x100, mem_avg_x100, mem_max_x100,"
        " swap_max_x100, load1_avg",
        f"device_id, bucket / 900, samples, {_pct('cpu_avg')}, {_pct('cpu_max')},"
        f" {_pct('mem_avg')}, {_pct('mem_max')}, {_pct('swap_max')}, load1_avg",
    ),
    VOLUME: (
        "volume_id, bucket, samples, used_pct_max_x100, free_avg_mib, free_min_mib",
        f"volume_id, bucket / 900, samples, {_pct('used_pct_max')},"
        " CAST(ROUND(free_avg / 1048576.0) AS INTEGER), CAST(free_min / 1048576 AS INTEGER)",
    ),
}


def forward(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    suffix = " WITHOUT ROWID" if vendor == "sqlite" else ""
    with schema_editor.connection.cursor() as cursor:
        for table, (names, values) in CONVERT.items():
            cursor.execute(f'CREATE TABLE "new__{table}" ({_columns(vendor, table)}){suffix}')
            cursor.execute(
                f'INSERT INTO "new__{table}" ({names}) SELECT {values} FROM "{table}"'  # noqa: S608
            )
            cursor.execute(f'DROP TABLE "{table}"')
            cursor.execute(f'ALTER TABLE "new__{table}" RENAME TO "{table}"')
            if vendor == "postgresql":
                cursor.execute(f'ALTER INDEX "new__{table}_pkey" RENAME TO "{table}_pkey"')
                cursor.execute(
                    f'CREATE INDEX "{table}_bucket_brin" ON "{table}" USING brin (bucket)'
                )
                owner, target = (
                    ("device_id", "monitoring_device")
                    if table == METRIC
                    else ("volume_id", "monitoring_volume")
                )
                cursor.execute(
                    f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_{owner}_fk"'
                    f' FOREIGN KEY ("{owner}") REFERENCES "{target}" ("id")'
                    " DEFERRABLE INITIALLY DEFERRED"
                )


def backward(apps: Any, schema_editor: Any) -> None:
    raise RuntimeError("the rollups' compact layout is not reversible without loss of units")


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0005_check_state_indexes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, backward, elidable=False)],
            state_operations=[
                migrations.AlterField(
                    model_name="metricrollup", name="bucket", field=models.IntegerField()
                ),
                migrations.RemoveField(model_name="metricrollup", name="cpu_avg"),
                migrations.RemoveField(model_name="metricrollup", name="cpu_max"),
                migrations.RemoveField(model_name="metricrollup", name="mem_avg"),
                migrations.RemoveField(model_name="metricrollup", name="mem_max"),
                migrations.RemoveField(model_name="metricrollup", name="swap_max"),
                migrations.AddField(
                    model_name="metricrollup",
                    name="cpu_avg_x100",
                    field=models.SmallIntegerField(null=True),
                ),
                migrations.AddField(
                    model_name="metricrollup",
                    name="cpu_max_x100",
                    field=models.SmallIntegerField(null=True),
                ),
                migrations.AddField(
                    model_name="metricrollup",
                    name="mem_avg_x100",
                    field=models.SmallIntegerField(null=True),
                ),
                migrations.AddField(
                    model_name="metricrollup",
                    name="mem_max_x100",
                    field=models.SmallIntegerField(null=True),
                ),
                migrations.AddField(
                    model_name="metricrollup",
                    name="swap_max_x100",
                    field=models.SmallIntegerField(null=True),
                ),
                migrations.AlterField(
                    model_name="metricrollup",
                    name="load1_avg",
                    field=atalaya.monitoring.models.RealField(null=True),
                ),
                migrations.AlterField(
                    model_name="volumerollup", name="bucket", field=models.IntegerField()
                ),
                migrations.RemoveField(model_name="volumerollup", name="free_avg"),
                migrations.RemoveField(model_name="volumerollup", name="free_min"),
                migrations.RemoveField(model_name="volumerollup", name="used_pct_max"),
                migrations.AddField(
                    model_name="volumerollup",
                    name="used_pct_max_x100",
                    field=models.SmallIntegerField(default=0),
                    preserve_default=False,
                ),
                migrations.AddField(
                    model_name="volumerollup",
                    name="free_avg_mib",
                    field=models.IntegerField(default=0),
                    preserve_default=False,
                ),
                migrations.AddField(
                    model_name="volumerollup",
                    name="free_min_mib",
                    field=models.IntegerField(default=0),
                    preserve_default=False,
                ),
            ],
        )
    ]
