"""The two team dashboards: "who is on what" and "where are we flooded".

Both are read-only pages for MSP staff (anyone else gets 404). The numbers come from
tickets.stats over the viewer's visible tickets; the charts are server-side SVG from
core.charts, the same markup PDF reports will embed, and every chart has a table
with its numbers beside it.
"""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import formats, timezone
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from atalaya.core import charts
from atalaya.core.models import User
from atalaya.tickets import stats
from atalaya.tickets.access import visible_tickets
from atalaya.tickets.views.tickets import staff_view

# A person's list stops here on the board; the rest is one click away in the ticket list.
BOARD_ROWS_PER_PERSON = 100
# More lines than this make a chart unreadable; the quieter categories are summed as "Other".
MAX_SERIES = 8


def _user(request: HttpRequest) -> User:
    # staff_view has already turned away anyone not signed in.
    return cast(User, request.user)


def _sla_labels() -> dict[str, str]:
    return {
        "breached": _("Breached"),
        "due_soon": _("Due soon"),
        "ok": _("On time"),
        "paused": _("Paused"),
        "none": _("No SLA"),
    }


@staff_view("GET", "HEAD")
def who_is_on_what(request: HttpRequest) -> HttpResponse:
    """Open tickets per technician and admin, unassigned first, with age and SLA state.

    Four queries whatever the number of people (see stats.who_is_on_what); each person's
    list is capped on the page and links to the full filtered ticket list.
    """
    board = stats.who_is_on_what(visible_tickets(_user(request)), language=get_language() or "en")
    labels = _sla_labels()
    chart = charts.bar_chart(
        [group.label for group in board.groups],
        [group.total for group in board.groups],
        title=_("Open tickets per person"),
        description=_("Number of open tickets assigned to each person, and unassigned."),
        empty_text=_("No data"),
        chart_id="who-chart",
    )
    groups = [
        {
            "group": group,
            "rows": group.tickets[:BOARD_ROWS_PER_PERSON],
            "hidden": max(group.total - BOARD_ROWS_PER_PERSON, 0),
            "filter": "unassigned" if group.user is None else str(group.user.pk),
            "counts": [
                (state, labels[state], group.counts[state])
                for state in stats.SLA_STATES
                if group.counts[state]
            ],
        }
        for group in board.groups
    ]
    return render(
        request,
        "tickets/dashboards/who.html",
        {
            "board": board,
            "groups": groups,
            "totals": [(state, labels[state], board.counts[state]) for state in stats.SLA_STATES],
            "chart": chart,
            "now": board.now,
        },
    )


def _chart_series(trends: list[stats.CategoryTrend], attribute: str) -> list[charts.Series]:
    """One series per category, fastest-growing first, the rest folded into "Other"."""
    shown = trends[:MAX_SERIES]
    series = [charts.Series(t.name, getattr(t, attribute)) for t in shown]
    rest = trends[MAX_SERIES:]
    if rest:
        summed = [
            sum(values) for values in zip(*(getattr(t, attribute) for t in rest), strict=True)
        ]
        count = len(rest)
        series.append(
            charts.Series(
                ngettext("Other (%(n)d category)", "Other (%(n)d categories)", count)
                % {"n": count},
                summed,
            )
        )
    return series


@staff_view("GET", "HEAD")
def flooded(request: HttpRequest) -> HttpResponse:
    """New and open tickets per category per day over 30 or 90 days, fastest-growing first.

    ``?days=`` picks the window (30 by default; anything else falls back to it). Days
    are the viewer's local days. Five grouped queries whatever the number of tickets.
    """
    try:
        days = int(request.GET.get("days", stats.WINDOWS[0]))
    except ValueError:
        days = stats.WINDOWS[0]
    if days not in stats.WINDOWS:
        days = stats.WINDOWS[0]
    tz = timezone.get_current_timezone()
    language = get_language() or "en"
    report = stats.flood_report(
        visible_tickets(_user(request)), days=days, tz=tz, language=language
    )
    x_labels = [formats.date_format(day, "j M") for day in report.days]
    first = formats.date_format(report.days[0], "DATE_FORMAT")
    last = formats.date_format(report.days[-1], "DATE_FORMAT")
    span = _("%(first)s to %(last)s, %(zone)s") % {"first": first, "last": last, "zone": str(tz)}
    new_chart = charts.line_chart(
        _chart_series(report.categories, "new_per_day"),
        x_labels,
        title=_("New tickets per category per day"),
        description=_("New tickets per day by category, %(span)s.") % {"span": span},
        y_label=_("Tickets"),
        empty_text=_("No tickets in this period."),
        chart_id="flood-new",
    )
    open_chart = charts.line_chart(
        _chart_series(report.categories, "open_per_day"),
        x_labels,
        title=_("Open tickets per category per day"),
        description=_("Tickets still open at the end of each day by category, %(span)s.")
        % {"span": span},
        y_label=_("Tickets"),
        empty_text=_("No tickets in this period."),
        chart_id="flood-open",
    )
    daily = [
        {"day": day, "cells": [(t.new_per_day[i], t.open_per_day[i]) for t in report.categories]}
        for i, day in enumerate(report.days)
    ]
    return render(
        request,
        "tickets/dashboards/flooded.html",
        {
            "report": report,
            "days": days,
            "windows": stats.WINDOWS,
            "recent_days": stats.RECENT_DAYS,
            "span": span,
            "new_chart": new_chart,
            "open_chart": open_chart,
            "daily": list(reversed(daily)),
        },
    )
