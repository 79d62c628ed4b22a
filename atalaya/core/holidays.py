"""Spain's national public holidays: what every demo client and the MSP itself close on.

Regional and local holidays differ per autonomous community and town; the demo keeps
to the national ones that apply everywhere.
"""

from __future__ import annotations

from datetime import date, timedelta

FIXED = [
    (1, 1, "Año Nuevo"),
    (1, 6, "Epifanía del Señor"),
    (5, 1, "Fiesta del Trabajo"),
    (8, 15, "Asunción de la Virgen"),
    (10, 12, "Fiesta Nacional de España"),
    (11, 1, "Todos los Santos"),
    (12, 6, "Día de la Constitución Española"),
    (12, 8, "Inmaculada Concepción"),
    (12, 25, "Natividad del Señor"),
]


def easter_sunday(year: int) -> date:
    """Western Easter Sunday by the anonymous Gregorian computus (Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the computus's own letter
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


def spanish_national_holidays(year: int) -> list[tuple[date, str]]:
    """The national holidays of ``year``, Good Friday included, in date order."""
    days = [(date(year, month, day), name) for month, day, name in FIXED]
    days.append((easter_sunday(year) - timedelta(days=2), "Viernes Santo"))
    return sorted(days)
