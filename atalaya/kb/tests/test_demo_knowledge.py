"""The demo's knowledge base: useful articles in both languages, one for one client only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client as HttpClient
from django.urls import reverse

from atalaya.core.demo import load_demo
from atalaya.core.models import Client, User
from atalaya.kb.models import Article, ArticleStatus, Visibility
from atalaya.kb.search import search_articles

NOW = datetime(2026, 11, 26, 18, 30, tzinfo=UTC)


@pytest.mark.django_db
def test_demo_articles() -> None:
    with time_machine.travel(NOW, tick=False):
        load_demo(tickets=30, now=NOW)
    articles = list(Article.objects.all())
    assert 6 <= len(articles) <= 8
    assert all(a.title_en and a.title_es and a.body_html_en and a.body_html_es for a in articles)
    assert all(a.status == ArticleStatus.PUBLISHED and a.category for a in articles)
    assert all(a.revisions.count() == 1 for a in articles)
    titles = " ".join(a.title_en for a in articles).lower()
    for subject in ("working from home", "vpn", "phishing", "multi-factor", "backing up", "lost"):
        assert subject in titles, subject
    (shared,) = [a for a in articles if a.visibility == Visibility.CLIENTS]
    ruiz = Client.objects.get(name="Transportes Hermanos Ruiz")
    assert list(shared.clients.all()) == [ruiz]
    ruiz_user = User.objects.filter(contact__memberships__client=ruiz, role="portal").first()
    other = User.objects.filter(role="portal").exclude(contact__memberships__client=ruiz).first()
    assert ruiz_user is not None and other is not None
    assert shared in search_articles(ruiz_user, "tablet")
    assert shared not in search_articles(other, "tablet")
    assert search_articles(other, "contraseña")  # Spanish words find the Spanish texts
    http = HttpClient()
    http.force_login(other)
    public = next(a for a in articles if a.visibility == Visibility.PUBLIC)
    page = http.get(reverse("portal:kb_detail", args=[public.public_id]))
    assert page.status_code == 200
    assert http.get(reverse("portal:kb_detail", args=[shared.public_id])).status_code == 404
