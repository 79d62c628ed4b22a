"""Article Markdown to safe HTML: markdown-it-py without raw HTML, then nh3 with an allow-list.

Two layers, so that neither has to be perfect. markdown-it's CommonMark preset with
``html`` off turns any HTML in the text into visible text and refuses javascript:,
vbscript: and file: links; nh3 then keeps only the tags and attributes listed here, and
the attribute filter only links to http, https and mailto and images over https (a
data: or http: image is dropped: data: URLs can carry script in some viewers, and
plain http images leak the reader's address in the clear). Every link gets
``rel="noopener noreferrer nofollow"``.
"""

from __future__ import annotations

import functools

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s",
        "code", "pre", "blockquote", "ul", "ol", "li", "a", "img",
        "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
LINK_SCHEMES = ("http://", "https://", "mailto:")
LINK_REL = "noopener noreferrer nofollow"


@functools.cache
def _parser() -> MarkdownIt:
    # Built once: the parser's rule chains are the expensive part.
    return MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough")


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    """Keep a URL attribute only with a scheme we allow; other attributes pass."""
    lowered = value.strip().lower()
    if tag == "a" and attribute == "href":
        return value if lowered.startswith(LINK_SCHEMES) else None
    if tag == "img" and attribute == "src":
        return value if lowered.startswith("https://") else None
    return value


def render_markdown(text: str) -> str:
    """The sanitised HTML of ``text`` (Markdown), ready to mark safe in a template."""
    if not text.strip():
        return ""
    html = _parser().render(text)
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_attribute_filter,
        link_rel=LINK_REL,
        url_schemes={"http", "https", "mailto"},
        strip_comments=True,
    )
