"""QuickSelect renders what Django's Select does, escaped, without a template per option."""

from __future__ import annotations

from html.parser import HTMLParser

from django import forms

from atalaya.core.widgets import QuickSelect


class _Options(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.select: dict[str, str | None] = {}
        self.options: list[tuple[str | None, bool, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "select":
            self.select = dict(attrs)
        if tag == "option":
            found = dict(attrs)
            self.options.append((found.get("value"), "selected" in found, ""))

    def handle_data(self, data: str) -> None:
        if self.options:
            value, selected, text = self.options[-1]
            self.options[-1] = (value, selected, text + data)


def parse(html: str) -> _Options:
    parser = _Options()
    parser.feed(html)
    # Django's option template leaves line breaks after each label.
    parser.options = [(value, chosen, text.strip()) for value, chosen, text in parser.options]
    return parser


class Form(forms.Form):
    fast = forms.ChoiceField(required=False, widget=QuickSelect)
    slow = forms.ChoiceField(required=False)


CHOICES = [("", "Any"), ("a&b", "Alfa <Asesores>"), ("2", '"Beta" & co')]


def test_same_options_and_selection_as_djangos_select() -> None:
    form = Form({"fast": "a&b", "slow": "a&b"})
    for name in ("fast", "slow"):
        form.fields[name].choices = CHOICES  # type: ignore[attr-defined]
    fast, slow = parse(str(form["fast"])), parse(str(form["slow"]))
    assert fast.options == slow.options
    assert fast.options[1] == ("a&b", True, "Alfa <Asesores>")
    assert fast.select["name"] == "fast" and fast.select["id"] == "id_fast"


def test_labels_and_values_are_escaped() -> None:
    form = Form({"fast": "2"})
    form.fields["fast"].choices = CHOICES  # type: ignore[attr-defined]
    html = str(form["fast"])
    assert "<Asesores>" not in html and "&lt;Asesores&gt;" in html
    assert 'value="a&amp;b"' in html
    assert parse(html).options[2][1] is True


def test_nothing_selected_for_an_unknown_value() -> None:
    form = Form({"fast": "zzz"})
    form.fields["fast"].choices = CHOICES  # type: ignore[attr-defined]
    assert not any(selected for _, selected, _ in parse(str(form["fast"])).options)
