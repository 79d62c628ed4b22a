"""The shipped character n-gram model: hashed 3/4/5-grams of the normalised URL, a
linear model (logistic regression) trained with scikit-learn, stored as numpy ``.npz``.

Features are computed with numpy over a whole batch (one concatenated byte array, a
rolling polynomial hash per n), so scoring costs a few vector operations per batch
rather than Python work per n-gram. Training uses the very same featuriser.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MODEL_PATH = Path(__file__).with_name("model.npz")
N_FEATURES = 1 << 18
NGRAMS = (3, 4, 5)
MAX_CHARS = 160  # characters of the normalised URL the model reads
_MULT32 = np.uint32(0x9E3779B1)


def _bytes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    enc = [("\x02" + t[:MAX_CHARS] + "\x03").encode("utf-8", "replace") for t in texts]
    lengths = np.fromiter((len(b) for b in enc), dtype=np.int64, count=len(enc))
    data = np.frombuffer(b"".join(enc), dtype=np.uint8)
    return data, lengths


def features(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(doc index, feature index, value) of every hashed n-gram, values normalised so
    each document's vector has unit L2 norm (counts of repeated n-grams add up).

    One rolling pass: the hash of an (n)-gram extends the (n-1)-gram's, in uint32
    arithmetic (wrapping multiplication is the intended modulus)."""
    data, lengths = _bytes(texts)
    n_docs = len(texts)
    total = len(data)
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    starts = np.zeros(n_docs, dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int32), lengths)
    pos = np.arange(total, dtype=np.int32)
    # How many bytes remain in the URL from each position: an n-gram fits when >= n.
    remain = (starts + lengths).astype(np.int32)[doc_of] - pos
    # Host and path n-grams are different features (namespaced by where they start):
    # "paypal" in a host means something else than in a path.
    slash = np.where(data == 47, pos, total)
    host_end = np.minimum.reduceat(slash, starts) if n_docs else slash[:0]
    region = (pos >= host_end[doc_of]).astype(np.uint32) * np.uint32(0x5BD1E995)
    d32 = data.astype(np.uint32)
    h = (d32 ^ region) * _MULT32 + np.uint32(0x165667B1)
    docs_all, feats_all = [], []
    for n in range(2, max(NGRAMS) + 1):
        m = total - n + 1
        if m <= 0:
            break
        h = (h[:m] * _MULT32) ^ d32[n - 1 : n - 1 + m]
        if n in NGRAMS:
            ok = remain[:m] >= n
            hf = (h[ok] * _MULT32) >> np.uint32(13)
            docs_all.append(doc_of[:m][ok])
            feats_all.append((hf & np.uint32(N_FEATURES - 1)).astype(np.int32))
    docs = np.concatenate(docs_all)
    feats = np.concatenate(feats_all)
    counts = np.bincount(docs, minlength=n_docs).astype(np.float64)
    vals = 1.0 / np.sqrt(np.maximum(counts[docs], 1.0))
    return docs, feats, vals


def matrix(texts: list[str]) -> Any:
    """The scipy CSR feature matrix (training and evaluation)."""
    from scipy.sparse import csr_matrix

    docs, feats, vals = features(texts)
    x = csr_matrix((vals, (docs, feats)), shape=(len(texts), N_FEATURES), dtype=np.float64)
    x.sum_duplicates()
    return x


class Model:
    """Weights and bias of the linear model; ``scores`` gives probabilities."""

    def __init__(self, weights: np.ndarray, bias: float) -> None:
        self.weights = weights.astype(np.float32)
        self.bias = float(bias)

    def scores(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0)
        docs, feats, vals = features(texts)
        z = np.bincount(docs, weights=self.weights[feats] * vals, minlength=len(texts))
        return 1.0 / (1.0 + np.exp(-(z + self.bias)))

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path, weights=self.weights.astype(np.float16), bias=np.float64(self.bias)
        )


@lru_cache(maxsize=4)
def load(path: str = str(MODEL_PATH)) -> Model | None:
    """The model file, or None when it is missing or unreadable (rules still work)."""
    try:
        with np.load(path) as z:
            return Model(z["weights"].astype(np.float32), float(z["bias"]))
    except (OSError, KeyError, ValueError):
        return None
