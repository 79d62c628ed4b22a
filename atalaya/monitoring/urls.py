"""The technicians' monitoring pages: devices, alerts, actions, scripts, enrollment."""

from __future__ import annotations

from django.urls import path

from atalaya.monitoring.views import actions as action_views
from atalaya.monitoring.views import alerts as alert_views
from atalaya.monitoring.views import checks as check_views
from atalaya.monitoring.views import devices as device_views
from atalaya.monitoring.views import enrollment as enrollment_views
from atalaya.monitoring.views import maintenance as maintenance_views
from atalaya.monitoring.views import scripts as script_views

app_name = "monitoring"
urlpatterns: list = [
    path("devices/", device_views.device_list, name="device_list"),
    path("devices/<uuid:device_id>/", device_views.device_detail, name="device_detail"),
    path("devices/<uuid:device_id>/edit/", device_views.device_edit, name="device_edit"),
    path("devices/<uuid:device_id>/retire/", device_views.device_retire, name="device_retire"),
    path("devices/<uuid:device_id>/actions/new/", action_views.action_new, name="action_new"),
    path("actions/", action_views.action_list, name="action_list"),
    path("actions/<uuid:action_id>/", action_views.action_detail, name="action_detail"),
    path("actions/<uuid:action_id>/cancel/", action_views.action_cancel, name="action_cancel"),
    path("scripts/", script_views.script_list, name="script_list"),
    path("scripts/new/", script_views.script_new, name="script_new"),
    path("scripts/<uuid:script_id>/", script_views.script_detail, name="script_detail"),
    path("scripts/<uuid:script_id>/approve/", script_views.script_approve, name="script_approve"),
    path("scripts/<uuid:script_id>/retire/", script_views.script_retire, name="script_retire"),
    path("enrollment/", enrollment_views.token_list, name="token_list"),
    path("enrollment/new/", enrollment_views.token_new, name="token_new"),
    path(
        "enrollment/<uuid:enrollment_token_id>/revoke/",
        enrollment_views.token_revoke,
        name="token_revoke",
    ),
    path("alerts/", alert_views.alert_list, name="alert_list"),
    path("alerts/<uuid:alert_id>/", alert_views.alert_detail, name="alert_detail"),
    path("alerts/<uuid:alert_id>/snooze/", alert_views.alert_snooze, name="alert_snooze"),
    path("alerts/<uuid:alert_id>/unsnooze/", alert_views.alert_unsnooze, name="alert_unsnooze"),
    path("checks/<uuid:client_id>/", check_views.check_list, name="check_list"),
    path(
        "checks/<uuid:client_id>/<int:check_id>/delete/",
        check_views.check_delete,
        name="check_delete",
    ),
    path("maintenance/", maintenance_views.window_list, name="window_list"),
    path("maintenance/new/", maintenance_views.window_new, name="window_new"),
    path(
        "maintenance/<uuid:window_id>/cancel/",
        maintenance_views.window_cancel,
        name="window_cancel",
    ),
]
