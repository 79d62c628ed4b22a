"""Notification templates: shipped defaults, an admin's wording, preview, reset."""

from __future__ import annotations

import pytest
from django.urls import reverse

from atalaya.conftest import World
from atalaya.core.models import AuditEvent
from atalaya.mail import rendering
from atalaya.mail.models import MailTemplate, OutboundMessage
from atalaya.tickets import services as ts


def edit_url(key: str = "reply", language: str = "en") -> str:
    return reverse("mail:template_edit", args=[key, language])


def test_every_notification_has_a_default_in_both_languages() -> None:
    for key in rendering.TEMPLATE_KEYS:
        for language in rendering.LANGUAGES:
            source = rendering.default_source(key, language)
            assert source.subject and source.body and not source.is_custom
            assert not rendering.syntax_errors(source.subject, source.body)
            assert rendering.preview(source.subject, source.body, language).subject


def test_rendering_is_plain_text_and_sandboxed() -> None:
    rendered = rendering.render_text(
        "Re: {{ ticket_subject }}\nBcc: x",
        "{{ message }} {{ secret }}",
        {"message": "<b>&</b>", "ticket_subject": "a"},
    )
    assert rendered.body == "<b>&</b>\n"  # no HTML escaping in a text mail; unknown is empty
    assert rendered.subject == "Re: a Bcc: x"  # one line
    errors = rendering.syntax_errors("ok", '{% include "base.html" %}')
    assert "body" in errors


def test_list_for_admins_only(world: World) -> None:
    url = reverse("mail:templates")
    response = world.http(world.admin).get(url)
    assert response.status_code == 200
    content = response.content.decode()
    assert edit_url("sla_due", "es") in content and "default" in content
    for user in (world.tech, world.readonly, world.billing, world.portal_a, world.portal_b):
        assert world.http(user).get(url).status_code == 404
        assert world.http(user).get(edit_url()).status_code == 404
        assert world.http(user).post(edit_url(), {"subject": "x", "body": "y"}).status_code == 404
        assert (
            world.http(user).post(reverse("mail:template_reset", args=["reply", "en"])).status_code
            == 404
        )
    assert not MailTemplate.objects.exists()


def test_admin_edits_a_template_and_notifications_use_it(world: World) -> None:
    http = world.http(world.admin)
    page = http.get(edit_url("reply", "es"))
    assert page.status_code == 200
    assert "Hola {{ contact_name }}" in page.content.decode()
    response = http.post(
        edit_url("reply", "es"),
        {
            "subject": "Respuesta a {{ ticket_subject }}",
            "body": "Estimado/a {{ contact_name }}:\r\n\r\n{{ message }}\r\n\r\nEl equipo",
            "action": "save",
        },
    )
    assert response.status_code == 302
    row = MailTemplate.objects.get(key="reply", language="es")
    assert row.updated_by == world.admin and "\r" not in row.body
    assert AuditEvent.objects.filter(object_type="mailtemplate", action="saved").exists()
    assert "customised" in http.get(reverse("mail:templates")).content.decode()
    ts.add_reply(world.ticket_a, actor=world.tech, body="Reiniciamos el router.")
    mail = OutboundMessage.objects.get()
    assert mail.subject == f"Respuesta a VPN does not connect [#{world.ticket_a.number}]"
    assert mail.body_text.startswith(
        "Estimado/a Contact of Alfa Asesores:\n\nReiniciamos el router."
    )
    # The threading marks are there even though the admin's text leaves them out.
    assert "[ref:ATL-" in mail.body_text


def test_bad_syntax_is_a_field_error(world: World) -> None:
    response = world.http(world.admin).post(
        edit_url(), {"subject": "{% if %}", "body": "{{ message|nosuchfilter }}", "action": "save"}
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "subject" in form.errors and "body" in form.errors
    assert "Template error" in form.errors["body"][0]
    assert not MailTemplate.objects.exists()


def test_preview_with_sample_values_saves_nothing(world: World) -> None:
    response = world.http(world.admin).post(
        edit_url("resolved", "en"),
        {
            "subject": "Done: {{ ticket_subject }}",
            "body": "Hi {{ contact_name }} #{{ ticket_number }}",
            "action": "preview",
        },
    )
    assert response.status_code == 200
    preview = response.context["preview"]
    sample = rendering.SAMPLE_CONTEXT
    assert preview.subject == f"Done: {sample['ticket_subject']}"
    assert preview.body.strip() == f"Hi {sample['contact_name']} #{sample['ticket_number']}"
    assert "Done: VPN does not connect" in response.content.decode()
    assert not MailTemplate.objects.exists()


def test_reset_to_default(world: World) -> None:
    http = world.http(world.admin)
    http.post(edit_url(), {"subject": "Custom", "body": "Custom body", "action": "save"})
    assert MailTemplate.objects.count() == 1
    response = http.post(reverse("mail:template_reset", args=["reply", "en"]))
    assert response.status_code == 302 and response["Location"] == edit_url()
    assert not MailTemplate.objects.exists()
    assert rendering.source_of("reply", "en") == rendering.default_source("reply", "en")
    assert AuditEvent.objects.filter(object_type="mailtemplate", action="reset").exists()
    # Nothing to reset: still fine.
    assert http.post(reverse("mail:template_reset", args=["reply", "en"])).status_code == 302


@pytest.mark.parametrize(("key", "language"), [("nope", "en"), ("reply", "fr")])
def test_unknown_template_is_404(world: World, key: str, language: str) -> None:
    http = world.http(world.admin)
    assert http.get(edit_url(key, language)).status_code == 404
    assert http.post(reverse("mail:template_reset", args=[key, language])).status_code == 404


def test_wrong_methods(world: World) -> None:
    http = world.http(world.admin)
    assert http.post(reverse("mail:templates")).status_code == 405
    assert http.get(reverse("mail:template_reset", args=["reply", "en"])).status_code == 405
    assert http.delete(edit_url()).status_code == 405
