from __future__ import annotations

from django.urls import path

from atalaya.core.views import account, auth

urlpatterns = [
    path("login/", auth.login_view, name="login"),
    path("login/totp/", auth.login_totp, name="login_totp"),
    path("logout/", auth.logout_view, name="logout"),
    path("account/", account.account, name="account"),
    path("account/preferences/", account.preferences, name="account_preferences"),
    path("account/password/", account.password, name="account_password"),
    path("account/totp/start/", account.totp_start, name="account_totp_start"),
    path("account/totp/confirm/", account.totp_confirm, name="account_totp_confirm"),
    path("account/totp/disable/", account.totp_disable, name="account_totp_disable"),
    path("account/tokens/", account.token_create, name="account_token_create"),
    path("account/tokens/<int:token_id>/revoke/", account.token_revoke, name="account_token_revoke"),
]
