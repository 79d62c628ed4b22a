"""``atalaya links train|check|update-feeds``: the link scanner's model and feeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

MAX_CHECK_LINES = 5_000_000


class Command(BaseCommand):
    help = "Link scanner: train the model, check URLs, load threat feeds."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        tr = sub.add_parser("train", help="Rebuild the n-gram model reproducibly.")
        tr.add_argument("--data", default=None, help="Folder of labelled URL files.")
        tr.add_argument("--out", default=None, help="Model file to write (.npz).")
        ck = sub.add_parser("check", help="Print a verdict and score per URL, in input order.")
        ck.add_argument("--file", required=True, help="Text file, one URL per line ('-' = stdin).")
        ck.add_argument("--own-domain", action="append", default=[], help="A client's domain.")
        up = sub.add_parser("update-feeds", help="Load URLhaus/OpenPhish/PhishTank files.")
        up.add_argument("files", nargs="+")

    def handle(self, *args: Any, **opts: Any) -> None:
        getattr(self, "_" + opts["action"].replace("-", "_"))(opts)

    def _train(self, opts: dict[str, Any]) -> None:
        from atalaya.security.links import model, train

        data = Path(opts["data"]) if opts["data"] else train.DEFAULT_DATA
        if not data.is_dir():
            raise CommandError(_("--data: %(path)s is not a folder") % {"path": data})
        rows = train.load_rows(data)
        if not rows or len({r.label for r in rows}) < 2:
            raise CommandError(_("--data: no labelled URLs of both classes found"))
        out = Path(opts["out"]) if opts["out"] else model.MODEL_PATH
        mdl = train.train(rows)
        mdl.save(out)
        model.load.cache_clear()
        self.stdout.write(
            _("Trained on %(n)d URLs; model written to %(out)s") % {"n": len(rows), "out": out}
        )

    def _check(self, opts: dict[str, Any]) -> None:
        import sys

        from atalaya.security.links import judge_urls

        name = opts["file"]
        try:
            fh = sys.stdin if name == "-" else open(name, encoding="utf-8", errors="replace")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(
                _("--file: cannot read %(name)s (%(err)s)") % {"name": name, "err": exc}
            ) from exc
        with fh:
            batch: list[str] = []
            for count, line in enumerate(fh, 1):
                batch.append(line.strip())
                if count > MAX_CHECK_LINES:
                    raise CommandError(_("--file: more than %(n)d lines") % {"n": MAX_CHECK_LINES})
                if len(batch) >= 20_000:
                    self._print(judge_urls(batch, own_domains=opts["own_domain"]))
                    batch = []
            self._print(judge_urls(batch, own_domains=opts["own_domain"]))

    def _print(self, judgements: list[Any]) -> None:
        # Two labels only, so any labelled list can be scored the same way.
        self.stdout.write(
            "".join(
                f"{'ok' if j.verdict == 'ok' else 'phishing'} {j.score:.2f}\n" for j in judgements
            ),
            ending="",
        )

    def _update_feeds(self, opts: dict[str, Any]) -> None:
        from atalaya.security.links.feeds import FeedError, load_feed

        for name in opts["files"]:
            path = Path(name)
            if not path.is_file():
                raise CommandError(_("%(name)s: no such file") % {"name": name})
            try:
                load = load_feed(path)
            except FeedError as exc:
                raise CommandError(f"{name}: {exc}") from exc
            self.stdout.write(
                _("%(name)s: %(source)s, %(n)d entries, %(s)d skipped")
                % {"name": name, "source": load.source, "n": load.entries, "s": load.skipped}
            )
