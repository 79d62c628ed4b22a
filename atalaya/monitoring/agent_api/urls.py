"""``/agent/v1/``: the agent API's ninja operations (enroll, checkin, openapi.json)."""

from __future__ import annotations

from atalaya.monitoring.agent_api import views  # noqa: F401 - registers the operations
from atalaya.monitoring.agent_api.schema import api

app_name = "agent_api"
urlpatterns = api.urls[0]
