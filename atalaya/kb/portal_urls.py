"""The knowledge base in the client portal (included under /portal/kb/, names portal:kb_*)."""

from __future__ import annotations

urlpatterns: list = []
