"""Notification texts: shipped defaults as files, overridden by an admin's MailTemplate.

A default lives in ``mail/templates/mail/notify/<key>.<language>.txt``: a first line
``Subject: …``, a blank line, then the body. Both parts are Django template text,
rendered by an engine of their own with autoescape off (it is plain text) and no
template loaders (``{% include %}`` cannot read files), from a small context of plain
strings — never model objects, so an admin's template can reach nothing else.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.template import Context, Engine, TemplateSyntaxError
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from atalaya.core.services import record_audit
from atalaya.mail.models import MailTemplate

DEFAULTS_DIR = Path(__file__).resolve().parent / "templates" / "mail" / "notify"

# The notifications, in the order the admin page lists them.
TEMPLATE_KEYS: dict[str, Any] = {
    "reply": gettext_lazy("A technician's reply, to the client's contact"),
    "resolved": gettext_lazy("Ticket resolved, to the client's contact"),
    "assigned": gettext_lazy("Ticket assigned, to the technician"),
    "sla_due": gettext_lazy("SLA due soon, to the technicians"),
}
LANGUAGES: dict[str, Any] = {"en": gettext_lazy("English"), "es": gettext_lazy("Spanish")}
FALLBACK_LANGUAGE = "en"

# What a template may use; every value is a plain string.
VARIABLES: dict[str, Any] = {
    "ticket_number": gettext_lazy("the ticket's number"),
    "ticket_subject": gettext_lazy("the ticket's subject"),
    "client_name": gettext_lazy("the client company"),
    "contact_name": gettext_lazy("the client's contact"),
    "technician_name": gettext_lazy("the technician (who replied, assigned, or is assigned)"),
    "recipient_name": gettext_lazy("who receives this mail"),
    "ticket_url": gettext_lazy("link to the ticket (the portal for clients)"),
    "message": gettext_lazy("the reply's text"),
    "priority": gettext_lazy("the ticket's priority"),
    "clock": gettext_lazy("which SLA clock (first response, resolution)"),
    "due_at": gettext_lazy("when the SLA clock is due"),
}

SAMPLE_CONTEXT: dict[str, str] = {
    "ticket_number": "1234",
    "ticket_subject": "VPN does not connect",
    "client_name": "Alfa Asesores",
    "contact_name": "Ana García",
    "technician_name": "Luis Pérez",
    "recipient_name": "Luis Pérez",
    "ticket_url": "https://atalaya.example/portal/tickets/1234/",
    "message": "We restarted the VPN gateway; please try again.",
    "priority": "High",
    "clock": "first response",
    "due_at": "2026-12-01 16:30 (Europe/Madrid)",
}

_ENGINE = Engine(
    dirs=[],
    app_dirs=False,
    loaders=[],
    autoescape=False,
    debug=False,
    string_if_invalid="",
    libraries={},
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


@dataclass(frozen=True)
class TemplateSource:
    """The subject and body text a notification renders from, and whether an admin's."""

    key: str
    language: str
    subject: str
    body: str
    is_custom: bool


def normalize_language(language: str | None) -> str:
    code = (language or "").lower()[:2]
    return code if code in LANGUAGES else FALLBACK_LANGUAGE


def split_default(text: str) -> tuple[str, str]:
    """(subject, body) of a defaults file: ``Subject: …``, a blank line, the body."""
    first, _newline, rest = text.partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError("a notification template file starts with a 'Subject:' line")
    return first.removeprefix("Subject:").strip(), rest.lstrip("\n")


@functools.cache
def default_source(key: str, language: str) -> TemplateSource:
    """The shipped wording (read once; a missing file is a bug, so it raises)."""
    if key not in TEMPLATE_KEYS:
        raise KeyError(key)
    language = normalize_language(language)
    subject, body = split_default((DEFAULTS_DIR / f"{key}.{language}.txt").read_text("utf-8"))
    return TemplateSource(key, language, subject, body, is_custom=False)


def source_of(key: str, language: str) -> TemplateSource:
    """The admin's wording of ``key`` in ``language`` if there is one, else the default."""
    language = normalize_language(language)
    row = MailTemplate.objects.filter(key=key, language=language).first()
    if row is None:
        return default_source(key, language)
    return TemplateSource(key, language, row.subject, row.body, is_custom=True)


