"""Background jobs of the mail channel, run by the huey consumer (``atalaya serve``)."""

from __future__ import annotations
