"""How monitoring facts read to a person: forecasts, sizes, durations (pages and API alike)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from atalaya.monitoring.models import Volume


@dataclass(frozen=True)
class Forecast:
    """A volume's disk-full forecast as shown: a state, its sentence and days left."""

    state: str  # "full_soon", "not_filling", "no_trend", "no_history"
    text: str
    days: float | None


def volume_forecast(volume: Volume, now: datetime) -> Forecast:
    """ "Full in about N days", "not filling up", or why there is no forecast."""
    if volume.forecast_full_at is not None:
        seconds = (volume.forecast_full_at - now).total_seconds()
        days = max(seconds / 86400, 0.0)
        if days < 1:
            hours = max(round(seconds / 3600), 1)
            text = ngettext("Full in about %(n)d hour", "Full in about %(n)d hours", hours) % {
                "n": hours
            }
        else:
            n = round(days)
            text = ngettext("Full in about %(n)d day", "Full in about %(n)d days", n) % {"n": n}
        return Forecast("full_soon", text, round(days, 2))
    if volume.forecast_computed_at is None or volume.forecast_slope is None:
        return Forecast("no_history", _("Not enough history for a forecast"), None)
    if volume.forecast_slope >= 0:
        return Forecast("not_filling", _("Not filling up"), None)
    return Forecast("no_trend", _("Filling up, but with no steady trend"), None)


def human_number(value: object) -> str:
    """90.0 → "90", 5.25 → "5.25" ("5,25" in Spanish), None → "—"; anything else as it is."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if float(value).is_integer():
        return str(int(value))
    return formats.number_format(round(value, 2), use_l10n=True)


def human_bytes(value: float | int | None) -> str:
    """1536 → "1.5 KiB"; binary units, as operating systems show disk sizes."""
    if value is None:
        return "—"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(amount) < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} PiB"  # pragma: no cover - the loop returns at TiB


def human_duration_ms(value: int | None) -> str:
    if value is None:
        return "—"
    if value < 1000:
        return f"{value} ms"
    seconds = value / 1000
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"
