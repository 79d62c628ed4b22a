"""Load offline threat feeds (URLhaus CSV, OpenPhish txt, PhishTank CSV) into
``FeedLoad``/``FeedEntry``. The newest load of a source replaces its entries."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

from django.db import transaction

from atalaya.core.services import record_audit
from atalaya.security.links.canon import BadURL, canonicalise
from atalaya.security.models import FeedEntry, FeedLoad, FeedSource

MAX_FEED_BYTES = 200 * 1024 * 1024


class FeedError(ValueError):
    """The file is not a feed we can read."""


def detect(text: str) -> str:
    """The feed source of a file's text, or FeedError."""
    head = text[:4000].lower()
    if "phish_id" in head and "url" in head:
        return FeedSource.PHISHTANK
    if "urlhaus" in head or ("dateadded" in head and "url_status" in head):
        return FeedSource.URLHAUS
    lines = [ln.strip() for ln in text[:4000].splitlines() if ln.strip() and not ln.startswith("#")]
    if lines and all(ln.lower().startswith(("http://", "https://")) for ln in lines[:20]):
        return FeedSource.OPENPHISH
    raise FeedError("unknown feed format (expected URLhaus CSV, OpenPhish txt or PhishTank CSV)")


def _urls(source: str, text: str) -> list[str]:
    if source == FeedSource.OPENPHISH:
        return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if source == FeedSource.PHISHTANK:
        return [r.get("url", "") for r in csv.DictReader(io.StringIO(text))]
    body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
    out = []
    for row in csv.reader(io.StringIO(body)):
        # URLhaus: id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter
        if len(row) >= 3 and row[2].lower().startswith(("http://", "https://")):
            out.append(row[2])
    return out


def load_feed(path: Path) -> FeedLoad:
    """Read one feed file and replace the entries of its source."""
    data = path.read_bytes()
    if len(data) > MAX_FEED_BYTES:
        raise FeedError("file too large")
    text = data.decode("utf-8", errors="replace")
    source = detect(text)
    entries: dict[str, str] = {}
    skipped = 0
    for url in _urls(source, text):
        try:
            entries.setdefault(canonicalise(url).canonical, "url")
        except (BadURL, ValueError, UnicodeError):
            skipped += 1
    with transaction.atomic():
        load = FeedLoad.objects.create(
            source=source,
            file_name=path.name[:255],
            sha256=hashlib.sha256(data).hexdigest(),
            entries=len(entries),
            skipped=skipped,
        )
        FeedEntry.objects.filter(source=source).delete()
        FeedEntry.objects.bulk_create(
            [
                FeedEntry(
                    source=source,
                    kind=kind,
                    value=value,
                    digest=hashlib.sha256(value.encode()).hexdigest(),
                    load=load,
                )
                for value, kind in entries.items()
            ],
            batch_size=2000,
        )
        record_audit(
            None, load, "security.feed_loaded", after={"source": source, "entries": len(entries)}
        )
    from atalaya.security.links.judge import reset_feed_cache

    reset_feed_cache()
    return load
