"""Ranked full-text search over articles, the tickets' interface on both databases.

The words of a query are taken exactly as the tickets' search takes them
(``terms_of``, ``pg_chunks_of`` and the FTS5 quoting of atalaya.tickets.search): on
SQLite every word must be present, the last one as a prefix (search as you type); on
PostgreSQL every word in its English or its Spanish stemming, the last one also as a
prefix. Results are ranked by bm25 / ts_rank with titles weighing more than bodies (see
migration 0002) and are limited to what the viewer may read *before* ranking, so a
hidden article can neither appear nor push a visible one off the page.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction

from atalaya.core.models import Client, User
from atalaya.kb.models import Article, ArticleQuerySet
from atalaya.tickets.search import _fts5_match, pg_chunks_of, terms_of

MAX_LIMIT = 100
# Where the visibility scope goes. On SQLite the unary + keeps FTS5 from being asked for
# each visible id in turn (22 ms for a word in no article at 2,000 articles): the
# matches come from the index and are checked against the scope, built once.
SCOPED_SQLITE = " AND +rowid IN ({scope})"
SCOPED_PG = " AND m.id IN ({scope})"
BODY_FIELDS = ("body_en", "body_es", "body_html_en", "body_html_es")
# bm25 weights of title_en, title_es, body_en, body_es: a word in the title counts as
# much as five in the body.
FTS_WEIGHTS = "5.0, 5.0, 1.0, 1.0"
# Both languages' stemming of every word, or the same with the last word as a prefix.
PG_QUERY = (
    "(plainto_tsquery('english'::regconfig, %s) || plainto_tsquery('spanish'::regconfig, %s)"
    " || ((plainto_tsquery('english'::regconfig, %s) || plainto_tsquery('spanish'::regconfig, %s))"
    " && to_tsquery('simple'::regconfig, %s)))"
)


def scope_for(
    viewer: User | None, client: Client | None = None, within: ArticleQuerySet | None = None
) -> ArticleQuerySet:
    """The articles ``viewer`` may read, narrowed to those ``client``'s users may read.

    ``client`` is for a technician looking for a link to put in that client's ticket;
    a portal user naming a client that is not theirs gets nothing. ``within`` narrows
    further (a list's category or tag filter).
    """
    visible = (within if within is not None else Article.objects.all()).visible_to(viewer)
    if client is None:
        return visible
    if not Client.objects.visible_to(viewer).filter(pk=client.pk).exists():
        return Article.objects.none()
    return visible.filter(pk__in=Article.objects.readable_by_client(client).values("pk"))


# Words too common to suggest anything by (PostgreSQL's configurations drop their own).
_STOP_WORDS_TEXT = """
    the and for with from that this not can cannot does doesn don have has how what when
    why who you your our are was were will would should could into out about after before
    los las del por para con sin que qué una uno unos unas como cómo cuando cuándo pero
    mis sus nos está están esta este esto hay muy más tengo tiene puedo puede"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


def _any_word_sql(terms: list[str]) -> tuple[str, list[Any]] | None:
    """Ranked SQL matching any of the words (for suggestions from a ticket's subject)."""
    words = [t for t in terms if len(t) >= 3 and t not in STOP_WORDS]
    if not words:
        return None
    if connection.vendor == "postgresql":
        one = (
            "plainto_tsquery('english'::regconfig, %s) || plainto_tsquery('spanish'::regconfig, %s)"
        )
        alternatives = " || ".join([one] * len(words) + ["to_tsquery('simple'::regconfig, %s)"])
        params: list[Any] = [w for word in words for w in (word, word)] + [f"{words[-1]}:*"]
        return _pg_ranked(f"({alternatives})"), params
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return _fts_ranked(), [" OR ".join(quoted)]


def _pg_ranked(tsquery: str) -> str:
    # The matches are found through the GIN index and ranked first (materialized, so the
    # planner cannot fold the scope in and rank after a join, which read every vector
    # twice), then checked against the scope. Only constants are formatted in; the
    # user's text travels as parameters.
    return (
        f"WITH q AS (SELECT {tsquery} AS query), "  # noqa: S608
        "m AS MATERIALIZED (SELECT a.id, ts_rank(a.search_vector, q.query) AS rank "
        "FROM kb_article a, q WHERE a.search_vector @@ q.query) "
        f"SELECT m.id, m.rank FROM m WHERE TRUE{SCOPED_PG} "
        "ORDER BY m.rank DESC, m.id DESC"
    )


def _fts_ranked() -> str:
    return (
        f"SELECT rowid, bm25(kb_article_fts, {FTS_WEIGHTS}) AS rank "  # noqa: S608
        f"FROM kb_article_fts WHERE kb_article_fts MATCH %s{SCOPED_SQLITE} "
        "ORDER BY rank, rowid DESC"
    )


def _ranked_sql(query: str, *, any_word: bool = False) -> tuple[str, list[Any]] | None:
    """SELECT (id, rank) of the articles matching ``query``, best first; None without words.

    ``{scope}`` is left in the text for the visibility subquery.
    """
    terms = terms_of(query)
    if not terms:
        return None
    if any_word:
        return _any_word_sql(terms)
    if connection.vendor == "postgresql":
        chunks = pg_chunks_of(query)
        text = " ".join(chunks)
        head = " ".join(chunks[:-1])
        prefix = f"{terms[-1]}:*"
        return _pg_ranked(PG_QUERY), [text, text, head, head, prefix]
    return _fts_ranked(), [_fts5_match(terms)]


def search_articles(
    viewer: User | None,
    query: str,
    *,
    limit: int = 20,
    client: Client | None = None,
    within: ArticleQuerySet | None = None,
    any_word: bool = False,
) -> list[Article]:
    """Up to ``limit`` articles matching ``query`` that ``viewer`` may read, best first.

    With ``client``, only articles that client's users may read too (published, public
    or shared with it); with ``within``, only among those articles. A query without
    words finds nothing. Two queries: the ranked ids (visibility applied inside), then
    the articles with their category (bodies deferred: results are listed by title).

    ``any_word`` finds articles with any of the words (common ones left out), the best
    matching the most: for suggestions from what a client is typing, where every word of
    "my vpn will not connect" need not be in one article.
    """
    found = _ranked_sql(query, any_word=any_word)
    if found is None:
        return []
    limit = max(1, min(limit, MAX_LIMIT))
    sql, params = found
    scope_params: tuple[Any, ...] = ()
    if within is None and client is None and getattr(viewer, "is_msp_staff", False):
        # Staff may read every article: no scope to check each match against.
        sql = sql.replace(SCOPED_SQLITE, "").replace(SCOPED_PG, "")
    else:
        scope = scope_for(viewer, client, within).order_by().values("pk")
        try:
            scope_sql, scope_params = scope.query.sql_with_params()
        except EmptyResultSet:  # .none(): the viewer may read nothing
            return []
        # The scope is Django's own compilation of a queryset; its values stay parameters.
        sql = sql.replace("{scope}", scope_sql)
    sql += f" LIMIT {int(limit)}"
    postgresql = connection.vendor == "postgresql"
    with transaction.atomic() if postgresql else nullcontext(), connection.cursor() as cursor:
        if postgresql:
            # A long article's vector is TOASTed (past about 2 kB): a sequential scan
            # fetches every one back. The planner does not count that and scanned for
            # any common word (33 ms at 10,000 articles, against 1.4 ms through the GIN
            # index). A parallel worker costs more to start than the ranking it would
            # share. Both settings are local to this transaction.
            cursor.execute(
                "SELECT set_config('enable_seqscan', 'off', true), "
                "set_config('max_parallel_workers_per_gather', '0', true)"
            )
        cursor.execute(sql, [*params, *scope_params])
        ids = [row[0] for row in cursor.fetchall()]
    # Results are listed by title: the bodies (TOASTed on PostgreSQL, overflow pages on
    # SQLite) stay in the database unless a caller reads one.
    articles = Article.objects.select_related("category").defer(*BODY_FIELDS).in_bulk(ids)
    return [articles[pk] for pk in ids if pk in articles]
