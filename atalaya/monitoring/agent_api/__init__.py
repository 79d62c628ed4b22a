"""The agent API, ``/agent/v1`` (see agent/PROTOCOL.md): enrollment and check-ins."""
