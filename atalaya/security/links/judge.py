"""Judge links offline: feeds, cheap rules, the shipped n-gram model. Never opens a URL.

Per-host work (registered domain, scripts, confusables, brands) is cached, and the
model scores a whole batch with numpy, so :func:`judge_urls` is the fast path.
"""

from __future__ import annotations

import gc
import re
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.utils.translation import gettext as _
from publicsuffixlist import PublicSuffixList

from atalaya.security.links import model as model_mod
from atalaya.security.links.brands import BRANDS, LOGIN_WORDS, POPULAR, SHORT_BRANDS, SHORTENERS
from atalaya.security.links.canon import BadURL, Parts, canonicalise, model_text
from atalaya.security.links.extract import Link

PHISHING_AT = 0.8
SUSPICIOUS_AT = 0.5
MODEL_REASON_AT = 0.5
_ORDER = {"ok": 0, "suspicious": 1, "phishing": 2}
_psl = PublicSuffixList()

# Rule weights: combined as independent evidence, 1 - Π(1 - w).
WEIGHTS = {
    "ip_host": 0.6,
    "userinfo": 0.7,
    "punycode": 0.3,
    "mixed_script": 0.85,
    "confusable": 0.9,
    "brand_outside_domain": 0.6,
    "shortener": 0.3,
    "text_mismatch": 0.7,
}

# Letters that look like Latin ones (Cyrillic, Greek, fullwidth handled by NFKC) and
# digit tricks; a skeleton equal to a brand is a lookalike.
_CONFUSABLE = str.maketrans(
    {
        "а": "a",
        "е": "e",
        "о": "o",
        "р": "p",
        "с": "c",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "һ": "h",
        "ԁ": "d",
        "ɡ": "g",
        "ո": "n",
        "ν": "v",
        "ο": "o",
        "α": "a",
        "ρ": "p",
        "τ": "t",
        "ι": "i",
        "κ": "k",
        "μ": "m",
        "ε": "e",
        "ӏ": "l",
        "ı": "i",
        "ʟ": "l",
        "0": "o",
        "1": "l",
        "3": "e",
        "5": "s",
        "7": "t",
        "@": "a",
        "$": "s",
        "|": "l",
    }
)
_DOMAINISH = re.compile(r"(?:[a-z0-9\u00a1-\uffff-]+\.)+[a-z\u00a1-\uffff]{2,24}", re.IGNORECASE)


@dataclass
class Judgement:
    """The verdict on one link with its score (0..1) and stable reason codes."""

    url: str
    canonical: str
    host: str
    registered_domain: str
    verdict: str
    score: float
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form stored on events and reports and answered by the API."""
        return {
            "url": self.url,
            "canonical": self.canonical,
            "verdict": self.verdict,
            "score": round(self.score, 4),
            "reasons": list(self.reasons),
        }


def _skeleton(label: str) -> str:
    s = unicodedata.normalize("NFKC", label).lower().translate(_CONFUSABLE)
    return s.replace("rn", "m").replace("vv", "w").replace("-", "")


def _edit1(a: str, b: str) -> bool:
    """True when a and b differ by one substitution, insertion, deletion or swap."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    if len(a) > len(b):
        a, b = b, a
    return any(b[:i] + b[i + 1 :] == a for i in range(len(b)))


def _script(ch: str) -> str:
    try:
        return unicodedata.name(ch).split(" ", 1)[0]
    except ValueError:
        return "UNKNOWN"


@dataclass(frozen=True)
class HostFacts:
    registered: str
    reasons: tuple[str, ...]
    popular: bool


@lru_cache(maxsize=65536)
def _host_facts(host: str, ascii_host: str, is_ip: bool, own: tuple[str, ...]) -> HostFacts:
    """Everything about a host that does not depend on the rest of the URL."""
    if is_ip:
        return HostFacts(ascii_host, ("ip_host",), False)
    registered = _psl.privatesuffix(ascii_host) or ascii_host
    reasons: list[str] = []
    if "xn--" in ascii_host:
        reasons.append("punycode")
    if not host.isascii():
        for label in host.split("."):
            scripts = {_script(c) for c in label if c.isalpha()}
            if len(scripts) > 1:
                reasons.append("mixed_script")
                break
    # A popular domain may sit right under a public suffix (gob.es): match any parent.
    labels_a = ascii_host.split(".")
    popular = any(".".join(labels_a[i:]) in POPULAR for i in range(len(labels_a) - 1))
    official = popular or registered in own
    suffix = _psl.publicsuffix(ascii_host) or ""
    reg_label_u = host[: len(host) - len(suffix) - 1] if suffix and host.endswith(suffix) else host
    labels = [lab for lab in reg_label_u.split(".") if lab]
    targets: dict[str, tuple[str, ...]] = dict(BRANDS)
    for dom in own:
        lab = dom.split(".", 1)[0]
        if len(lab) >= 4:
            targets[lab] = (dom,)
    for brand, domains in targets.items():
        if registered in domains or not domains:
            continue
        for label in labels:
            sk = _skeleton(label)
            plain = label.lower()
            if plain != brand and (sk == brand or (len(brand) >= 6 and _edit1(sk, brand))):
                reasons.append(f"confusable:{brand}")
                break
            if not official and (
                (brand in SHORT_BRANDS and brand in re.split(r"[^a-z0-9]+", plain))
                or (brand not in SHORT_BRANDS and len(brand) >= 5 and brand in sk)
            ):
                reasons.append(f"brand_outside_domain:{brand}")
                break
    if registered in SHORTENERS:
        reasons.append("shortener")
    # A client's own domain counts like a popular one: its own pages are not a kit.
    return HostFacts(registered, tuple(dict.fromkeys(reasons)), popular or registered in own)


