"""Full-text index of articles: FTS5 on SQLite, a stored weighted tsvector on PostgreSQL.

The same shape as the tickets' index (tickets migrations 0002, 0004 and 0007). On SQLite
an external-content FTS5 table over the four text columns (porter stemming, accents
folded) is kept in step by triggers; bm25 weighs the title columns above the bodies. On
PostgreSQL a generated column holds the English stemming of the English texts and the
Spanish of the Spanish ones, titles at weight A and bodies at B (for ts_rank), indexed
by GIN; a query is matched in both stemmings (kb.search).
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


def _weighted(config: str, column: str, weight: str) -> str:
    return f"setweight(to_tsvector('{config}'::regconfig, {column}), '{weight}')"


# Each text through its own language's stemming: an English body through the Spanish
# configuration only doubles the vector with junk stems, and past about 2 kB a vector
# is TOASTed, so every match and every rank would first have to fetch it back.
PG_VECTOR = " || ".join(
    [
        _weighted("english", "title_en", "A"),
        _weighted("spanish", "title_es", "A"),
        _weighted("english", "body_en", "B"),
        _weighted("spanish", "body_es", "B"),
    ]
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
