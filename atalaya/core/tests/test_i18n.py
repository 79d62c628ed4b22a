"""Spanish and English: complete, compiled catalogues, and each person sees their language.

The catalogue checks read the .po files with a small parser here and the shipped .mo
files with the standard library's ``gettext``, so they need no gettext tools: the .mo
must say exactly what the .po says (a forgotten ``compilemessages`` fails), every
Spanish entry must be translated and not fuzzy, and every literal string marked in the
code and templates must be in the catalogue (a forgotten ``makemessages`` fails).

The view checks use the world fixture: a person whose profile says ``es`` sees Spanish
on the ticket list, ticket page, dashboards, client page, portal, account page and
error pages; one whose profile says ``en`` sees English whatever the browser asks; the
sign-in page follows the browser's Accept-Language.
"""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from atalaya.conftest import World
from atalaya.core import services as core_services
from atalaya.core.models import User
from atalaya.tickets.models import Status

PACKAGE = Path(__file__).resolve().parents[2]
LOCALE = PACKAGE / "locale"
LANGUAGES = ("es", "en")
SKIP_DIRS = {"tests", "migrations", "__pycache__", "locale", "static"}


# --- a small .po reader -----------------------------------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def key(self) -> tuple[str | None, str]:
        return self.msgctxt, self.msgid


_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    '"': '"',
    "\\": "\\",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}


