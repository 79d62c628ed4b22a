"""Full-text search over ticket subjects and timelines, one interface for both databases.

Each ticket has one SearchDocument row in two parts: ``body`` (subjects and public
messages) and ``internal`` (notes). On SQLite an external-content FTS5 table with a
column for each part (porter stemming, accents folded) mirrors it through triggers; a
client's query is limited to the body column. On PostgreSQL GIN indexes cover the
English and the Spanish stemming of both parts (the stored ``search_vector``, for
staff) and of the body alone (an expression index, for clients); a query matches when
either language's stemmed form of every term is present. See migrations 0002, 0004
and 0007.

At a million tickets the shape of the query matters more than the index: see
``filter_tickets`` for how a search is narrowed so that a rare word and a common
word both come back in milliseconds.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Case, F, Func, QuerySet, TextField, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat

from atalaya.core.models import User
from atalaya.tickets.models import SearchDocument, Ticket

MAX_QUERY_LENGTH = 200
_TERM = re.compile(r"\w+", re.UNICODE)

# The stored tsvector of both parts, and the expression of the public part's; each has
# a GIN index (migration 0007), and the expression must match its index to the letter.
PG_DOCUMENT_VECTOR = "search_vector"
PG_PUBLIC_VECTOR = (
    "to_tsvector('english'::regconfig, body) || to_tsvector('spanish'::regconfig, body)"
)
# The FTS5 column a client's query is limited to.
FTS_PUBLIC_COLUMN = "body"
# A search with at most this many matching tickets is narrowed by the list of their ids;
# see _narrow_to_matches. Measured at a million tickets on both databases: larger lists
# cost more in random row reads (and a larger probe for common words) than they save.
ID_LIST_LIMIT = 1000


def terms_of(query: str) -> list[str]:
    """The words of a user's query; operators and punctuation are never passed through."""
    return _TERM.findall(query[:MAX_QUERY_LENGTH].lower())[:20]


def pg_chunks_of(query: str) -> list[str]:
    """The query's whitespace-separated pieces that hold a word, for PostgreSQL.

    plainto_tsquery ignores operators, so each piece goes through the same parser as
    the indexed text: "RMA-4711" or "ana@alfa.example" then match as they were
    written, which splitting on punctuation first would break.
    """
    pieces = query[:MAX_QUERY_LENGTH].replace("\x00", "").split()
    return [piece for piece in pieces if _TERM.search(piece)][:20]


def _fts5_match(terms: list[str]) -> str:
    # Each term quoted, so FTS5 syntax in user input (NEAR, *, ^, quotes) is inert;
    # the last one is a prefix so search-as-you-type finds "vpn" from "vp".
    quoted = [f'"{t}"' for t in terms]
    quoted[-1] += "*"
    return " ".join(quoted)


def matching_ids_sql(query: str, *, public_only: bool = False) -> tuple[str, list[str]] | None:
    """SQL selecting the ids of tickets matching ``query``; None when it has no words.

    ``public_only`` matches the subjects and public messages alone, for a client.
    """
    terms = terms_of(query)
    if not terms:
        return None
    if connection.vendor == "postgresql":
        text = " ".join(pg_chunks_of(query))
        vector = PG_PUBLIC_VECTOR if public_only else PG_DOCUMENT_VECTOR
        # Only constants are formatted in; the user's text travels as parameters.
        sql = (
            f"SELECT ticket_id FROM tickets_searchdocument WHERE ({vector}) @@ "  # noqa: S608
            "(plainto_tsquery('english'::regconfig, %s) "
            "|| plainto_tsquery('spanish'::regconfig, %s))"
        )
        return sql, [text, text]
    match = _fts5_match(terms)
    if public_only:
        match = f"{FTS_PUBLIC_COLUMN} : ({match})"
    return "SELECT rowid FROM tickets_search_fts WHERE tickets_search_fts MATCH %s", [match]


