"""Article search: ranked, stemmed in both languages, prefix as you type, scoped to the viewer."""

from __future__ import annotations

import pytest

from atalaya.conftest import World
from atalaya.kb import services
from atalaya.kb.models import ArticleStatus, Visibility
from atalaya.kb.search import search_articles
from atalaya.kb.tests.helpers import article


def titles(found: list) -> list[str]:
    return [a.title_en or a.title_es for a in found]


def test_words_match_in_either_language_with_stemming(world: World) -> None:
    vpn = article(world.tech)
    article(
        world.tech,
        title_en="Recognising phishing",
        title_es="Reconocer el phishing",
        body_en="Check the sender before you click links.",
        body_es="Compruebe el remitente antes de pulsar enlaces.",
    )
    assert search_articles(world.tech, "vpn") == [vpn]
    assert search_articles(world.tech, "installing") == [vpn]  # stemmed: install
    assert titles(search_articles(world.tech, "remitente")) == ["Recognising phishing"]
    assert search_articles(world.portal_a, "configurar windows") == [vpn]


def test_the_last_word_is_a_prefix(world: World) -> None:
    vpn = article(world.tech)
    assert search_articles(world.portal_a, "vp") == [vpn]
    assert search_articles(world.portal_a, "windows vp") == [vpn]


def test_accents_and_operators_in_the_query_are_harmless(world: World) -> None:
    vpn = article(world.tech)
    assert search_articles(world.portal_a, 'sesión "NEAR(x" * ^ OR -') == []
    assert search_articles(world.portal_a, "sesion") == [vpn] or search_articles(
        world.portal_a, "sesión"
    ) == [vpn]
    assert search_articles(world.portal_a, "   ") == []
    assert search_articles(world.portal_a, "!!!") == []


def test_title_matches_rank_above_body_matches(world: World) -> None:
    in_body = article(
        world.tech,
        title_en="Working from home",
        title_es="Trabajar desde casa",
        body_en="Keep the laptop updated and use the printer at home with care.",
        body_es="Mantenga el portátil al día.",
    )
    in_title = article(
        world.tech,
        title_en="Printer at home",
        title_es="Impresora en casa",
        body_en="Plug it in.",
        body_es="Enchúfela.",
    )
    assert search_articles(world.tech, "printer") == [in_title, in_body]


def test_search_is_limited_to_what_the_viewer_may_read(world: World) -> None:
    public = article(world.tech, title_en="VPN for everyone", title_es="", body_es="")
    for_a = article(
        world.tech,
        title_en="VPN for Alfa only",
        title_es="",
        body_es="",
        visibility=Visibility.CLIENTS,
        clients=[world.client_a],
    )
    draft = article(
        world.tech, title_en="VPN draft", title_es="", body_es="", status=ArticleStatus.DRAFT
    )
    assert set(search_articles(world.tech, "vpn")) == {public, for_a, draft}
    assert set(search_articles(world.readonly, "vpn")) == {public, for_a, draft}
    assert set(search_articles(world.portal_a, "vpn")) == {public, for_a}
    assert set(search_articles(world.portal_b, "vpn")) == {public}
    assert search_articles(None, "vpn") == []
    # A technician looking for a link for client B's ticket: what B's users may read.
    assert set(search_articles(world.tech, "vpn", client=world.client_b)) == {public}
    assert set(search_articles(world.tech, "vpn", client=world.client_a)) == {public, for_a}
    # A portal user naming another client's id gets nothing.
    assert search_articles(world.portal_b, "vpn", client=world.client_a) == []


def test_hidden_articles_do_not_crowd_out_visible_ones(world: World) -> None:
    for i in range(5):
        article(
            world.tech,
            title_en=f"VPN VPN VPN note {i}",
            title_es="",
            body_en="vpn vpn vpn",
            body_es="",
            visibility=Visibility.CLIENTS,
            clients=[world.client_a],
        )
    weak = article(world.tech, title_en="Remote access", title_es="", body_en="A vpn.", body_es="")
    assert search_articles(world.portal_b, "vpn", limit=2) == [weak]
    assert len(search_articles(world.portal_a, "vpn", limit=2)) == 2


def test_an_edited_article_is_found_by_its_new_words_only(world: World) -> None:
    vpn = article(world.tech)
    services.update_article(
        actor=world.tech, article=vpn, title_en="Remote desktop", body_en="Use the gateway."
    )
    assert search_articles(world.tech, "gateway") == [vpn]
    assert search_articles(world.tech, "settings") == []
    assert search_articles(world.tech, "configurar") == [vpn]  # the Spanish text stayed


@pytest.mark.parametrize("limit", [1, 3])
def test_limit(world: World, limit: int) -> None:
    for i in range(4):
        article(world.tech, title_en=f"Backup {i}", title_es="", body_en="backup", body_es="")
    assert len(search_articles(world.tech, "backup", limit=limit)) == limit


@pytest.mark.parametrize(
    "query",
    ["_", "__init__", "ñ", "x:y", "a&b|c", "!vpn", "'", "\\", "vpn:*", "1", "a" * 500, "\x00vpn",
     "(vpn", 'vpn"', "NEAR(vpn windows)", "vpn AND NOT", "ü_ß", "日本語", "-vpn", "vpn*"],
)  # fmt: skip
def test_odd_queries_never_fail(world: World, query: str) -> None:
    article(world.tech)
    for viewer in (world.tech, world.portal_a):
        search_articles(viewer, query)
        search_articles(viewer, query, any_word=True)
