"""The MSP's public news: announcements marked public, on a page and in Atom feeds.

No login. Only announcements that are public, sent and not expired are shown; drafts,
scheduled, cancelled and private ones answer 404 exactly like an unknown id. Bodies
are plain text: shown escaped, line breaks kept. The page's language comes from
``?lang=`` (the feeds have their own URL per language), else the visitor's
(Accept-Language, or the signed-in user's own).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import linebreaksbr
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views.decorators.http import condition, require_http_methods

from atalaya.comms.models import Announcement
from atalaya.mail.addressing import mail_from

PER_PAGE = 20
FEED_ITEMS = 30
LANGUAGES = tuple(code for code, _name in settings.LANGUAGES)


def msp_name() -> str:
    """The MSP's name as its clients know it: the display name of the mail it sends."""
    return mail_from()[0]


def _language(request: HttpRequest) -> str:
    asked = (request.GET.get("lang") or "").lower()
    if asked in LANGUAGES:
        return asked
    current = (translation.get_language() or settings.LANGUAGE_CODE).split("-")[0]
    return current if current in LANGUAGES else settings.LANGUAGE_CODE


def _render(request: HttpRequest, template: str, language: str, context: dict[str, Any]) -> Any:
    with translation.override(language):
        response = render(
            request,
            template,
            {
                **context,
                "language": language,
                "msp_name": msp_name(),
                "feed_url": reverse(f"public:feed_{language}"),
            },
        )
    response["Content-Language"] = language
    return response


@require_http_methods(["GET", "HEAD"])
def news_list(request: HttpRequest) -> HttpResponse:
    """The public announcements, newest first, in the visitor's language."""
    language = _language(request)
    page = Paginator(
        Announcement.objects.public(timezone.now())
        .only("public_id", "subject_en", "subject_es", "body_en", "body_es", "sent_at")
        .order_by("-sent_at", "-id"),
        PER_PAGE,
    ).get_page(request.GET.get("page"))
    items = [
        {
            "public_id": a.public_id,
            "subject": a.subject_in(language),
            "body": a.body_in(language),
            "sent_at": a.sent_at,
        }
        for a in page.object_list
    ]
    return _render(request, "comms/public/list.html", language, {"page": page, "items": items})


def _public_or_404(announcement_id: object) -> Announcement:
    try:
        key = uuid.UUID(str(announcement_id))
    except (TypeError, ValueError):
        raise Http404("Not found") from None
    announcement = Announcement.objects.public(timezone.now()).filter(public_id=key).first()
    if announcement is None:
        raise Http404("No such announcement")
    return announcement


@require_http_methods(["GET", "HEAD"])
def news_detail(request: HttpRequest, announcement_id: Any) -> HttpResponse:
    """One public announcement; 404 unless it is public, sent and not expired."""
    announcement = _public_or_404(announcement_id)
    language = _language(request)
    return _render(
        request,
        "comms/public/detail.html",
        language,
        {
            "announcement": announcement,
            "subject": announcement.subject_in(language),
            "body": announcement.body_in(language),
        },
    )


class NewsFeed(Feed):
    """The public announcements as an Atom feed in one language."""

    feed_type = Atom1Feed

    def get_object(self, request: HttpRequest, language: str) -> str:
        if language not in LANGUAGES:
            raise Http404("No feed in this language")
        return language

    def title(self, language: str) -> str:
        return _("%(msp)s: news") % {"msp": msp_name()}

    def subtitle(self, language: str) -> str:
        return _("Announcements from %(msp)s to its clients.") % {"msp": msp_name()}

    def link(self, language: str) -> str:
        return reverse("public:list") + f"?lang={language}"

    def feed_url(self, language: str) -> str:
        return reverse(f"public:feed_{language}")

    def feed_guid(self, language: str) -> str:
        return self.feed_url(language)

    def author_name(self, language: str) -> str:
        return msp_name()

    def items(self, language: str) -> list[Announcement]:
        return list(
            Announcement.objects.public(timezone.now()).order_by("-sent_at", "-id")[:FEED_ITEMS]
        )

    def item_title(self, item: Announcement) -> str:
        return item.subject_in(translation.get_language() or "en")

    def item_description(self, item: Announcement) -> str:
        # Atom "html" content: the plain-text body, escaped, its line breaks as <br>.
        return str(linebreaksbr(escape(item.body_in(translation.get_language() or "en"))))

    def item_link(self, item: Announcement) -> str:
        language = translation.get_language() or "en"
        return reverse("public:detail", args=[item.public_id]) + f"?lang={language}"

    def item_guid(self, item: Announcement) -> str:
        return f"urn:uuid:{item.public_id}"

    item_guid_is_permalink = False

    def item_pubdate(self, item: Announcement) -> datetime | None:
        return item.sent_at

    def item_updateddate(self, item: Announcement) -> datetime | None:
        return item.sent_at


def _feed_state(request: HttpRequest, language: str) -> list[tuple[int, datetime | None]]:
    return list(
        Announcement.objects.public(timezone.now())
        .order_by("-sent_at", "-id")
        .values_list("pk", "sent_at")[:FEED_ITEMS]
    )


def _feed_etag(request: HttpRequest, language: str) -> str:
    # What the feed shows: its items (an expiry drops one without a newer sent_at),
    # the language and the MSP's name. Sent announcements' texts are final.
    state = repr((language, msp_name(), _feed_state(request, language))).encode()
    return hashlib.sha256(state).hexdigest()[:32]


def _feed_last_modified(request: HttpRequest, language: str) -> datetime | None:
    sent = [when for _pk, when in _feed_state(request, language) if when is not None]
    return max(sent) if sent else None


_feed = NewsFeed()


@require_http_methods(["GET", "HEAD"])
@condition(etag_func=_feed_etag, last_modified_func=_feed_last_modified)
def news_feed(request: HttpRequest, language: str) -> HttpResponse:
    """The Atom feed of public announcements in ``language`` (en or es).

    Answers 304 to a reader that already has this version (ETag / Last-Modified)."""
    if language not in LANGUAGES:
        raise Http404("No feed in this language")
    with translation.override(language):
        response = _feed(request, language=language)
    response["Content-Language"] = language
    return response
