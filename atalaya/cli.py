"""The ``atalaya`` command: Django's management commands under the product's name.

``atalaya migrate``, ``atalaya demo``, ``atalaya token create USERNAME``,
``atalaya serve`` (web server and background worker together) and the rest.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atalaya.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["atalaya", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
