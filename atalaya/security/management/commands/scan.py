"""``atalaya scan import FILE --site SITE``: an nmap XML report as a scan of one site."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from atalaya.core.models import Site


def find_site(text: str) -> Site:
    """A site by its public id, or by "Client name/Site name"."""
    text = (text or "").strip()
    site = None
    if "/" in text:
        client_name, _sep, site_name = text.partition("/")
        sites = list(
            Site.objects.filter(client__name=client_name.strip(), name=site_name.strip())[:2]
        )
        site = sites[0] if len(sites) == 1 else None
    else:
        try:
            site = Site.objects.filter(public_id=text).first()
        except (ValueError, ValidationError):
            site = None
    if site is None:
        raise CommandError(f"--site: no site {text!r} (a public id or 'Client/Site').")
    return site


class Command(BaseCommand):
    help = "Network scans: import an nmap XML report (nmap -oX) as a scan of a site."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="import an nmap XML report")
        imp.add_argument("file")
        imp.add_argument("--site", required=True, help="site public id or 'Client/Site'")
        imp.add_argument(
            "--partial",
            action="store_true",
            help="the scan did not cover the whole site (no 'device gone', nothing resolved)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from atalaya.security.scans.ingest import import_nmap

        site = find_site(options["site"])
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from None
        try:
            scan = import_nmap(
                site=site, data=data, name=path.name, is_complete=not options["partial"]
            )
        except ValidationError as exc:
            messages = getattr(exc, "message_dict", {"file": exc.messages})
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in messages.items())
            ) from None
        self.stdout.write(
            f"scan {scan.public_id}: {scan.hosts_up} hosts, {scan.open_ports} open ports"
        )
