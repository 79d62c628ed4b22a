"""Helpers the apps' API routers share: field-named 404s, 201 responses, documented errors.

Kept apart from ``atalaya.api`` (which imports every router) so that a router can be
imported on its own without a circular import.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404

try:
    from ninja import Status
except ImportError:  # pragma: no cover - django-ninja before 1.6
    Status = None  # type: ignore[assignment,misc]

from atalaya.core.schemas import ErrorOut


class FieldNotFound(Http404):
    """A 404 for an id given in a field of the request (``site``, ``contact``…).

    The object may not exist or belong to another client: the answer is the same.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def responses(schema: Any, status: int = 200) -> dict[int, Any]:
    """A route's success schema plus the error shapes it may answer with, for OpenAPI."""
    return {
        status: schema,
        400: ErrorOut,
        401: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        413: ErrorOut,
        422: ErrorOut,
    }


_ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}

# ``openapi_extra`` of a route that answers a PDF (an invoice's, a quote's): the file on
# success, the JSON error shape otherwise.
PDF_OPENAPI = {
    "responses": {
        "200": {"description": "The PDF", "content": {"application/pdf": {}}},
        **{
            code: {"description": text, "content": _ERROR_REF}
            for code, text in (
                ("401", "Unauthorized"),
                ("404", "Not Found"),
                ("422", "Unprocessable Entity"),
            )
        },
    }
}


def created(value: Any) -> Any:
    """A 201 response for a route declared with ``response={201: …}``."""
    if Status is None:  # django-ninja before 1.6 takes a (status, value) tuple
        return 201, value
    return Status(201, value)
