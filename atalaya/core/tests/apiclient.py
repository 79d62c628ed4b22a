"""A test client for /api/v1 that authenticates with a real bearer token.

Tokens are issued through the same service as the UI and the CLI, so the tests
exercise the whole path: header, hash lookup, active check, then the route.
"""

from __future__ import annotations

import json
from typing import Any

from django.test import Client as HttpClient

from atalaya.core.models import User
from atalaya.core.services import create_api_token

BASE = "/api/v1"


def token_for(user: User, name: str = "test") -> str:
    _token, raw = create_api_token(actor=None, user=user, name=name)
    return raw


class Api:
    """JSON in, JSON out, with ``Authorization: Bearer``; paths are relative to /api/v1."""

    def __init__(self, user: User | None = None, raw_token: str | None = None) -> None:
        self.raw = raw_token or (token_for(user) if user is not None else None)
        headers = {"authorization": f"Bearer {self.raw}"} if self.raw else {}
        self.http = HttpClient(headers=headers)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.http.get(BASE + path, params or {})

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        raw: str | bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        data = raw if raw is not None else json.dumps(body)
        return self.http.post(BASE + path, data, content_type=content_type)

    def patch(self, path: str, body: Any = None, *, raw: str | bytes | None = None) -> Any:
        data = raw if raw is not None else json.dumps(body)
        return self.http.patch(BASE + path, data, content_type="application/json")

    def delete(self, path: str) -> Any:
        return self.http.delete(BASE + path)


def fields_of(response: Any) -> set[str]:
    """The field names an error response blames."""
    return {e["field"] for e in response.json().get("errors", [])}
