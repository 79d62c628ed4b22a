from __future__ import annotations

from django.urls import path

from atalaya.core.views import account, auth, clients

urlpatterns = [
    path("login/", auth.login_view, name="login"),
    path("login/totp/", auth.login_totp, name="login_totp"),
    path("logout/", auth.logout_view, name="logout"),
    path("clients/", clients.client_list, name="client_list"),
    path("clients/new/", clients.client_create, name="client_create"),
    path("clients/<uuid:public_id>/", clients.client_detail, name="client_detail"),
    path("clients/<uuid:public_id>/edit/", clients.client_edit, name="client_edit"),
    path("clients/<uuid:public_id>/sites/new/", clients.site_add, name="client_site_add"),
    path("clients/<uuid:public_id>/holidays/new/", clients.holiday_add, name="client_holiday_add"),
    path(
        "clients/<uuid:public_id>/domains/new/",
        clients.mail_domain_add,
        name="client_mail_domain_add",
    ),
    path("clients/<uuid:public_id>/contacts/new/", clients.contact_add, name="client_contact_add"),
    path(
        "clients/<uuid:public_id>/contacts/<uuid:contact_id>/portal-login/",
        clients.portal_login_add,
        name="client_portal_login_add",
    ),
    path("account/", account.account, name="account"),
    path("account/preferences/", account.preferences, name="account_preferences"),
    path("account/password/", account.password, name="account_password"),
    path("account/totp/start/", account.totp_start, name="account_totp_start"),
    path("account/totp/confirm/", account.totp_confirm, name="account_totp_confirm"),
    path("account/totp/disable/", account.totp_disable, name="account_totp_disable"),
    path("account/tokens/", account.token_create, name="account_token_create"),
    path(
        "account/tokens/<int:token_id>/revoke/", account.token_revoke, name="account_token_revoke"
    ),
]