_LOGIN_RE = re.compile("|".join(map(re.escape, LOGIN_WORDS)))
_PATH_BRANDS = sorted((b for b, d in BRANDS.items() if d and len(b) >= 5), key=len, reverse=True)
_PATH_BRAND_RE = re.compile("|".join(map(re.escape, _PATH_BRANDS)))


def _path_brand(path: str, registered: str) -> str | None:
    """A brand named in a login-like path of a domain that is not the brand's."""
    low = path.lower()
    if not _LOGIN_RE.search(low):
        return None
    for m in _PATH_BRAND_RE.finditer(low):
        brand = m.group(0).lower()
        if registered not in BRANDS[brand]:
            return brand
    return None


def _text_mismatch(text: str, registered: str) -> str | None:
    if not text or "." not in text:
        return None
    for m in _DOMAINISH.finditer(text[:300].lower()):
        cand = m.group(0).strip(".")
        try:
            cand_ascii = cand.encode("idna").decode("ascii")
        except (UnicodeError, ValueError):
            cand_ascii = cand
        if not _psl.publicsuffix(cand_ascii) or _psl.privatesuffix(cand_ascii) is None:
            continue
        shown = _psl.privatesuffix(cand_ascii) or cand_ascii
        if shown != registered:
            return shown
    return None


# --- feeds -------------------------------------------------------------------------
_feeds: dict[str, Any] = {"load_id": None, "checked": 0.0, "urls": {}, "hosts": {}}


def _feed_sets() -> tuple[dict[str, str], dict[str, str]]:
    """canonical URL → source and host → source, refreshed when a newer load exists
    (checked at most every few seconds: one tiny query)."""
    now = time.monotonic()
    if now - _feeds["checked"] < 5.0 and _feeds["load_id"] is not None:
        return _feeds["urls"], _feeds["hosts"]
    _feeds["checked"] = now
    try:
        from atalaya.security.models import FeedEntry, FeedLoad

        newest = FeedLoad.objects.order_by("-id").values_list("id", flat=True).first()
        if newest != _feeds["load_id"] or newest is None:
            urls: dict[str, str] = {}
            hosts: dict[str, str] = {}
            for kind, value, source in FeedEntry.objects.values_list(
                "kind", "value", "source"
            ).iterator():
                (hosts if kind == "host" else urls)[value] = source
            _feeds.update(load_id=newest if newest is not None else 0, urls=urls, hosts=hosts)
    except Exception:  # noqa: BLE001 - no database (e.g. a bare script): feeds unavailable
        _feeds["load_id"] = 0
    return _feeds["urls"], _feeds["hosts"]


def reset_feed_cache() -> None:
    """Forget the in-memory feed sets (after a load, and between tests)."""
    _feeds.update(load_id=None, checked=0.0, urls={}, hosts={})


# --- judging -----------------------------------------------------------------------
def _combine(p_model: float, reasons: list[str]) -> float:
    keep = 1.0 - p_model
    for r in reasons:
        keep *= 1.0 - WEIGHTS.get(r.split(":", 1)[0], 0.0)
    return 1.0 - keep


def _verdict(score: float) -> str:
    if score >= PHISHING_AT:
        return "phishing"
    if score >= SUSPICIOUS_AT:
        return "suspicious"
    return "ok"


