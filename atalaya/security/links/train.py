"""Training and evaluation of the shipped n-gram model (``atalaya links train``).

Reproducible bit for bit: inputs are normalised, deduplicated and sorted, the split is
a hash of the registered domain (disjoint by domain), and the learner has a fixed seed.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atalaya.security.links import model as model_mod
from atalaya.security.links.canon import BadURL, canonicalise, model_text
from atalaya.security.links.judge import _psl

DEFAULT_DATA = Path("/work/shared/datasets/urls")
FILES = {
    "iscx2016-phishing.txt": 1,
    "iscx2016-benign.txt": 0,
    "phishstorm-phishing.txt": 1,
    "phishstorm-benign.txt": 0,
    "phishtank-2020-05-09.csv": 1,
}


@dataclass
class Row:
    url: str  # canonical
    text: str  # model text
    domain: str
    label: int


def _read(path: Path) -> list[str]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            return [r.get("url", "") for r in csv.DictReader(fh)]
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def load_rows(data: Path = DEFAULT_DATA) -> list[Row]:
    """All labelled URLs, normalised, deduplicated (a URL in both classes is dropped)."""
    seen: dict[str, Row] = {}
    clash: set[str] = set()
    for name, label in sorted(FILES.items()):
        path = data / name
        if not path.exists():
            continue
        for raw in _read(path):
            raw = raw.strip()
            if not raw:
                continue
            try:
                parts = canonicalise(raw)
            except (BadURL, ValueError, UnicodeError):
                continue
            text = model_text(parts)
            old = seen.get(text)
            if old is not None and old.label != label:
                clash.add(text)
            domain = _psl.privatesuffix(parts.ascii_host) or parts.ascii_host
            seen[text] = Row(parts.canonical, text, domain, label)
    return [seen[k] for k in sorted(seen) if k not in clash]


def is_eval(domain: str) -> bool:
    """One registered domain in five goes to evaluation, by hash: disjoint by domain."""
    return hashlib.sha256(domain.encode()).digest()[0] % 5 == 0


def train(rows: list[Row]) -> model_mod.Model:
    """Fit a logistic regression (SGD, fixed seed) on the training split."""
    from sklearn.linear_model import SGDClassifier

    tr = [r for r in rows if not is_eval(r.domain)]
    x = model_mod.matrix([r.text for r in tr])
    y = np.array([r.label for r in tr])
    clf = SGDClassifier(
        loss="log_loss", alpha=2e-6, max_iter=15, tol=None, random_state=0, shuffle=True
    )
    clf.fit(x, y)
    return model_mod.Model(clf.coef_[0].astype(np.float32), float(clf.intercept_[0]))
