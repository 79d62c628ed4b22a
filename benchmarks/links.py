"""Link scanner figures: throughput of judge_urls, detection and false positives on the
evaluation split (disjoint by registered domain), false positives on popular domains.

    .venv/bin/python benchmarks/links.py [--data /work/shared/datasets/urls]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atalaya.settings")

import django  # noqa: E402

django.setup()

from atalaya.security.links import judge_urls  # noqa: E402
from atalaya.security.links.brands import POPULAR  # noqa: E402
from atalaya.security.links.train import DEFAULT_DATA, is_eval, load_rows  # noqa: E402

POPULAR_PATHS = [
    "/",
    "/login",
    "/account/signin?next=%2Fhome",
    "/help/security",
    "/es/",
    "/search?q=password+reset",
    "/products/item/12345",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    args = ap.parse_args()
    rows = [r for r in load_rows(Path(args.data)) if is_eval(r.domain)]
    urls = [r.url for r in rows]
    judge_urls(urls[:1000])  # warm-up (model load)
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        js = judge_urls(urls)
        dt = time.perf_counter() - t0
        best = max(best, len(urls) / dt)
    flagged = [j.verdict != "ok" for j in js]
    pos = [f for f, r in zip(flagged, rows, strict=True) if r.label == 1]
    neg = [f for f, r in zip(flagged, rows, strict=True) if r.label == 0]
    popular_urls = [f"https://www.{d}{p}" for d in sorted(POPULAR) for p in POPULAR_PATHS]
    pop_fp = sum(j.verdict != "ok" for j in judge_urls(popular_urls))
    print(f"eval split: {len(pos)} phishing, {len(neg)} benign (disjoint by registered domain)")
    print(f"RESULT links_per_s={best:.0f}")
    print(f"RESULT links_detection_pct={100 * sum(pos) / max(1, len(pos)):.2f}")
    print(f"RESULT links_fp_pct={100 * sum(neg) / max(1, len(neg)):.2f}")
    print(
        f"RESULT links_popular_fp_pct={100 * pop_fp / max(1, len(popular_urls)):.3f}"
        f" ({pop_fp} of {len(popular_urls)} URLs on {len(POPULAR)} popular domains)"
    )


if __name__ == "__main__":
    main()
