"""Full-text search over ticket subjects and timelines, one interface for both databases.

Each ticket has one SearchDocument row. On SQLite an external-content FTS5 table
(porter stemming, accents folded) mirrors it through triggers; on PostgreSQL a GIN
index covers the English and the Spanish tsvector of the same text, and a query
matches when either language's stemmed form of every term is present. Both are
created by migration 0002.
"""

from __future__ import annotations

import re

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from atalaya.tickets.models import SearchDocument, Ticket

MAX_QUERY_LENGTH = 200
_TERM = re.compile(r"\w+", re.UNICODE)

PG_VECTOR = "(to_tsvector('english'::regconfig, body) || to_tsvector('spanish'::regconfig, body))"


def terms_of(query: str) -> list[str]:
    """The words of a user's query; operators and punctuation are never passed through."""
    return _TERM.findall(query[:MAX_QUERY_LENGTH].lower())[:20]


def _fts5_match(terms: list[str]) -> str:
    # Each term quoted, so FTS5 syntax in user input (NEAR, *, ^, quotes) is inert;
    # the last one is a prefix so search-as-you-type finds "vpn" from "vp".
    quoted = [f'"{t}"' for t in terms]
    quoted[-1] += "*"
    return " ".join(quoted)


def matching_ids_sql(query: str) -> tuple[str, list[str]] | None:
    """SQL selecting the ids of tickets matching ``query``; None when it has no words."""
    terms = terms_of(query)
    if not terms:
        return None
    if connection.vendor == "postgresql":
        text = " ".join(terms)
        sql = (
            f"SELECT ticket_id FROM tickets_searchdocument WHERE {PG_VECTOR} @@ "
            "(plainto_tsquery('english'::regconfig, %s) || plainto_tsquery('spanish'::regconfig, %s))"
        )
        return sql, [text, text]
    return "SELECT rowid FROM tickets_search_fts WHERE tickets_search_fts MATCH %s", [_fts5_match(terms)]


def filter_tickets(queryset: QuerySet[Ticket], query: str) -> QuerySet[Ticket]:
    """``queryset`` narrowed to tickets whose subject or timeline matches ``query``."""
    found = matching_ids_sql(query)
    if found is None:
        return queryset
    sql, params = found
    return queryset.filter(id__in=RawSQL(sql, params))


def index_ticket(ticket: Ticket, text: str) -> None:
    """Set the ticket's searchable text (on creation, on subject change, on merge)."""
    SearchDocument.objects.update_or_create(ticket=ticket, defaults={"body": text})


def append_to_index(ticket: Ticket, text: str) -> None:
    """Add a timeline entry's text to the ticket's searchable text."""
    if not text.strip():
        return
    doc, created = SearchDocument.objects.get_or_create(ticket=ticket, defaults={"body": text})
    if not created:
        doc.body = f"{doc.body}\n{text}"
        doc.save(update_fields=["body"])