def syntax_errors(subject: str, body: str) -> dict[str, str]:
    """Field → message for template text that does not compile or render (empty when fine).

    Rendering with the sample values also catches what only fails then, such as an
    ``{% include %}`` of a file (this engine has no files to include).
    """
    errors = {}
    values = Context(dict(SAMPLE_CONTEXT), autoescape=False)
    for name, text in (("subject", subject), ("body", body)):
        try:
            _ENGINE.from_string(text).render(values)
        except TemplateSyntaxError as error:
            errors[name] = str(error)
        except Exception as error:
            errors[name] = f"{type(error).__name__}: {error}"
    return errors


@functools.lru_cache(maxsize=256)
def _compiled(text: str) -> Any:
    # Compiling is most of a render's cost; a notification's few texts repeat all day.
    return _ENGINE.from_string(text)


def render_text(subject: str, body: str, context: dict[str, str]) -> Rendered:
    """Render subject and body text; raises TemplateSyntaxError for broken text."""
    values = Context({name: str(value) for name, value in context.items()}, autoescape=False)
    rendered_subject = _compiled(subject).render(values)
    rendered_body = _compiled(body).render(values)
    # A subject is one line whatever the template or the values say (header injection).
    return Rendered(" ".join(rendered_subject.split()), rendered_body.strip() + "\n")


def render(key: str, language: str, context: dict[str, str]) -> Rendered:
    """The notification ``key`` in ``language``, from the admin's wording or the default.

    An admin's template that fails at render time falls back to the default, so a
    mistake in the wording never stops a notification.
    """
    language = normalize_language(language)
    source = source_of(key, language)
    with translation.override(language):
        try:
            return render_text(source.subject, source.body, context)
        except Exception:
            if not source.is_custom:
                raise
            fallback = default_source(key, language)
            return render_text(fallback.subject, fallback.body, context)


def preview(subject: str, body: str, language: str) -> Rendered:
    """Text rendered with the sample values, for the edit page."""
    with translation.override(normalize_language(language)):
        return render_text(subject, body, SAMPLE_CONTEXT)


# ---------------------------------------------------------------------------------------
# An admin's wording (the writes; views call these)
# ---------------------------------------------------------------------------------------


def _require_admin(actor: Any) -> None:
    if actor is not None and not actor.is_admin:
        raise PermissionDenied(_("Only administrators may change notification templates."))


def _check_key(key: str, language: str) -> None:
    if key not in TEMPLATE_KEYS:
        raise ValidationError({"key": [_("Unknown notification: %(key)s") % {"key": key}]})
    if language not in LANGUAGES:
        raise ValidationError(
            {"language": [_("Unknown language: %(language)s") % {"language": language}]}
        )


@transaction.atomic
def save_template(*, actor: Any, key: str, language: str, subject: str, body: str) -> MailTemplate:
    """Store an admin's wording of one notification in one language (audited).

    Text that does not compile is refused with the field's error, so a notification
    never goes out broken.
    """
    _require_admin(actor)
    _check_key(key, language)
    subject = " ".join((subject or "").split())
    body = (body or "").replace("\r\n", "\n")
    errors: dict[str, list[str]] = {}
    if not subject:
        errors["subject"] = [_("A subject is required.")]
    elif len(subject) > 300:
        errors["subject"] = [_("At most 300 characters.")]
    if not body.strip():
        errors["body"] = [_("A text is required.")]
    for field, message in syntax_errors(subject, body).items():
        errors.setdefault(field, []).append(_("Template error: %(error)s") % {"error": message})
    if errors:
        raise ValidationError(errors)
    row = MailTemplate.objects.select_for_update().filter(key=key, language=language).first()
    before = {"subject": row.subject, "body": row.body} if row else {}
    if row is None:
        row = MailTemplate(key=key, language=language)
    row.subject, row.body = subject, body
    row.updated_at = timezone.now()
    row.updated_by = actor if actor is not None and actor.pk else None
    row.save()
    record_audit(actor, row, "saved", before=before, after={"subject": subject, "body": body})
    return row


@transaction.atomic
def reset_template(*, actor: Any, key: str, language: str) -> bool:
    """Go back to the shipped wording; False if there was no admin's wording to drop.

    The dropped text stays in the audit event.
    """
    _require_admin(actor)
    _check_key(key, language)
    row = MailTemplate.objects.select_for_update().filter(key=key, language=language).first()
    if row is None:
        return False
    record_audit(actor, row, "reset", before={"subject": row.subject, "body": row.body})
    row.delete()
    return True
