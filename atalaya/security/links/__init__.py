"""Link scanner: extract links from mail, canonicalise them and judge them offline
(feeds, cheap rules, a small shipped character n-gram model). Never fetches a URL."""

from __future__ import annotations

from atalaya.security.links.extract import Link, extract_links
from atalaya.security.links.judge import (
    Judgement,
    describe_reason,
    judge_link,
    judge_links,
    judge_urls,
    worst_verdict,
)

__all__ = [
    "Judgement",
    "Link",
    "describe_reason",
    "extract_links",
    "judge_link",
    "judge_links",
    "judge_urls",
    "worst_verdict",
]
