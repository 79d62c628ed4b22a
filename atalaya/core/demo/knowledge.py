"""Demo knowledge base articles (filled in by its area)."""

from __future__ import annotations

from typing import Any


def load_knowledge(loader: Any, seed: int) -> None:
    """Nothing yet."""
