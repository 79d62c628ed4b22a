"""Demo call log (filled in by its area)."""

from __future__ import annotations

from typing import Any


def load_calls(loader: Any, seed: int) -> None:
    """Nothing yet."""
