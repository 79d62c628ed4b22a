"""The ring webhook phone systems call (signed, no session), under /hooks/calls/."""

from __future__ import annotations

app_name = "call_hooks"
urlpatterns: list = []
