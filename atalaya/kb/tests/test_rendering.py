"""Markdown to HTML with hostile input: nothing executable survives, links are tamed."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from atalaya.conftest import World
from atalaya.kb import services
from atalaya.kb.models import MAX_BODY_CHARS, Article
from atalaya.kb.rendering import ALLOWED_TAGS, render_markdown
from atalaya.kb.tests.helpers import article

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src="x" onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java&#x0A;script:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html,<script>alert(1)</script>)",
    "![pixel](data:image/png;base64,iVBORw0KGgo=)",
    '<a href="javascript:alert(1)">raw link</a>',
    "<div onclick=\"alert(1)\">raw block</div>\n\n<iframe src='https://evil.example'></iframe>",
    "<style>body{display:none}</style>",
    '[x](https://ok.example "t" onmouseover="alert(1)")',
    "[[[nested]]](https://ok.example)[",
    "<svg onload=alert(1)>",
    "```html\n<script>alert(1)</script>\n```",
]


class _Elements(HTMLParser):
    """Every element and attribute the browser would build from the HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_renders_inert(text: str) -> None:
    html = render_markdown(text)
    for tag, attrs in elements(html):
        assert tag in ALLOWED_TAGS, (text, html)
        for name, value in attrs:
            assert not name.startswith("on"), (text, html)
            if name in ("href", "src"):
                assert (value or "").startswith(("https://", "http://", "mailto:")), (text, html)


def test_raw_html_is_shown_as_text_not_markup() -> None:
    html = render_markdown("<b>bold</b> and <script>x</script>")
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<b>" not in html


def test_links_get_rel_and_only_safe_schemes() -> None:
    html = render_markdown(
        "[web](https://alfa.example/a) [plain](http://alfa.example) [mail](mailto:ana@alfa.example)"
        " [relative](/portal/kb/) [ftp](ftp://alfa.example)"
    )
    assert html.count('rel="noopener noreferrer nofollow"') == 5
    assert 'href="https://alfa.example/a"' in html
    assert 'href="http://alfa.example"' in html
    assert 'href="mailto:ana@alfa.example"' in html
    assert 'href="/portal' not in html and 'href="ftp:' not in html


def test_images_only_over_https() -> None:
    html = render_markdown("![a](https://cdn.example/a.png) ![b](http://cdn.example/b.png)")
    assert 'src="https://cdn.example/a.png"' in html
    assert "http://cdn.example/b.png" not in html


def test_tables_lists_and_code_survive() -> None:
    html = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |\n\n1. one\n2. two\n\n`code` **b** *i*")
    for tag in ("<table>", "<th>", "<td>", "<ol>", "<li>", "<code>", "<strong>", "<em>"):
        assert tag in html


def test_rendered_html_is_kept_on_save(world: World) -> None:
    a = article(world.tech, body_en="**Hello** <script>x</script>", body_es="*Hola*")
    a.refresh_from_db()
    assert a.body_html_en.startswith("<p><strong>Hello</strong>")
    assert "<script" not in a.body_html_en
    assert a.body_html_es == "<p><em>Hola</em></p>\n"
    services.update_article(actor=world.tech, article=a, body_es="[x](javascript:alert(1))")
    a.refresh_from_db()
    assert "javascript" not in a.body_html_es.replace("[x](javascript:alert(1))", "")
    assert "<a" not in a.body_html_es


def test_a_one_megabyte_article_is_refused_with_a_clear_error(world: World) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        article(world.tech, body_en="a" * 1_048_576)
    message = caught.value.message_dict["body_en"][0]
    assert str(MAX_BODY_CHARS) in message.replace(",", "") and "1048576" in message
    assert not Article.objects.exists()


def test_a_long_but_allowed_article_renders_quickly(world: World) -> None:
    import time

    text = ("## Step\n\nSome *text* with [a link](https://ok.example) and `code`.\n\n") * 1400
    assert len(text) < MAX_BODY_CHARS
    started = time.perf_counter()
    a = article(world.tech, body_en=text)
    assert time.perf_counter() - started < 5
    assert a.body_html_en.count("<h2>") == 1400
