"""The Atalaya endpoint agent (see ../PROTOCOL.md for what it says to the server)."""

__version__ = "0.1.0"
