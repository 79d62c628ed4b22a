"""PostgreSQL: keep each search document's tsvector in a stored column, indexed by GIN.

With only an expression index, every row the planner checks outside the index (a
ticket list walked in its own order, a lossy bitmap page) recomputes two to_tsvector
calls over the whole document, about 0.1 ms each time: a search over a million tickets
took seconds. A generated column is computed once per write and kept by the database
itself, so the service layer does not change. SQLite is unaffected (FTS5 keeps its own
index).
"""

from __future__ import annotations

from django.db import migrations

PG_FORWARD = [
    """ALTER TABLE tickets_searchdocument ADD COLUMN search_vector tsvector
        GENERATED ALWAYS AS (
            to_tsvector('english'::regconfig, body) || to_tsvector('spanish'::regconfig, body)
        ) STORED""",
    "CREATE INDEX tickets_search_vector_gin ON tickets_searchdocument USING GIN (search_vector)",
    "DROP INDEX IF EXISTS tickets_search_gin",
]
PG_BACKWARD = [
    """CREATE INDEX tickets_search_gin ON tickets_searchdocument USING GIN (
        (to_tsvector('english'::regconfig, body) || to_tsvector('spanish'::regconfig, body)))""",
    "DROP INDEX IF EXISTS tickets_search_vector_gin",
    "ALTER TABLE tickets_searchdocument DROP COLUMN IF EXISTS search_vector",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in PG_FORWARD:
            schema_editor.execute(sql)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in PG_BACKWARD:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0003_defaults")]
    operations = [migrations.RunPython(forward, backward)]
