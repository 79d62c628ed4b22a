"""Link engine: extraction, canonicalisation, rules, model, hostile input."""

from __future__ import annotations

import random

import pytest

from atalaya.security.links import (
    Link,
    describe_reason,
    extract_links,
    judge_link,
    judge_urls,
    worst_verdict,
)
from atalaya.security.links.canon import canonicalise
from atalaya.security.links.model import load


@pytest.fixture(autouse=True)
def _no_feeds(db):
    from atalaya.security.links.judge import reset_feed_cache

    reset_feed_cache()
    yield
    reset_feed_cache()


def test_extract_html_href_text_buttons_forms_and_plain_text():
    html = (
        '<p>Hola <a href="http://evil.tk/x">www.mibanco.es</a> y '
        "<button onclick=\"location.href='http://b.example/go'\">Pagar</button>"
        '<form action="https://f.example/post"></form><map><area href="http://m.example/" alt="m">'
        "</map> texto https://plain.example/a).</p><script>var u='http://no.example/'</script>"
    )
    links = extract_links(html=html, text="mira www.other.example.")
    got = [(lk.url, lk.text, lk.source) for lk in links]
    assert ("http://evil.tk/x", "www.mibanco.es", "href") in got
    assert ("http://b.example/go", "Pagar", "button") in got
    assert ("https://f.example/post", "", "form") in got
    assert ("http://m.example/", "m", "area") in got
    assert ("https://plain.example/a", "", "text") in got
    assert ("www.other.example", "", "text") in got
    assert not any("no.example" in u for u, _t, _s in got)


def test_extract_limit_and_hostile_html():
    html = "".join(f"<a href='http://x.example/{i}'>" for i in range(2000)) + "<<<>>><a href=\x00"
    assert len(extract_links(html=html, limit=50)) == 50
    assert extract_links(html="<a href>", text="") == []
    assert extract_links(html="<" * 100_000) == []


def test_canonicalise_safe_browsing_rules():
    assert canonicalise("http://3279880203/blah").canonical == "http://195.127.0.11/blah"
    assert canonicalise("http://www.GOOgle.com/").canonical == "http://www.google.com/"
    assert canonicalise("http://www.google.com.../").canonical == "http://www.google.com/"
    assert canonicalise("http://host/%25%32%35").canonical == "http://host/%25"
    assert canonicalise("http://a/b/../c/./d//e#frag").canonical == "http://a/c/d/e"
    assert canonicalise("http://www.google.com/blah/..").canonical == "http://www.google.com/"
    assert canonicalise("www.google.com").canonical == "http://www.google.com/"
    assert canonicalise("http://\t\nexample.com\r/").canonical == "http://example.com/"
    assert canonicalise("http://0x7f.1/").canonical == "http://127.0.0.1/"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://192.168.10.4/login", "ip_host"),
        ("http://www.paypal.com@evil.example/", "userinfo"),
        ("http://xn--pypal-4ve.com/", "punycode"),
        ("http://раураl.com/", "mixed_script"),
        ("http://раураl.com/", "confusable:paypal"),
        ("http://micros0ft-support.com/", "brand_outside_domain:microsoft"),
        ("http://rnicrosoft.com/", "confusable:microsoft"),
        ("http://secure.paypal.com.account-check.example/", "brand_outside_domain:paypal"),
        ("http://bit.ly/3abc", "shortener"),
        ("not a url at all \x00", "invalid_url"),
        ("javascript:alert(1)", "invalid_url"),
    ],
)
def test_rules(url, reason):
    (j,) = judge_urls([url])
    assert reason in j.reasons, j.reasons


def test_text_mismatch_and_own_domain_lookalikes():
    j = judge_link(Link(url="http://evil.example/x", text="www.mibanco.es", source="href"))
    assert "text_mismatch:mibanco.es" in j.reasons
    same = judge_link(Link(url="https://www.mibanco.es/x", text="mibanco.es", source="href"))
    assert not any(r.startswith("text_mismatch") for r in same.reasons)
    (look,) = judge_urls(["http://acrne-tools.com/invoice"], own_domains=["acme-tools.com"])
    assert any(r.startswith("confusable:") for r in look.reasons)
    assert look.verdict != "ok"
    (own,) = judge_urls(["https://acme-tools.com/invoice"], own_domains=["acme-tools.com"])
    assert own.verdict == "ok"


def test_popular_domains_are_ok_and_phishing_is_flagged():
    ok = judge_urls(
        [
            "https://www.google.com/search?q=weather",
            "https://login.microsoftonline.com/common/oauth2/authorize",
            "https://www.paypal.com/signin",
            "https://es.wikipedia.org/wiki/Atalaya",
            "https://www.amazon.es/gp/cart",
        ]
    )
    assert [j.verdict for j in ok] == ["ok"] * 5
    bad = judge_urls(["http://paypal.com.verify-account.example.tk/webscr/login.php"])
    assert bad[0].verdict in ("suspicious", "phishing")
    assert worst_verdict(ok + bad) == bad[0].verdict
    assert worst_verdict([]) == "ok"


def test_model_ships_and_scores():
    mdl = load()
    assert mdl is not None
    s = mdl.scores(
        ["centralvalleybuilder.com/wp-content/plugins/s/anmelden.php?wps=x", "weather.com/"]
    )
    assert 0.0 <= s[1] < s[0] <= 1.0


def test_hostile_urls_never_raise():
    rnd = random.Random(7)
    alphabet = "aé@:/?#[]%.\\\t\n\x00\u202e\u200bхр0xXn-–—ﬀ𝐚" + "".join(map(chr, range(32, 127)))
    urls = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 120))) for _ in range(2000)]
    urls += ["http://" + "a" * 100_000, "http://[:::1]/", "http://a:99999/", "http://%zz/", "", " "]
    urls += ["http://" + "é." * 200 + "com/", "http://xn--zzzzzzz.com/", "http://\u202egoogle.com/"]
    res = judge_urls(urls)
    assert len(res) == len(urls)
    for j in res:
        assert j.verdict in ("ok", "suspicious", "phishing")
        assert 0.0 <= j.score <= 1.0
        d = j.as_dict()
        assert set(d) == {"url", "canonical", "verdict", "score", "reasons"}


def test_describe_reason_translated():
    from django.utils import translation

    assert "paypal" in describe_reason("confusable:paypal")
    with translation.override("en"):
        assert describe_reason("ip_host")
        assert describe_reason("unknown_code")


def test_judge_links_keeps_texts_and_order_for_hostile_mail() -> None:
    from atalaya.security.links import judge_links

    html = "<a href='http://x.example/'>" * 20_000 + "</b>" * 10_000
    html += '<a href="http://evil.example/">https://www.bank.example.com/</a>'
    links = extract_links(html=html)
    res = judge_links(links)
    assert [j.url for j in res] == [lk.url for lk in links]
    # Twenty thousand open anchors are cut at the extraction limits; nothing crashes.
    assert 0 < len(links) <= 500
    mismatch = extract_links(
        html='<a href="http://evil.example/">https://www.bank.example.com/</a>'
    )
    [judged] = judge_links(mismatch)
    assert "text_mismatch:example.com" in judged.reasons