def _judge_many(links: Sequence[tuple[str, str]], own: tuple[str, ...]) -> list[Judgement]:
    """Judge (url, visible text) pairs; the shared body of the public functions."""
    urls_feed, hosts_feed = _feed_sets()
    mdl = model_mod.load()
    parsed: list[Parts | None] = []
    for raw, _text in links:
        try:
            parsed.append(canonicalise(raw))
        except (BadURL, ValueError, UnicodeError, TypeError):
            parsed.append(None)
        except Exception:  # noqa: BLE001 - hostile input must never raise
            parsed.append(None)
    ok_idx = [i for i, p in enumerate(parsed) if p is not None]
    probs = [0.0] * len(links)
    if mdl is not None and ok_idx:
        texts = [model_text(parsed[i]) for i in ok_idx]  # type: ignore[arg-type]
        for i, s in zip(ok_idx, mdl.scores(texts).tolist(), strict=True):
            probs[i] = s
    out: list[Judgement] = []
    for i, (raw, text) in enumerate(links):
        p = parsed[i]
        url = raw if isinstance(raw, str) else repr(raw)
        if p is None:
            out.append(Judgement(url[:4096], "", "", "", "suspicious", 0.5, ["invalid_url"]))
            continue
        facts = _host_facts(p.host, p.ascii_host, p.is_ip, own)
        reasons = list(facts.reasons)
        if p.userinfo:
            reasons.append("userinfo")
        if not facts.popular:
            brand = _path_brand(p.path, facts.registered)
            if brand and f"brand_outside_domain:{brand}" not in reasons:
                reasons.append(f"brand_outside_domain:{brand}")
        shown = _text_mismatch(text, facts.registered) if text else None
        if shown:
            reasons.append(f"text_mismatch:{shown}")
        prob = probs[i]
        if facts.popular and not p.userinfo:
            prob *= 0.05  # the allowlist: popular domains' own pages are not phishing kits
        if prob >= MODEL_REASON_AT:
            reasons.append("model")
        source = urls_feed.get(p.canonical) or hosts_feed.get(p.ascii_host)
        if source:
            reasons.insert(0, f"feed:{source}")
            score = max(0.99, _combine(prob, reasons))
        else:
            score = _combine(prob, reasons)
        verdict = _verdict(score)
        if reasons == ["model"] and verdict == "phishing":
            # The model alone flags about one legitimate link in ten on the domain-
            # disjoint split: without a rule or a feed behind it, it says "suspicious"
            # (a person looks), never "phishing" (a user is told the mail is dangerous).
            verdict = "suspicious"
        out.append(
            Judgement(url[:4096], p.canonical, p.host, facts.registered, verdict, score, reasons)
        )
    return out


def _own(own_domains: Iterable[str]) -> tuple[str, ...]:
    out = set()
    for d in own_domains or ():
        if isinstance(d, str) and d.strip():
            d = d.strip().lower().strip(".")
            out.add(_psl.privatesuffix(d) or d)
    return tuple(sorted(out))


def judge_link(link: Link, *, own_domains: Iterable[str] = ()) -> Judgement:
    """The verdict on one link, its text compared with its target."""
    return _judge_many([(link.url, link.text)], _own(own_domains))[0]


def judge_urls(urls: Sequence[str], *, own_domains: Iterable[str] = ()) -> list[Judgement]:
    """Verdicts on many bare URLs, in input order: the batch fast path."""
    # A batch allocates many small objects that all stay alive until it returns: the
    # cyclic collector would only rescan them, so it pauses for the batch.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        items = [(u if isinstance(u, str) else str(u), "") for u in urls]
        return _judge_many(items, _own(own_domains))
    finally:
        if was_enabled:
            gc.enable()


def judge_links(links: Sequence[Link], *, own_domains: Iterable[str] = ()) -> list[Judgement]:
    """Verdicts on many extracted links (with their texts), in input order."""
    return _judge_many([(lk.url, lk.text) for lk in links], _own(own_domains))


def worst_verdict(judgements: Iterable[Judgement]) -> str:
    """The most dangerous verdict among ``judgements`` ("ok" when there are none)."""
    worst = "ok"
    for j in judgements:
        if _ORDER.get(j.verdict, 0) > _ORDER[worst]:
            worst = j.verdict
    return worst


def describe_reason(code: str) -> str:
    """A translated sentence for a reason code (active language)."""
    kind, _sep, arg = str(code).partition(":")
    if kind == "feed":
        return _("Listed in the threat feed %(source)s.") % {"source": arg}
    if kind == "confusable":
        return _("The address imitates %(name)s with lookalike characters.") % {"name": arg}
    if kind == "brand_outside_domain":
        return _("Names %(name)s but is not one of its domains.") % {"name": arg}
    if kind == "text_mismatch":
        return _("The visible text shows %(domain)s but the link goes elsewhere.") % {"domain": arg}
    fixed = {
        "ip_host": _("The link points to a bare IP address instead of a domain."),
        "userinfo": _("The address hides its real destination after an @ sign."),
        "punycode": _("The domain is written in punycode (international characters)."),
        "mixed_script": _("The domain mixes alphabets, a common disguise."),
        "shortener": _("A URL shortener hides the real destination."),
        "model": _("The address looks like known phishing addresses."),
        "invalid_url": _("The address is malformed or cannot be read."),
    }
    return fixed.get(kind, _("Other reason: %(code)s") % {"code": code})
