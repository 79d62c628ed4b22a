"""/api/v1/links/check: the link scanner for mail gateways and scripts (MSP staff tokens).

Send URLs, or a mail's text and HTML to have its links extracted first; each link
comes back judged (verdict, score 0–1, reasons as stable codes and as sentences in the
token owner's language). Nothing is ever fetched. Naming a client adds its own mail
domains to the protected names, so lookalikes of them are caught.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema

from atalaya.apiutil import FieldNotFound, responses
from atalaya.core.models import Client, MailDomain, User
from atalaya.core.schemas import InputSchema
from atalaya.security.links import describe_reason, extract_links, judge_links, worst_verdict
from atalaya.security.links.extract import Link

router = Router(tags=["security"])

MAX_URLS = 1000
MAX_URL_CHARS = 8192
MAX_MAIL_CHARS = 2_000_000


class LinksCheckIn(InputSchema):
    urls: list[str] = Field(
        [], max_length=MAX_URLS, description=f"Up to {MAX_URLS} URLs, as written."
    )
    text: str = Field("", max_length=MAX_MAIL_CHARS, description="A mail's plain text.")
    html: str = Field("", max_length=MAX_MAIL_CHARS, description="A mail's HTML.")
    client_id: uuid.UUID | None = Field(
        None, description="Public id of the client whose own domains count as protected."
    )


class LinkVerdictOut(Schema):
    url: str
    text: str
    canonical: str
    verdict: str = Field(description="ok, suspicious or phishing")
    score: float
    reasons: list[str]
    explanations: list[str]


class LinksCheckOut(Schema):
    verdict: str = Field(description="The worst verdict of all the links (ok when none).")
    links: list[LinkVerdictOut]


def _staff(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_msp_staff:
        raise Http404("Not found.")
    return user


@router.post("/links/check", response=responses(LinksCheckOut), summary="Check links")
def check_links(request: HttpRequest, payload: LinksCheckIn) -> dict[str, Any]:
    """Judge URLs, or every link of a mail's text and HTML, without opening any of them."""
    user = _staff(request)
    own: list[str] = []
    if payload.client_id is not None:
        client = Client.objects.visible_to(user).filter(public_id=payload.client_id).first()
        if client is None:
            raise FieldNotFound("client_id", "No such client.")
        own = list(MailDomain.objects.filter(client=client).values_list("domain", flat=True))
    for n, url in enumerate(payload.urls):
        if len(url) > MAX_URL_CHARS:
            raise ValidationError(
                {f"urls.{n}": [_("At most %(n)d characters per URL.") % {"n": MAX_URL_CHARS}]}
            )
    links = [Link(url=u.strip()) for u in payload.urls if u.strip()]
    if payload.text or payload.html:
        links += extract_links(text=payload.text, html=payload.html, limit=MAX_URLS)
    judged = judge_links(links[:MAX_URLS], own_domains=own)
    return {
        "verdict": worst_verdict(judged),
        "links": [
            {
                **j.as_dict(),
                "text": link.text,
                "explanations": [describe_reason(code) for code in j.reasons],
            }
            for link, j in zip(links, judged, strict=False)
        ],
    }
