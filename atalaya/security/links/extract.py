"""Pull links out of mail text and HTML without ever opening them.

HTML is read with the stdlib tokenizer (tolerant of broken markup; no DOM, no scripts,
no network). Hostile input is bounded: the input is truncated, every URL is capped and
at most ``limit`` links come back, so a mail cannot make this quadratic or huge.
"""

from __future__ import annotations

import contextlib
import html as html_lib
import re
from dataclasses import dataclass
from html.parser import HTMLParser

MAX_INPUT = 2_000_000  # characters of text or HTML read; the rest is ignored
MAX_URL = 4096  # a longer "URL" is cut; the judge calls it invalid anyway
MAX_TEXT = 300

# Schemes worth judging, plus bare "www." hosts in plain text.
_TEXT_URL = re.compile(
    r"(?:(?:https?|ftp)://|www\.)[^\s<>\"'`\u00a0\u2028\u2029]{1,4096}", re.IGNORECASE
)
_TRAILING = ".,;:!?)]}>'\"»”’"
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class Link:
    """A link found in a mail: its URL as written, visible text and where it came from."""

    url: str
    text: str = ""
    source: str = "text"  # "text" | "href" | "button" | "form" | "area"


def _clean_text_url(url: str) -> str:
    url = url.rstrip(_TRAILING)
    # A closing parenthesis belongs to the URL only when it opened one (Wikipedia links).
    while url.endswith(")") and url.count("(") < url.count(")"):
        url = url[:-1]
    return url[:MAX_URL]


def _text_links(text: str, limit: int) -> list[Link]:
    out: list[Link] = []
    for match in _TEXT_URL.finditer(text[:MAX_INPUT]):
        url = _clean_text_url(match.group(0))
        if url:
            out.append(Link(url=url))
            if len(out) >= limit:
                break
    return out


class _Collector(HTMLParser):
    """Collects hrefs with their visible text, buttons, form actions and image maps."""

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.limit = limit
        self.links: list[Link] = []
        self.texts: list[str] = []  # visible text outside links (plain URLs in HTML)
        self._open: list[tuple[str, str, list[str]]] = []  # (tag, url, text parts)
        self._skip = 0  # inside <script>/<style>

    def _add(self, url: str, text: str, source: str) -> None:
        if len(self.links) >= self.limit:
            return
        url = url.strip()[:MAX_URL]
        if not url or url.startswith(("#", "mailto:", "tel:", "cid:", "data:")):
            return
        self.links.append(Link(url=url, text=_WS.sub(" ", text).strip()[:MAX_TEXT], source=source))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if len(self._open) >= 64:  # unclosed nesting: settle the oldest (bounded stack)
            kind, url, parts = self._open.pop(0)
            if url:
                self._add(url, "".join(parts), "href" if kind == "a" else "button")
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "a" and a.get("href"):
            self._open.append(("a", a["href"], []))
        elif tag == "button":
            url = a.get("formaction") or _onclick_url(a.get("onclick", ""))
            self._open.append(("button", url, []))
        elif tag == "area" and a.get("href"):
            self._add(a["href"], a.get("alt", ""), "area")
        elif tag == "form" and a.get("action"):
            self._add(a["action"], "", "form")
        elif tag == "input" and a.get("formaction"):
            self._add(a["formaction"], a.get("value", ""), "button")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
            return
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                kind, url, parts = self._open.pop(i)
                if url:
                    self._add(url, "".join(parts), "href" if kind == "a" else "button")
                break

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._open:
            parts = self._open[-1][2]
            if sum(len(p) for p in parts) < MAX_TEXT:
                parts.append(data)
        else:
            self.texts.append(data)

    def close(self) -> None:
        super().close()
        while self._open:  # unclosed <a> at the end of a broken mail still counts
            kind, url, parts = self._open.pop()
            if url:
                self._add(url, "".join(parts), "href" if kind == "a" else "button")


_ONCLICK = re.compile(r"""(?:location(?:\.href)?|window\.open)\s*[=(]\s*['"]([^'"]{1,4096})""")


def _onclick_url(js: str) -> str:
    m = _ONCLICK.search(js[:10_000])
    return html_lib.unescape(m.group(1)) if m else ""


def extract_links(*, text: str = "", html: str = "", limit: int = 500) -> list[Link]:
    """Every link in a mail's plain text and HTML, in order, deduplicated by
    (url, text, source), at most ``limit``. Never raises on hostile input."""
    limit = max(0, int(limit))
    found: list[Link] = []
    if html:
        collector = _Collector(limit)
        # The tokenizer is tolerant of any markup; suppress is belt and braces.
        with contextlib.suppress(Exception):
            collector.feed(html[:MAX_INPUT])
            collector.close()
        found.extend(collector.links)
        visible = " ".join(collector.texts)
        found.extend(_text_links(visible, limit))
    if text:
        found.extend(_text_links(text, limit))
    seen: set[tuple[str, str, str]] = set()
    out: list[Link] = []
    hrefs = {link.url for link in found if link.source != "text"}
    for link in found:
        key = (link.url, link.text, link.source)
        # A URL shown as text inside an HTML link was already taken with its href.
        if key in seen or (link.source == "text" and link.url in hrefs):
            continue
        seen.add(key)
        out.append(link)
        if len(out) >= limit:
            break
    return out
