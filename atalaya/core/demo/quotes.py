"""Demo quotes for the remote worker bundle (filled in by its area)."""

from __future__ import annotations

from typing import Any


def load_quotes(loader: Any, seed: int) -> None:
    """Nothing yet."""
