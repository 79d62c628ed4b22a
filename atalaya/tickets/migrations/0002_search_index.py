"""Full-text index of SearchDocument: FTS5 on SQLite, a GIN tsvector index on PostgreSQL."""

from __future__ import annotations

from django.db import migrations

SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE tickets_search_fts USING fts5(
        body, content='tickets_searchdocument', content_rowid='ticket_id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER tickets_search_ai AFTER INSERT ON tickets_searchdocument BEGIN
        INSERT INTO tickets_search_fts(rowid, body) VALUES (new.ticket_id, new.body); END""",
    """CREATE TRIGGER tickets_search_ad AFTER DELETE ON tickets_searchdocument BEGIN
        INSERT INTO tickets_search_fts(tickets_search_fts, rowid, body)
        VALUES ('delete', old.ticket_id, old.body); END""",
    """CREATE TRIGGER tickets_search_au AFTER UPDATE ON tickets_searchdocument BEGIN
        INSERT INTO tickets_search_fts(tickets_search_fts, rowid, body)
        VALUES ('delete', old.ticket_id, old.body);
        INSERT INTO tickets_search_fts(rowid, body) VALUES (new.ticket_id, new.body); END""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS tickets_search_au",
    "DROP TRIGGER IF EXISTS tickets_search_ad",
    "DROP TRIGGER IF EXISTS tickets_search_ai",
    "DROP TABLE IF EXISTS tickets_search_fts",
]
PG_FORWARD = [
    """CREATE INDEX tickets_search_gin ON tickets_searchdocument USING GIN (
        (to_tsvector('english'::regconfig, body) || to_tsvector('spanish'::regconfig, body)))""",
]
PG_BACKWARD = ["DROP INDEX IF EXISTS tickets_search_gin"]


def forward(apps, schema_editor):
    statements = PG_FORWARD if schema_editor.connection.vendor == "postgresql" else SQLITE_FORWARD
    for sql in statements:
        schema_editor.execute(sql)


def backward(apps, schema_editor):
    statements = PG_BACKWARD if schema_editor.connection.vendor == "postgresql" else SQLITE_BACKWARD
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
