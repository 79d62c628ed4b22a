"""API shapes for clients, sites and contacts (what /api/v1 reads and writes).

Objects are named by their public UUID, never by row id. Output is built from
plain dicts by the routers so a list never triggers a query per row.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, field_validator

LanguageCode = Literal["en", "es"]


class InputSchema(Schema):
    """Base of every request body: a JSON object of known fields, with no NUL characters.

    Unknown fields are refused by name, so a typo ("assigne") is not silently ignored,
    and anything but an object (``[]``, ``42``) is refused too. PostgreSQL cannot store
    NUL in text and would fail the request with a 500; a client that sends one gets a
    422 naming the field instead.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL (\\x00) characters")
        return value


class FieldError(Schema):
    field: str = Field(
        description="The field at fault, dotted for nested ones; `body` for the whole body."
    )
    message: str


class ErrorOut(Schema):
    """Every error the API answers with, whatever its status."""

    detail: str
    errors: list[FieldError]


class MeOut(Schema):
    username: str
    name: str
    role: str
    language: str
    time_zone: str
    clients: list[uuid.UUID] | None = Field(
        None, description="For a portal user, the clients they see; null for MSP staff (all)."
    )


class ClientOut(Schema):
    public_id: uuid.UUID
    name: str
    legal_name: str
    language: str
    time_zone: str
    phone: str
    is_active: bool
    working_days: str = Field(description="ISO weekday digits, 1 = Monday … 7 = Sunday.")
    workday_starts_at: str
    workday_ends_at: str
    created_at: datetime


class ClientPage(Schema):
    items: list[ClientOut]
    next_offset: int | None = Field(
        None, description="Pass as offset for the next page; null at the end."
    )


class SiteOut(Schema):
    public_id: uuid.UUID
    client: uuid.UUID
    name: str
    address: str
    time_zone: str
    created_at: datetime


class ContactOut(Schema):
    public_id: uuid.UUID
    name: str
    email: str
    phone: str = Field(description="E.164, e.g. +34612345678; empty when unknown.")
    language: str
    time_zone: str
    clients: list[uuid.UUID] = Field(
        description="The clients (that you may see) this person belongs to."
    )
    created_at: datetime


class ContactPage(Schema):
    items: list[ContactOut]
    next_offset: int | None = None


class ContactIn(InputSchema):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field("", max_length=254)
    phone: str = Field(
        "",
        max_length=40,
        description='Any usual way of writing it ("612 34 56 78", "+34 612-345-678", '
        '"0034612345678"); local numbers are read in the first client\'s country. '
        'Stored and returned in E.164 ("+34612345678"); an invalid number is a 422 on `phone`.',
    )
    language: LanguageCode = "es"
    time_zone: str = Field("Europe/Madrid", max_length=64)
    clients: list[uuid.UUID] = Field(
        min_length=1, max_length=50, description="Public ids of the clients the person belongs to."
    )
    site: uuid.UUID | None = Field(None, description="A site of one of those clients.")
