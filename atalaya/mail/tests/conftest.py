"""Fixtures of the mail tests: real servers on 127.0.0.1 (each helper module adds its own)."""

from __future__ import annotations

from atalaya.mail.tests.imap_server import *  # noqa: F403  (the IMAP server fixtures)
from atalaya.mail.tests.smtp_server import *  # noqa: F403  (the SMTP server fixtures)
