"""The SVG chart module: well-formed XML, escaped labels, accessible names, sane axes."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest
from django.template import Context, Template
from hypothesis import given
from hypothesis import strategies as st

from atalaya.core import charts

SVG = "{http://www.w3.org/2000/svg}"
NASTY = "<script>alert('x')</script> & \"quoted\" \x00\x01\x0b\ufffe ñ"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, parsed to prove it is XML


def texts(root: ET.Element) -> list[str]:
    return ["".join(el.itertext()) for el in root.iter(f"{SVG}text")]


def test_line_chart_is_well_formed_and_accessible() -> None:
    svg = charts.line_chart(
        [charts.Series("VPN", [1, 2, 3]), charts.Series("Mail", [0, 5, 1])],
        ["1 Mar", "2 Mar", "3 Mar"],
        title="New tickets",
        description="Per day",
        chart_id="c1",
    )
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and title.get("id") == "c1-title" and title.text == "New tickets"
    assert desc is not None and desc.get("id") == "c1-desc" and desc.text == "Per day"
    polylines = list(root.iter(f"{SVG}polyline"))
    assert len(polylines) == 2
    assert len(polylines[0].get("points", "").split()) == 3
    assert {"VPN", "Mail", "1 Mar", "3 Mar"} <= set(texts(root))
    # The highest point (5) sits at the top tick or below it.
    ticks = [float(t) for t in texts(root) if t.replace(".", "").isdigit()]
    assert max(ticks) >= 5


def test_labels_are_escaped_and_invalid_xml_characters_dropped() -> None:
    svg = charts.line_chart(
        [charts.Series(NASTY, [1, 2])], [NASTY, "b"], title=NASTY, description=NASTY, y_label=NASTY
    )
    assert "<script>" not in svg
    root = parse(svg)
    cleaned = "<script>alert('x')</script> & \"quoted\"  ñ"
    assert root.find(f"{SVG}title").text == cleaned  # type: ignore[union-attr]
    assert cleaned in texts(root)
    bar = charts.bar_chart([NASTY, "ok"], [3, 1], title=NASTY, colours=["#000", "#fff"])
    assert "<script>" not in bar
    assert any(t.startswith("<script>") for t in texts(parse(bar)))


def test_colours_cannot_break_out_of_attributes() -> None:
    svg = charts.line_chart([charts.Series("a", [1], colour='red" onload="x')], ["d"], title="t")
    root = parse(svg)
    assert all(el.get("onload") is None for el in root.iter())


def test_bar_chart() -> None:
    svg = charts.bar_chart(
        ["Ana", "Unassigned", "Bob"], [4, 0, 2.5], title="Open per person", chart_id="who"
    )
    root = parse(svg)
    rects = [r for r in root.iter(f"{SVG}rect") if r.get("height") == "20"]
    assert len(rects) == 3
    widths = [float(r.get("width", "0")) for r in rects]
    assert widths[0] > widths[2] > widths[1] == 0
    assert {"Ana", "Unassigned", "Bob", "4", "0", "2.5"} <= set(texts(root))
    assert root.get("aria-labelledby") == "who-title who-desc"


def test_empty_charts_say_so() -> None:
    line = parse(charts.line_chart([], [], title="Nothing", empty_text="No tickets"))
    assert "No tickets" in texts(line)
    bar = parse(charts.bar_chart([], [], title="Nothing", empty_text="Nada"))
    assert "Nada" in texts(bar)
    zeros = parse(charts.line_chart([charts.Series("a", [0, 0])], ["x", "y"], title="z"))
    assert len(list(zeros.iter(f"{SVG}polyline"))) == 1


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="values"):
        charts.line_chart([charts.Series("a", [1, 2])], ["x"], title="t")
    with pytest.raises(ValueError):
        charts.bar_chart(["a"], [1, 2], title="t")


def test_many_days_thin_the_axis_labels_but_keep_the_last_day() -> None:
    labels = [f"{d} Jun" for d in range(1, 91)]
    svg = charts.line_chart([charts.Series("a", list(range(90)))], labels, title="t")
    root = parse(svg)
    axis = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "x-axis")
    shown = ["".join(t.itertext()) for t in axis]
    assert 3 < len(shown) < 30 and shown[0] == "90 Jun"
    # No point markers on a 90-day line: one polyline carries it.
    assert not list(root.iter(f"{SVG}circle"))


def test_output_is_deterministic_and_ids_differ_between_charts() -> None:
    one = charts.line_chart([charts.Series("a", [1])], ["x"], title="New")
    assert one == charts.line_chart([charts.Series("a", [1])], ["x"], title="New")
    other = charts.line_chart([charts.Series("a", [1])], ["x"], title="Open")
    assert parse(one).get("aria-labelledby") != parse(other).get("aria-labelledby")


def test_templates_print_the_svg_without_escaping_it_again() -> None:
    svg = charts.bar_chart(["<b>"], [1], title="t")
    rendered = Template("{{ chart }}").render(Context({"chart": svg}))
    assert rendered == str(svg)
    assert "&lt;b&gt;" in rendered and "<b>" not in rendered


@pytest.mark.parametrize(
    ("maximum", "expected"),
    [
        (0, [0, 1]),
        (-3, [0, 1]),
        (1, [0, 1]),
        (7, [0, 2, 4, 6, 8]),
        (10, [0, 2, 4, 6, 8, 10]),
        (123, [0, 25, 50, 75, 100, 125]),
        (0.3, [0, 0.1, 0.2, 0.3]),
    ],
)
def test_nice_ticks(maximum: float, expected: list[float]) -> None:
    assert charts.nice_ticks(maximum) == expected


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_nice_ticks_always_cover_the_maximum(maximum: float) -> None:
    ticks = charts.nice_ticks(maximum)
    assert ticks[0] == 0 and ticks[-1] >= maximum and len(ticks) <= 12
    step = ticks[1] - ticks[0]
    assert all(
        math.isclose(b - a, step, rel_tol=1e-6) for a, b in zip(ticks, ticks[1:], strict=False)
    )


@given(
    st.lists(st.text(max_size=40), min_size=1, max_size=5),
    st.lists(st.integers(min_value=0, max_value=10_000), min_size=5, max_size=5),
)
def test_any_text_gives_well_formed_svg(names: list[str], values: list[int]) -> None:
    series = [charts.Series(name, values) for name in names]
    parse(charts.line_chart(series, [str(i) for i in range(5)], title=names[0]))
    parse(charts.bar_chart(names, values[: len(names)], title=names[0]))
