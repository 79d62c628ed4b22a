"""A monthly report as HTML and as PDF: one template, the same inline SVG charts in both.

``render_body`` renders the report's body (``reports/_report.html``) in the client's
language; the pages show that body and ``render_pdf`` wraps it in a document with its
CSS embedded (``reports/document.html``) and hands it to WeasyPrint. Nothing outside
the document is ever fetched: the url_fetcher refuses every URL, and the fonts are the
ones the system has (DejaVu / Liberation), so rendering needs no network and a client
name cannot make the renderer reach out.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.dates import MONTHS
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from atalaya.core.charts import PALETTE, Svg, bar_chart, line_chart
from atalaya.core.charts import Series as ChartSeries
from atalaya.reports.figures import SEVERITIES, MonthlyFigures
from atalaya.security.models import FixKind, Protection

SEVERITY_COLOURS = {"critical": PALETTE[3], "warning": PALETTE[1], "info": PALETTE[0]}
# A chart this wide fits an A4 page's text column at 96 dpi with the margins below.
CHART_WIDTH = 680
MAX_DEVICE_BARS = 15


def period_label(year: int, month: int) -> str:
    """ "March 2026" / "marzo 2026" in the active language."""
    return f"{MONTHS[month]} {year}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def charts(figures: MonthlyFigures, language: str) -> dict[str, Svg]:
    """The report's charts in the active language (titles, labels, legends)."""
    days = [str(i + 1) for i in range(len(figures.opened_per_day))]
    result: dict[str, Svg] = {
        "per_day": line_chart(
            [ChartSeries(_("Tickets opened"), list(figures.opened_per_day))],
            days,
            title=_("Tickets opened per day"),
            width=CHART_WIDTH,
            height=200,
            empty_text=_("No data"),
            chart_id="report-per-day",
        ),
        "categories": bar_chart(
            [c.label(language) for c in figures.categories],
            [c.opened for c in figures.categories],
            title=_("Tickets opened by category"),
            width=CHART_WIDTH,
            empty_text=_("No tickets"),
            chart_id="report-categories",
        ),
        "alerts": bar_chart(
            [str(_severity_label(s)) for s in SEVERITIES],
            [figures.alerts_by_severity.get(s, 0) for s in SEVERITIES],
            title=_("Alerts by severity"),
            width=CHART_WIDTH,
            colours=[SEVERITY_COLOURS[s] for s in SEVERITIES],
            chart_id="report-alerts",
        ),
    }
    measured = [d for d in figures.devices if d.availability_pct is not None]
    if measured:
        shown = measured[:MAX_DEVICE_BARS]
        result["availability"] = bar_chart(
            [d.name for d in shown],
            [d.availability_pct or 0.0 for d in shown],
            title=_("Availability of the least available devices"),
            width=CHART_WIDTH,
            colour=PALETTE[2],
            value_format=lambda v: f"{v:.1f} %",
            chart_id="report-availability",
        )
    return result


def _severity_label(severity: str) -> str:
    from atalaya.monitoring.models import Severity

    return str(dict(Severity.choices).get(severity, severity))


@functools.cache
def _kind_labels() -> dict[str, Any]:
    return {**dict(FixKind.choices), **dict(Protection.choices)}


def context(figures: MonthlyFigures, language: str) -> dict[str, Any]:
    """Everything the report template reads, for the active language."""
    labels = _kind_labels()
    return {
        "f": figures,
        "language": language,
        "period": period_label(figures.year, figures.month),
        "charts": charts(figures, language),
        "categories": [
            {"label": c.label(language), "opened": c.opened, "closed": c.closed}
            for c in figures.categories
        ],
        "first_response_pct": _percent(figures.first_response_pct),
        "resolution_pct": _percent(figures.resolution_pct),
        "availability": _percent(figures.availability_pct),
        "devices": [
            {"name": d.name, "pct": _percent(d.availability_pct), "hours": d.monitored_hours}
            for d in figures.devices
        ],
        "alerts": [
            {"label": _severity_label(s), "n": figures.alerts_by_severity.get(s, 0)}
            for s in SEVERITIES
        ],
        "coverage": [
            {"label": labels.get(kind, kind), "covered": pair[0], "required": pair[1]}
            for kind, pair in sorted(figures.coverage_by_kind.items())
        ],
        "fixes": [
            {
                "title": fix.title,
                "kind": labels.get(fix.kind, fix.kind),
                "revert_by": fix.revert_by,
                "is_overdue": fix.is_overdue,
            }
            for fix in figures.open_fixes
        ],
    }


def render_body(figures: MonthlyFigures, language: str) -> SafeString:
    """The report's body (headings, tables, charts) in ``language``."""
    with translation.override(language):
        html = render_to_string("reports/_report.html", context(figures, language))
    # Rendered by Django's template engine: every value in it is already escaped.
    return mark_safe(html)  # noqa: S308


def render_document(body: str, figures: MonthlyFigures, language: str) -> str:
    """A standalone HTML document around ``body``, its CSS embedded (what the PDF prints)."""
    with translation.override(language):
        return render_to_string(
            "reports/document.html",
            {
                "body": mark_safe(body),  # noqa: S308 - our own rendered body
                "language": language,
                "title": f"{figures.client_name} — {period_label(figures.year, figures.month)}",
            },
        )


def refuse_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
    """WeasyPrint's url_fetcher: nothing outside the document is loaded, ever."""
    raise ValueError(f"external resource refused: {url[:80]}")


_local = threading.local()


def _font_config() -> Any:
    """One WeasyPrint font configuration per thread: building it for each PDF cost about
    15 % of the render (benchmarks/reports.py); pango's font maps are not shared across
    threads, so neither is this."""
    from weasyprint.text.fonts import FontConfiguration

    config = getattr(_local, "font_config", None)
    if config is None:
        config = _local.font_config = FontConfiguration()
    return config


def render_pdf(body: str, figures: MonthlyFigures, language: str) -> bytes:
    """The report as PDF bytes (WeasyPrint, no network)."""
    from weasyprint import HTML

    document = render_document(body, figures, language)
    pdf = HTML(string=document, url_fetcher=refuse_fetch).write_pdf(font_config=_font_config())
    assert pdf is not None
    return bytes(pdf)
