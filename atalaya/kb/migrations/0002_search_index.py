"""Full-text index of articles: FTS5 on SQLite, a stored weighted tsvector on PostgreSQL.

The same shape as the tickets' index (tickets migrations 0002, 0004 and 0007). On SQLite
an external-content FTS5 table over the four text columns (porter stemming, accents
folded) is kept in step by triggers; bm25 weighs the title columns above the bodies. On
PostgreSQL a generated column holds the English and the Spanish stemming of both
languages, titles at weight A and bodies at B (for ts_rank), indexed by GIN.
"""

from __future__ import annotations

from django.db import migrations

COLUMNS = "title_en, title_es, body_en, body_es"
NEW = "new.title_en, new.title_es, new.body_en, new.body_es"
OLD = "old.title_en, old.title_es, old.body_en, old.body_es"

SQLITE_FORWARD = [
    f"""CREATE VIRTUAL TABLE kb_article_fts USING fts5(
        {COLUMNS}, content='kb_article', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    f"""CREATE TRIGGER kb_article_ai AFTER INSERT ON kb_article BEGIN
        INSERT INTO kb_article_fts(rowid, {COLUMNS}) VALUES (new.id, {NEW}); END""",
    f"""CREATE TRIGGER kb_article_ad AFTER DELETE ON kb_article BEGIN
        INSERT INTO kb_article_fts(kb_article_fts, rowid, {COLUMNS})
        VALUES ('delete', old.id, {OLD}); END""",
    # Only a change of the text re-indexes: publishing or re-sharing an article does not.
    f"""CREATE TRIGGER kb_article_au AFTER UPDATE OF {COLUMNS} ON kb_article BEGIN
        INSERT INTO kb_article_fts(kb_article_fts, rowid, {COLUMNS})
        VALUES ('delete', old.id, {OLD});
        INSERT INTO kb_article_fts(rowid, {COLUMNS}) VALUES (new.id, {NEW}); END""",
    "INSERT INTO kb_article_fts(kb_article_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS kb_article_au",
    "DROP TRIGGER IF EXISTS kb_article_ad",
    "DROP TRIGGER IF EXISTS kb_article_ai",
    "DROP TABLE IF EXISTS kb_article_fts",
]


def _weighted(expression: str, weight: str) -> str:
    return (
        f"setweight(to_tsvector('english'::regconfig, {expression}), '{weight}') "
        f"|| setweight(to_tsvector('spanish'::regconfig, {expression}), '{weight}')"
    )


PG_VECTOR = (
    _weighted("title_en || ' ' || title_es", "A")
    + " || "
    + _weighted("body_en || ' ' || body_es", "B")
)
PG_FORWARD = [
    f"ALTER TABLE kb_article ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({PG_VECTOR}) STORED",
    "CREATE INDEX kb_article_search_gin ON kb_article USING GIN (search_vector)",
]
PG_BACKWARD = [
    "DROP INDEX IF EXISTS kb_article_search_gin",
    "ALTER TABLE kb_article DROP COLUMN IF EXISTS search_vector",
]


def forward(apps, schema_editor):
    statements = PG_FORWARD if schema_editor.connection.vendor == "postgresql" else SQLITE_FORWARD
    for sql in statements:
        schema_editor.execute(sql)


def backward(apps, schema_editor):
    statements = PG_BACKWARD if schema_editor.connection.vendor == "postgresql" else SQLITE_BACKWARD
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("kb", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