def _unquote(text: str, where: str) -> str:
    text = text.strip()
    assert text.startswith('"') and text.endswith('"') and len(text) >= 2, where
    return re.sub(r"\\(.)", lambda m: _ESCAPES[m.group(1)], text[1:-1])


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file (obsolete ``#~`` ones left out), header included."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int | None] | None = None
    pending_flags: set[str] = set()
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        where = f"{path.name}:{number}"
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#,"):
            pending_flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        keyword, _space, rest = line.partition(" ")
        if keyword == "msgctxt" or (keyword == "msgid" and (current is None or current.msgstr)):
            current = Entry(line=number, flags=pending_flags)
            pending_flags = set()
            entries.append(current)
        assert current is not None, where
        if line.startswith('"'):
            assert target is not None, where
            name, index = target
            if name == "msgstr":
                assert index is not None
                current.msgstr[index] += _unquote(line, where)
            else:
                setattr(current, name, (getattr(current, name) or "") + _unquote(line, where))
        elif keyword in ("msgctxt", "msgid", "msgid_plural"):
            setattr(current, keyword, _unquote(rest, where))
            target = (keyword, None)
        elif keyword == "msgstr":
            current.msgstr[0] = _unquote(rest, where)
            target = ("msgstr", 0)
        elif (plural := re.fullmatch(r"msgstr\[(\d+)\]", keyword)) is not None:
            index = int(plural.group(1))
            current.msgstr[index] = _unquote(rest, where)
            target = ("msgstr", index)
        else:
            raise AssertionError(f"{where}: cannot read {raw!r}")
    return entries


def po_path(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / "django.po"


def nplurals(entries: list[Entry]) -> int:
    header = next(e for e in entries if e.msgid == "" and e.msgctxt is None).msgstr[0]
    found = re.search(r"nplurals\s*=\s*(\d+)", header)
    assert found, "the header names no Plural-Forms"
    return int(found.group(1))


# Python-format placeholders (%(name)s, %d, %s) and str.format ones ({name}).
_PLACEHOLDER = re.compile(
    r"%\([A-Za-z_]\w*\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%[diouxXeEfFgGcrsa]|\{\w*\}"
)


def placeholders(text: str) -> list[str]:
    return sorted(_PLACEHOLDER.findall(text))


# --- the catalogues ---------------------------------------------------------------------


def test_spanish_catalogue_is_complete() -> None:
    """Every Spanish entry is translated, none is fuzzy, plurals have every form."""
    entries = read_po(po_path("es"))
    forms = nplurals(entries)
    assert forms in (2, 3)
    problems = []
    body = [e for e in entries if e.msgid]
    assert len(body) > 300, "the Spanish catalogue looks truncated"
    for entry in body:
        name = f"line {entry.line}: {entry.msgid!r}"
        if "fuzzy" in entry.flags:
            problems.append(f"{name} is fuzzy")
        expected = list(range(forms)) if entry.msgid_plural is not None else [0]
        if sorted(entry.msgstr) != expected:
            problems.append(f"{name} has forms {sorted(entry.msgstr)}, expected {expected}")
        if any(not text for text in entry.msgstr.values()):
            problems.append(f"{name} is not translated")
    header = next(e for e in entries if not e.msgid)
    assert "fuzzy" not in header.flags, "the header is still marked fuzzy"
    assert "Language: es" in header.msgstr[0]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_their_placeholders(language: str) -> None:
    """A msgstr names the same %(x)s / %d / {x} placeholders as its msgid, or the page breaks."""
    problems = []
    for entry in read_po(po_path(language)):
        if not entry.msgid:
            continue
        # Each plural form may follow either source form (they name the same placeholders
        # in practice); a singular entry follows its msgid.
        allowed = [placeholders(entry.msgid)]
        if entry.msgid_plural is not None:
            allowed.append(placeholders(entry.msgid_plural))
        for text in entry.msgstr.values():
            if text and placeholders(text) not in allowed:
                problems.append(
                    f"line {entry.line}: {entry.msgid!r} -> {text!r}: "
                    f"{placeholders(text)} not in {allowed}"
                )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_mo_is_compiled_from_the_po(language: str) -> None:
    """The shipped .mo holds exactly the .po's translations: run compilemessages after editing."""
    mo = po_path(language).with_suffix(".mo")
    assert mo.exists(), f"{mo} is missing; run `atalaya compilemessages`"
    with mo.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    catalog: dict[Any, str] = dict(compiled._catalog)  # type: ignore[attr-defined]
    catalog.pop("", None)  # the header
    expected: dict[Any, str] = {}
    for entry in read_po(po_path(language)):
        if not entry.msgid or "fuzzy" in entry.flags:
            continue
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            if entry.msgstr.get(0):
                expected[key] = entry.msgstr[0]
        elif all(entry.msgstr.values()):
            for index, text in entry.msgstr.items():
                expected[(key, index)] = text
    stale = {k: v for k, v in catalog.items() if expected.get(k) != v}
    missing = {k: v for k, v in expected.items() if k not in catalog}
    assert not stale and not missing, (
        f"{mo.name} ({language}) differs from its .po; run `atalaya compilemessages`. "
        f"Differs or only in .mo: {list(stale)[:5]}; only in .po: {list(missing)[:5]}"
    )


def _source_files(suffix: str) -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob(f"*{suffix}") if not SKIP_DIRS & set(p.relative_to(PACKAGE).parts)
    )


_TEMPLATE_TRANSLATE = re.compile(
    r"""\{%\s*(?:translate|trans)\s+(?P<q>["'])(?P<msgid>(?:(?!(?P=q)).)*)(?P=q)"""
    r"""(?:\s+context\s+(?P<cq>["'])(?P<ctx>(?:(?!(?P=cq)).)*)(?P=cq))?"""
)
_GETTEXT_NAMES = {"_", "gettext", "gettext_lazy", "gettext_noop"}
_PGETTEXT_NAMES = {"pgettext", "pgettext_lazy"}


def _marked_in_python(path: Path) -> list[tuple[str | None, str, str]]:
    """(context, msgid, where) of each gettext call whose arguments are plain literals."""
    found: list[tuple[str | None, str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        args = [
            a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
        ]
        where = f"{path.relative_to(PACKAGE)}:{node.lineno}"
        if node.func.id in _GETTEXT_NAMES and len(node.args) == 1 and len(args) == 1:
            found.append((None, args[0], where))
        elif node.func.id in _PGETTEXT_NAMES and len(node.args) == 2 and len(args) == 2:
            found.append((args[0], args[1], where))
    return found


def _marked_in_templates() -> list[tuple[str | None, str, str]]:
    found: list[tuple[str | None, str, str]] = []
    for path in _source_files(".html"):
        text = path.read_text(encoding="utf-8")
        for match in _TEMPLATE_TRANSLATE.finditer(text):
            msgid = match.group("msgid")
            if "%" in msgid or "\\" in msgid:
                continue  # stored escaped in the catalogue; not worth a second parser
            line = text.count("\n", 0, match.start()) + 1
            found.append((match.group("ctx"), msgid, f"{path.relative_to(PACKAGE)}:{line}"))
    return found


def test_marked_strings_are_in_the_spanish_catalogue() -> None:
    """Strings marked in code and templates are translated: run makemessages after adding some."""
    translated = {e.key for e in read_po(po_path("es")) if e.msgid and all(e.msgstr.values())}
    marked = _marked_in_templates()
    for path in _source_files(".py"):
        marked.extend(_marked_in_python(path))
    assert len(marked) > 200, "the scan found too few strings to be trusted"
    absent = [
        f"{where}: {msgid!r}" for ctx, msgid, where in marked if (ctx, msgid) not in translated
    ]
    assert not absent, (
        "not in the Spanish catalogue (run `atalaya makemessages -l es -l en`, translate, "
        "then `atalaya compilemessages`):\n" + "\n".join(absent)
    )


_TEXT_ATTRIBUTE = re.compile(
    r"""\b(?:title|placeholder|aria-label|alt)\s*=\s*"([^"{]*[A-Za-z][^"]*)\""""
)
# Names and units written the same in both languages.
_BRAND = {"Atalaya", "Asterisk", "CX", "ms", "min"}


def _untranslated_text(source: str) -> list[str]:
    """Words a template shows that no translate tag wraps (brand names aside)."""
    text = re.sub(r"\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}", "", source, flags=re.S)
    text = re.sub(
        r"\{%\s*blocktrans(?:late)?\b.*?\{%\s*endblocktrans(?:late)?\s*%\}", "", text, flags=re.S
    )
    attributes = [a for a in _TEXT_ATTRIBUTE.findall(re.sub(r"\{%.*?%\}", "", text)) if a]
    text = re.sub(r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}", "", text, flags=re.S)
    # Code samples (a dialplan, a curl line) are shown as written in every language.
    text = re.sub(r"<(script|style|pre|code)\b.*?</\1>", "", text, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r"&#?\w+;", " ", text)  # character references are not words
    words = [w.strip() for w in re.findall(r"[A-Za-z][A-Za-z ,.'’:;!?-]+", text)]
    return [w for w in words + attributes if w and w not in _BRAND]


def test_untranslated_text_detector_finds_bare_english() -> None:
    sample = (
        '{% load i18n %}<h1>Tickets</h1><button title="Remove it">{% translate "Go" %}</button>'
    )
    assert _untranslated_text(sample) == ["Tickets", "Remove it"]
    assert _untranslated_text("<p>{% blocktranslate %}Hi {{ n }}{% endblocktranslate %}</p>") == []


def test_templates_show_no_untranslated_text() -> None:
    """Every word a template shows comes from a translate tag or from data."""
    problems = []
    for path in _source_files(".html"):
        for words in _untranslated_text(path.read_text(encoding="utf-8")):
            problems.append(f"{path.relative_to(PACKAGE)}: {words!r}")
    assert not problems, "\n".join(problems)


# --- what people see --------------------------------------------------------------------


def _speaks(user: User, language: str) -> User:
    core_services.update_preferences(
        actor=user, user=user, language=language, time_zone="Europe/Madrid"
    )
    user.refresh_from_db()
    return user


def _page(client: HttpClient, url: str, **headers: str) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


@pytest.fixture
def spanish(world: World) -> World:
    """The world with the technician, the admin and client A's portal user speaking Spanish."""
    for user in (world.tech, world.admin, world.portal_a):
        _speaks(user, "es")
    return world


def test_spanish_technician_sees_spanish_ticket_list(spanish: World) -> None:
    page = _page(spanish.http(spanish.tech), reverse("tickets:list"))
    assert '<html lang="es">' in page
    for text in (
        "Aplicar filtros",
        "Vistas guardadas",
        "Nuevo ticket",
        "Asunto",
        "Sin asignar",
        "Quién lleva qué",
        "Cerrar sesión",
        "Cualquier estado",
        "Nuevo",
    ):
        assert text in page, text
    for text in ("Apply filters", "Saved views", "Unassigned", "Sign out"):
        assert text not in page, text


def test_spanish_technician_sees_spanish_ticket_page(spanish: World) -> None:
    url = reverse("tickets:detail", args=[spanish.ticket_a.number])
    page = _page(spanish.http(spanish.tech), url)
    for text in (
        "Respuesta pública",
        "Nota interna",
        "Registrar tiempo",
        "Cronología",
        "Cambiar estado",
        "Tickets vinculados",
        "Plazo de primera respuesta",
        "Fusionar",
        "Soporte remoto",
        "Presencial",
        "Esperando al cliente",
    ):
        assert text in page, text
    for text in ("Public reply", "Internal note", "Log time", "Remote support", "Timeline"):
        assert text not in page, text


def test_flash_messages_are_spanish(spanish: World) -> None:
    client = spanish.http(spanish.tech)
    url = reverse("tickets:status", args=[spanish.ticket_a.number])
    response = client.post(url, {"status": Status.OPEN}, follow=True)
    assert response.status_code == 200
    assert "Estado cambiado." in response.content.decode()


def test_spanish_dashboards_and_client_page(spanish: World) -> None:
    client = spanish.http(spanish.admin)
    assert "Tickets abiertos por persona" in _page(client, reverse("tickets:who"))
    flooded = _page(client, reverse("tickets:flooded"))
    assert "Dónde estamos desbordados" in flooded and "Últimos 30 días" in flooded
    detail = _page(client, reverse("client_detail", args=[spanish.client_a.public_id]))
    for text in (
        "Horario laboral",
        "Próximos festivos",
        "Dominios de correo",
        "Sedes",
        "Acceso al portal",
        "Historial reciente",
        "lun",
    ):
        assert text in detail, text


def test_spanish_portal_user_sees_spanish_portal(spanish: World) -> None:
    client = spanish.http(spanish.portal_a)
    listing = _page(client, reverse("portal:ticket_list"))
    for text in ("Mis tickets", "Nuevo ticket", "Recibido", "Última actualización", "Abiertos"):
        assert text in listing, text
    assert "My tickets" not in listing
    detail = _page(client, reverse("portal:ticket_detail", args=[spanish.ticket_a.number]))
    for text in ("Enviar respuesta", "Tu respuesta", "Hemos recibido tu solicitud", "Empresa"):
        assert text in detail, text
    new = _page(client, reverse("portal:ticket_new"))
    assert "Describe el problema" in new and "Abrir ticket" in new


def test_spanish_account_page(spanish: World) -> None:
    page = _page(spanish.http(spanish.tech), reverse("account"))
    for text in (
        "Idioma y zona horaria",
        "Cambiar contraseña",
        "Verificación en dos pasos",
        "Tokens de API",
        "Contraseña actual",
        "Español",
    ):
        assert text in page, text
    assert "Change password" not in page


def test_profile_language_wins_over_the_browser(spanish: World) -> None:
    spanish_page = _page(spanish.http(spanish.tech), reverse("tickets:list"), accept_language="en")
    assert "Aplicar filtros" in spanish_page
    english = spanish.http(spanish.readonly)  # still "en" in the profile
    english_page = _page(english, reverse("tickets:list"), accept_language="es")
    assert "Apply filters" in english_page and "Aplicar filtros" not in english_page


def test_english_user_sees_english(world: World) -> None:
    assert world.tech.language == "en"
    client = world.http(world.tech)
    listing = _page(client, reverse("tickets:list"))
    assert '<html lang="en">' in listing and "Apply filters" in listing
    page = _page(client, reverse("tickets:detail", args=[world.ticket_a.number]))
    assert "Public reply" in page and "Remote support" in page and "Respuesta" not in page
    # Portal users start in their contact's language (Spanish here): switch this one.
    portal = _page(world.http(_speaks(world.portal_a, "en")), reverse("portal:ticket_list"))
    assert "My tickets" in portal and "Mis tickets" not in portal
    account = _page(client, reverse("account"))
    assert "Language and time zone" in account


@pytest.mark.parametrize(
    ("accept", "expected", "absent"),
    [
        ("es-ES,es;q=0.9,en;q=0.5", "Iniciar sesión", "Sign in"),
        ("es", "Nombre de usuario", "User name"),
        ("en-GB,en;q=0.8", "Sign in", "Iniciar sesión"),
        ("de-DE", "Sign in", "Iniciar sesión"),  # neither: the site's default, English
    ],
)
def test_sign_in_page_follows_the_browser(
    db: None, accept: str, expected: str, absent: str
) -> None:
    response = HttpClient().get(reverse("login"), headers={"accept-language": accept})
    assert response.status_code == 200
    page = response.content.decode()
    assert expected in page and absent not in page
    assert response["Content-Language"] == ("es" if expected != "Sign in" else "en")


def test_wrong_password_error_is_spanish(world: World) -> None:
    response = HttpClient().post(
        reverse("login"),
        {"username": "tech", "password": "wrong"},
        headers={"accept-language": "es"},
    )
    assert response.status_code == 400
    assert "Nombre de usuario o contraseña incorrectos." in response.content.decode()


def test_error_pages_are_spanish(spanish: World) -> None:
    _speaks(spanish.portal_b, "es")
    _speaks(spanish.readonly, "es")
    other = spanish.http(spanish.portal_b).get(
        reverse("portal:ticket_detail", args=[spanish.ticket_a.number])
    )
    assert other.status_code == 404
    assert "Página no encontrada" in other.content.decode()
    assert spanish.ticket_a.subject not in other.content.decode()
    denied = spanish.http(spanish.readonly).post(
        reverse("tickets:note", args=[spanish.ticket_a.number]), {"note-body": "x"}
    )
    assert denied.status_code == 403
    assert "Tu rol no permite modificar tickets." in denied.content.decode()