def filter_tickets(
    queryset: QuerySet[Ticket], query: str, *, viewer: User | None = None
) -> QuerySet[Ticket]:
    """``queryset`` narrowed to tickets whose subject or timeline matches ``query``.

    Pass the ``viewer``: staff match every word of the timeline, internal notes
    included; anyone else (a client's portal user) only subjects and public messages.
    """
    public_only = viewer is not None and not getattr(viewer, "is_msp_staff", False)
    found = matching_ids_sql(query, public_only=public_only)
    if found is None:
        return queryset
    sql, params = found
    return _narrow_to_matches(queryset, sql, params)


class _LikelyIn(Func):
    """``pk IN (matches)`` that SQLite's planner may not drive from, and expects to pass.

    The unary ``+`` stops SQLite looking each match up by primary key (and then sorting
    them all); ``likely()`` tells it most rows pass, so it walks the list's own index in
    order and tests each ticket against the match set, stopping when the page is full.
    """

    output_field = BooleanField()

    def __init__(self, sql: str, params: list[Any]) -> None:
        super().__init__(F("pk"))
        self.match_sql, self.match_params = sql, params

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # type: ignore[override]
        column, column_params = compiler.compile(self.source_expressions[0])
        return f"likely(+{column} IN ({self.match_sql}))", [*column_params, *self.match_params]


def _narrow_to_matches(queryset: QuerySet[Ticket], sql: str, params: list[Any]) -> QuerySet[Ticket]:
    """``queryset`` narrowed to the matching tickets, in the shape that is fast for this query.

    No single plan suits every word at a million tickets. A rare word is best found in
    the full-text index and its few tickets fetched by id and sorted; a common word
    ("vpn" in one ticket in ten) is best served by walking the list in its own order and
    testing each ticket, which fills a page after a few hundred. Neither database can
    tell which case it is in (FTS5 has no statistics, and PostgreSQL guesses for words
    outside its sample, then walked all million tickets for a word in none), so one
    bounded query asks the index for up to ID_LIST_LIMIT + 1 matches and decides.
    """
    limit = ID_LIST_LIMIT
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} LIMIT {limit + 1}", params)
        ids = [row[0] for row in cursor.fetchall()]
    if len(ids) <= limit:
        return queryset.filter(id__in=ids)
    if connection.vendor == "sqlite":
        return queryset.filter(_LikelyIn(sql, params))
    return queryset.filter(id__in=RawSQL(sql, params))  # noqa: S611 - built above, parameters bound


def index_ticket(ticket: Ticket, text: str) -> None:
    """Set the ticket's public searchable text (on creation)."""
    SearchDocument.objects.update_or_create(ticket=ticket, defaults={"body": text})


def append_to_index(ticket: Ticket, text: str, *, public: bool = True) -> None:
    """Add a timeline entry's text: to the public part, or to the internal one for a note."""
    if not text.strip():
        return
    column = "body" if public else "internal"
    # Appended by one UPDATE, not read-modify-write: two replies saved at once on
    # PostgreSQL would otherwise each write the old text plus their own, losing one.
    appended = Case(
        When(**{column: ""}, then=Value(text)),
        default=Concat(F(column), Value("\n"), Value(text), output_field=TextField()),
        output_field=TextField(),
    )
    if SearchDocument.objects.filter(ticket=ticket).update(**{column: appended}):
        return
    _doc, created = SearchDocument.objects.get_or_create(ticket=ticket, defaults={column: text})
    if not created:
        SearchDocument.objects.filter(ticket=ticket).update(**{column: appended})


def fold_into(source: Ticket, target: Ticket) -> None:
    """A merge: the source's text is found on the survivor, each part in its own part."""
    parts = SearchDocument.objects.filter(ticket=source).values_list("body", "internal").first()
    body, internal = parts or (source.subject, "")
    append_to_index(target, body)
    append_to_index(target, internal, public=False)
