from __future__ import annotations

from django.urls import path

from atalaya.core.views import auth

urlpatterns = [
    path("login/", auth.login_view, name="login"),
    path("login/totp/", auth.login_totp, name="login_totp"),
    path("logout/", auth.logout_view, name="logout"),
]
