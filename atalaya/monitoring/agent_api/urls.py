from __future__ import annotations

app_name = "agent_api"
urlpatterns: list = []
