"""The knowledge base: articles in Spanish and English that staff write and clients read.

An article belongs to the MSP, not to a client: it is either public (every client's
portal users may read it once published) or shared with chosen clients. Each language
is a title and a Markdown body; an article needs one complete language and is shown in
the other when the reader's is empty. The Markdown is rendered and sanitised when the
article is saved (kb.rendering), so pages never render it again. Every change appends
an ArticleRevision: history is never edited.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import STAFF_ROLES, AppendOnlyModel, AppendOnlyQuerySet, Client, Role

# One language's Markdown may hold this many characters: a long manual fits many times
# over, a pasted megabyte (or a runaway import) is refused with a clear error.
MAX_BODY_CHARS = 100_000
MAX_TITLE_CHARS = 200


class ArticleStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")


class Visibility(models.TextChoices):
    PUBLIC = "public", _("Every client")
    CLIENTS = "clients", _("Chosen clients")


class Category(models.Model):
    """A shelf of the knowledge base ("Remote work", "Security"), named in both languages."""

    slug = models.SlugField(max_length=60, unique=True)
    name_en = models.CharField(max_length=120)
    name_es = models.CharField(max_length=120)

    class Meta:
        ordering = ["name_en"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name_en

    def name_in(self, language: str) -> str:
        if language == "es":
            return self.name_es or self.name_en
        return self.name_en or self.name_es


class Tag(models.Model):
    """A keyword that cuts across categories ("vpn", "windows"); one name in both languages."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=60)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ArticleQuerySet(models.QuerySet["Article"]):
    def visible_to(self, user: Any) -> ArticleQuerySet:
        """Staff see every article; a portal user the published ones public or shared with
        one of their clients; anyone else (anonymous, inactive, unknown role) none."""
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.role in STAFF_ROLES:
            return self.all()
        if user.role == Role.PORTAL and user.contact_id:
            return self.readable_by_clients(Client.objects.visible_to(user))
        return self.none()

    def readable_by_clients(self, clients: Any) -> ArticleQuerySet:
        """Published articles a portal user of any of ``clients`` (a queryset) may read."""
        shared = Article.clients.through.objects.filter(client__in=clients).values("article_id")
        return self.filter(status=ArticleStatus.PUBLISHED).filter(
            models.Q(visibility=Visibility.PUBLIC)
            | models.Q(visibility=Visibility.CLIENTS, pk__in=shared)
        )

    def readable_by_client(self, client: Client) -> ArticleQuerySet:
        """What ``client``'s portal users may read: for links a technician puts in a reply."""
        return self.readable_by_clients(Client.objects.filter(pk=client.pk))


class Article(models.Model):
    """One article: title and Markdown body per language, its shelf, tags and audience.

    ``body_html_*`` hold the sanitised rendering of ``body_*``, written by the services
    on every save. A draft is for staff only; ``visibility`` CLIENTS with ``clients``
    shares a published article with those clients alone.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title_en = models.CharField(max_length=MAX_TITLE_CHARS, blank=True, default="")
    title_es = models.CharField(max_length=MAX_TITLE_CHARS, blank=True, default="")
    body_en = models.TextField(blank=True, default="")
    body_es = models.TextField(blank=True, default="")
    body_html_en = models.TextField(blank=True, default="", editable=False)
    body_html_es = models.TextField(blank=True, default="", editable=False)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="articles"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="articles")
    status = models.CharField(
        max_length=10, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT
    )
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    clients = models.ManyToManyField(Client, blank=True, related_name="kb_articles")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    objects = ArticleQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(title_en="") | ~models.Q(title_es=""),
                name="kb_article_has_a_title",
            )
        ]
        indexes = [
            # The portal's list: published articles, newest first.
            models.Index(fields=["status", "-updated_at"], name="kb_article_status_updated"),
            # Covers the search's visibility scope (index-only): without it the scope
            # reads every article row, bodies and all, on each search. SQLite keeps the
            # id in every index anyway; PostgreSQL needs it named.
            models.Index(fields=["status", "visibility", "id"], name="kb_article_audience"),
        ]

    def __str__(self) -> str:
        return self.title_en or self.title_es

    def language_shown(self, language: str) -> str:
        """The language the article is shown in for a reader of ``language``: theirs when
        it is written, otherwise the other one."""
        other = "en" if language == "es" else "es"
        wanted = language if language in ("en", "es") else "en"
        return wanted if getattr(self, f"title_{wanted}") else other

    def title_in(self, language: str) -> str:
        return str(getattr(self, f"title_{self.language_shown(language)}"))

    def body_in(self, language: str) -> str:
        return str(getattr(self, f"body_{self.language_shown(language)}"))

    def html_in(self, language: str) -> str:
        """The sanitised HTML of the body in the reader's language (or the other one)."""
        return str(getattr(self, f"body_html_{self.language_shown(language)}"))

    @property
    def is_published(self) -> bool:
        return self.status == ArticleStatus.PUBLISHED


class ArticleRevision(AppendOnlyModel):
    """The article as it was after one change, with who made it and when: the history.

    Written by every create and update in kb.services; never edited or deleted.
    """

    article = models.ForeignKey(Article, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    title_en = models.CharField(max_length=MAX_TITLE_CHARS, blank=True, default="")
    title_es = models.CharField(max_length=MAX_TITLE_CHARS, blank=True, default="")
    body_en = models.TextField(blank=True, default="")
    body_es = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=ArticleStatus.choices)
    visibility = models.CharField(max_length=10, choices=Visibility.choices)
    # Slugs and public ids as they were: later renames do not rewrite history.
    category = models.CharField(max_length=60, blank=True, default="")
    tags = models.JSONField(default=list, blank=True)
    clients = models.JSONField(default=list, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["article", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["article", "number"], name="kb_revision_once")
        ]

    def __str__(self) -> str:
        return f"{self.article_id} r{self.number}"
