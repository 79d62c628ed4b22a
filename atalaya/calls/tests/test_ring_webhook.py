"""The ring webhook: signed or token requests, bad input refused, the ring shown to the
technician whose extension rang, and the same call id logged once."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from atalaya.calls import services
from atalaya.calls.models import Call, PhoneSystem, Ring
from atalaya.conftest import World
from atalaya.core import services as core_services


@pytest.fixture
def pbx(world: World) -> PhoneSystem:
    core_services.set_contact_phone(actor=None, contact=world.contact_a, phone="612 34 56 78")
    services.set_extensions(actor=world.admin, extensions=[(world.tech, "201")])
    return services.create_phone_system(actor=world.admin, name="Office PBX")


def _url(system: PhoneSystem, **query: str) -> str:
    url = reverse("call_hooks:ring", kwargs={"phone_system_id": system.public_id})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _post(system: PhoneSystem, payload: dict, *, sign: bool = True, secret: str | None = None):
    body = json.dumps(payload).encode()
    headers = {}
    if sign:
        headers["X-Atalaya-Signature"] = system.signature_of(body)
    if secret is not None:
        headers["X-Atalaya-Signature"] = "sha256=" + "0" * 64
    return HttpClient().post(_url(system), body, content_type="application/json", headers=headers)


def test_signed_ring_logs_the_call_once_and_shows_it(world: World, pbx: PhoneSystem) -> None:
    ring = {"caller": "+34 612 34 56 78", "extension": "201", "call_id": "c-1"}
    first = _post(pbx, ring)
    assert first.status_code == 201, first.content
    data = first.json()
    assert data["contact"]["name"] == world.contact_a.name and data["technician"] == "tech"
    again = _post(pbx, ring)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert Ring.objects.count() == 1 and Call.objects.count() == 1
    call = Call.objects.get()
    assert call.client == world.client_a and call.source == "ring" and call.ticket is None

    # The technician at 201 sees it in the panel; another staff member's poll is empty.
    http = world.http(world.tech)
    panel = http.get(reverse("calls:ringing"), {"since": "0"})
    body = panel.content.decode()
    assert panel.status_code == 200 and world.contact_a.name in body
    assert f"#{world.ticket_a.number}" in body and f"?ring={data['ring']}" in body
    since = body.split("since=")[1].split('"')[0]
    assert http.get(reverse("calls:ringing"), {"since": since}).status_code == 204
    assert world.http(world.admin).get(reverse("calls:ringing")).status_code == 204
    assert world.http(world.portal_a).get(reverse("calls:ringing")).status_code == 404

    # "Log this call" prefills the caller; saving files the same call, not a new one.
    form = http.get(reverse("calls:new"), {"ring": data["ring"]}).content.decode()
    assert "checked" in form and 'name="ring"' in form
    token = form.split('name="token" value="')[1].split('"')[0]
    saved = http.post(
        reverse("calls:new"),
        {
            "q": "+34612345678",
            "pick": f"{world.contact_a.public_id}:{world.client_a.public_id}",
            "note": "Wants a new laptop",
            "file_as": "new",
            "direction": "in",
            "token": token,
            "ring": data["ring"],
        },
    )
    assert saved.status_code == 302
    call.refresh_from_db()
    assert (
        Call.objects.count() == 1 and call.ticket is not None and call.note == "Wants a new laptop"
    )


def test_unknown_number_is_a_ring_without_a_call(world: World, pbx: PhoneSystem) -> None:
    response = _post(pbx, {"caller": "0034911223344", "extension": "201", "call_id": "c-2"})
    assert response.status_code == 201 and response.json()["contact"] is None
    assert Ring.objects.get().caller == "+34911223344" and not Call.objects.exists()


def test_token_for_pbxs_that_cannot_sign(pbx: PhoneSystem) -> None:
    form = "caller=612345678&extension=201&call_id=c-3"
    ok = HttpClient().post(
        _url(pbx, token=pbx.secret), form, content_type="application/x-www-form-urlencoded"
    )
    assert ok.status_code == 201
    bad = HttpClient().post(
        _url(pbx, token="wrong"), form, content_type="application/x-www-form-urlencoded"
    )
    assert bad.status_code == 403 and bad.json()["errors"][0]["field"] == "token"


def test_bad_requests_get_clear_errors(pbx: PhoneSystem) -> None:
    ring = {"caller": "612345678", "extension": "201", "call_id": "c-4"}
    unsigned = _post(pbx, ring, sign=False)
    assert unsigned.status_code == 401 and "X-Atalaya-Signature" in unsigned.json()["detail"]
    wrong = _post(pbx, ring, sign=False, secret="x")
    assert wrong.status_code == 403
    bad_number = _post(pbx, {**ring, "caller": "12"})
    assert bad_number.status_code == 422
    assert bad_number.json()["errors"][0]["field"] == "caller"
    assert _post(pbx, {**ring, "caller": "not a number"}).status_code == 422
    no_id = _post(pbx, {"caller": "612345678"})
    assert no_id.status_code == 422 and no_id.json()["errors"][0]["field"] == "call_id"
    assert _post(pbx, {**ring, "caller": ["x"]}).status_code == 422
    body = b"[1, 2]"
    listed = HttpClient().post(
        _url(pbx),
        body,
        content_type="application/json",
        headers={"X-Atalaya-Signature": pbx.signature_of(body)},
    )
    assert listed.status_code == 400
    broken = b"{not json"
    assert (
        HttpClient()
        .post(
            _url(pbx),
            broken,
            content_type="application/json",
            headers={"X-Atalaya-Signature": pbx.signature_of(broken)},
        )
        .status_code
        == 400
    )
    huge = json.dumps({**ring, "pad": "x" * 9000}).encode()
    too_big = HttpClient().post(
        _url(pbx),
        huge,
        content_type="application/json",
        headers={"X-Atalaya-Signature": pbx.signature_of(huge)},
    )
    assert too_big.status_code == 413
    other = PhoneSystem(name="ghost")  # never saved: an unknown id
    unknown = HttpClient().post(
        _url(other),
        b"{}",
        content_type="application/json",
        headers={"X-Atalaya-Signature": "sha256=00"},
    )
    assert unknown.status_code == 404
    assert HttpClient().get(_url(pbx)).status_code == 405
    assert not Ring.objects.exists()


def test_rotated_or_switched_off_system_is_refused(world: World, pbx: PhoneSystem) -> None:
    ring = {"caller": "612345678", "extension": "201", "call_id": "c-5"}
    old = PhoneSystem.objects.get(pk=pbx.pk)
    services.rotate_phone_secret(actor=world.admin, phone_system=pbx)
    body = json.dumps(ring).encode()
    stale = HttpClient().post(
        _url(pbx),
        body,
        content_type="application/json",
        headers={"X-Atalaya-Signature": old.signature_of(body)},
    )
    assert stale.status_code == 403
    services.set_phone_system_active(actor=world.admin, phone_system=pbx, is_active=False)
    assert _post(pbx, ring).status_code == 403


def test_over_real_http(live_server, world: World, pbx: PhoneSystem) -> None:
    """What a PBX's curl does: a real HTTP request to a running server."""
    body = json.dumps({"caller": "+34612345678", "extension": "201", "call_id": "c-6"}).encode()
    request = urllib.request.Request(
        live_server.url + _url(pbx),
        data=body,
        headers={"Content-Type": "application/json", "X-Atalaya-Signature": pbx.signature_of(body)},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.status == 201
        assert json.loads(answer.read())["contact"]["name"] == world.contact_a.name
    request = urllib.request.Request(
        live_server.url + _url(pbx), data=body, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert refused.value.code == 401


def test_phone_system_pages(world: World, pbx: PhoneSystem) -> None:
    admin = world.http(world.admin)
    created = admin.post(reverse("calls:phone_system_new"), {"name": "3CX"})
    system = PhoneSystem.objects.get(name="3CX")
    assert created.status_code == 201 and system.secret in created.content.decode()
    detail = reverse("calls:phone_system_detail", args=[system.public_id])
    page = admin.get(detail).content.decode()
    assert system.secret not in page and "Asterisk" in page and "3CX" in page
    rotated = admin.post(reverse("calls:phone_system_rotate", args=[system.public_id]))
    system.refresh_from_db()
    assert system.secret_version == 2 and system.secret in rotated.content.decode()
    assert world.http(world.tech).get(detail).status_code == 200
    assert (
        world.http(world.tech)
        .post(reverse("calls:phone_system_rotate", args=[system.public_id]))
        .status_code
        == 403
    )
    assert world.http(world.portal_a).get(detail).status_code == 404
    assert (
        world.http(world.readonly)
        .post(reverse("calls:phone_system_new"), {"name": "x"})
        .status_code
        == 403
    )
    assert (
        admin.get(reverse("calls:phone_system_rotate", args=[system.public_id])).status_code == 405
    )
    saved = admin.post(reverse("calls:phone_system_list"), {f"ext-{world.admin.pk}": "202"})
    world.admin.refresh_from_db()
    assert saved.status_code == 302 and world.admin.phone_extension == "202"
