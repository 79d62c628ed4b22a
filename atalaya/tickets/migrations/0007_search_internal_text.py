"""Split each search document into what the client may read and the internal notes.

Staff search both parts; a client's search only the public one. Before this, notes
shared one text with the public messages, and client searches needed a second check
against the timeline (word-as-typed on SQLite). The documents are rebuilt from the
timelines: subjects and public messages of the ticket and of the tickets merged into it
make ``body``, their internal notes ``internal``.
"""

from __future__ import annotations

from django.db import migrations, models

PUBLIC_KINDS = "('created', 'reply', 'status', 'attachment')"
# The ticket and the tickets merged into it, for the document of ticket_id.
FAMILY = (
    "SELECT t.id FROM tickets_ticket t "
    "WHERE t.id = tickets_searchdocument.ticket_id "
    "OR t.merged_into_id = tickets_searchdocument.ticket_id"
)


def _rebuild_sql(join_text: str) -> str:
    """UPDATE statement rebuilding both parts; ``join_text`` aggregates column x."""
    public = (
        f"SELECT t.subject AS x FROM tickets_ticket t WHERE t.id IN ({FAMILY}) "
        "UNION ALL "
        f"SELECT e.body AS x FROM tickets_ticketevent e WHERE e.ticket_id IN ({FAMILY}) "
        f"AND e.is_public AND e.kind IN {PUBLIC_KINDS} AND e.body <> ''"
    )
    notes = (
        f"SELECT e.body AS x FROM tickets_ticketevent e WHERE e.ticket_id IN ({FAMILY}) "
        "AND e.kind = 'note' AND e.body <> ''"
    )
    return (
        f"UPDATE tickets_searchdocument SET "
        f"body = COALESCE((SELECT {join_text} FROM ({public}) AS p), ''), "
        f"internal = COALESCE((SELECT {join_text} FROM ({notes}) AS n), '')"
    )


SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS tickets_search_au",
    "DROP TRIGGER IF EXISTS tickets_search_ad",
    "DROP TRIGGER IF EXISTS tickets_search_ai",
    "DROP TABLE IF EXISTS tickets_search_fts",
]


def _sqlite_create(columns: list[str]) -> list[str]:
    names = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    return [
        f"""CREATE VIRTUAL TABLE tickets_search_fts USING fts5(
            {names}, content='tickets_searchdocument', content_rowid='ticket_id',
            tokenize='porter unicode61 remove_diacritics 2')""",
        f"""CREATE TRIGGER tickets_search_ai AFTER INSERT ON tickets_searchdocument BEGIN
            INSERT INTO tickets_search_fts(rowid, {names}) VALUES (new.ticket_id, {new}); END""",
        f"""CREATE TRIGGER tickets_search_ad AFTER DELETE ON tickets_searchdocument BEGIN
            INSERT INTO tickets_search_fts(tickets_search_fts, rowid, {names})
            VALUES ('delete', old.ticket_id, {old}); END""",
        f"""CREATE TRIGGER tickets_search_au AFTER UPDATE ON tickets_searchdocument BEGIN
            INSERT INTO tickets_search_fts(tickets_search_fts, rowid, {names})
            VALUES ('delete', old.ticket_id, {old});
            INSERT INTO tickets_search_fts(rowid, {names}) VALUES (new.ticket_id, {new}); END""",
        "INSERT INTO tickets_search_fts(tickets_search_fts) VALUES ('rebuild')",
    ]


def _pg_vector(expression: str) -> str:
    return (
        f"to_tsvector('english'::regconfig, {expression}) "
        f"|| to_tsvector('spanish'::regconfig, {expression})"
    )


PG_DROP = [
    "DROP INDEX IF EXISTS tickets_search_vector_gin",
    "ALTER TABLE tickets_searchdocument DROP COLUMN IF EXISTS search_vector",
]
# Staff match across both parts through the stored column. Clients only the public part,
# through an expression index: client searches are scoped to one client's tickets, so
# recomputing a few vectors on recheck is cheap, while a second stored vector made every
# row (and every staff search reading rows) half as wide again.
PG_PUBLIC_VECTOR = _pg_vector("body")
PG_CREATE = [
    f"""ALTER TABLE tickets_searchdocument ADD COLUMN search_vector tsvector
        GENERATED ALWAYS AS ({_pg_vector("body || ' ' || internal")}) STORED""",
    "CREATE INDEX tickets_search_vector_gin ON tickets_searchdocument USING GIN (search_vector)",
    f"CREATE INDEX tickets_search_public_gin ON tickets_searchdocument USING GIN (({PG_PUBLIC_VECTOR}))",
]
PG_OLD = [
    f"""ALTER TABLE tickets_searchdocument ADD COLUMN search_vector tsvector
        GENERATED ALWAYS AS ({_pg_vector("body")}) STORED""",
    "CREATE INDEX tickets_search_vector_gin ON tickets_searchdocument USING GIN (search_vector)",
]
FOLD_BACK = "UPDATE tickets_searchdocument SET body = body || chr(10) || internal WHERE internal <> ''"


def drop_indexes(apps, schema_editor):
    statements = PG_DROP if schema_editor.connection.vendor == "postgresql" else SQLITE_DROP
    for sql in statements:
        schema_editor.execute(sql)


def rebuild(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_rebuild_sql("string_agg(x, E'\\n')"))
        statements = PG_CREATE
    else:
        schema_editor.execute(_rebuild_sql("group_concat(x, char(10))"))
        statements = _sqlite_create(["body", "internal"])
    for sql in statements:
        schema_editor.execute(sql)


def unsplit(apps, schema_editor):
    """Backward: fold the notes back into the one text and restore the old indexes."""
    if schema_editor.connection.vendor == "postgresql":
        for sql in PG_DROP[:1] + ["DROP INDEX IF EXISTS tickets_search_public_gin"] + PG_DROP[1:]:
            schema_editor.execute(sql)
        schema_editor.execute(FOLD_BACK)
        for sql in PG_OLD:
            schema_editor.execute(sql)
    else:
        for sql in SQLITE_DROP:
            schema_editor.execute(sql)
        schema_editor.execute(FOLD_BACK.replace("chr(10)", "char(10)"))


def restore_old_fts(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        for sql in _sqlite_create(["body"]):
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0006_open_tickets_index")]

    operations = [
        migrations.RunPython(drop_indexes, restore_old_fts),
        migrations.AddField(
            model_name="searchdocument",
            name="internal",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RunPython(rebuild, unsplit),
    ]
