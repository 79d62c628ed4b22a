"""``atalaya token create|list|revoke``: API tokens from the command line.

``create`` prints the raw token once (only its hash is stored); ``list`` shows a
user's tokens with their last use; ``revoke`` stops a token at once.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from atalaya.core.models import ApiToken, User
from atalaya.core.services import create_api_token, revoke_api_token


class Command(BaseCommand):
    help = "Create, list and revoke API tokens for /api/v1."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Issue a token for a user and print it once.")
        create.add_argument("username")
        create.add_argument("--name", default="", help="What the token is for (default: cli).")
        listing = sub.add_parser("list", help="A user's tokens, with when each was last used.")
        listing.add_argument("username")
        revoke = sub.add_parser("revoke", help="Revoke a token by the id that `list` shows.")
        revoke.add_argument("id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            self._create(options["username"], options["name"])
        elif action == "list":
            self._list(options["username"])
        else:
            self._revoke(options["id"])

    def _user(self, username: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No such user: {username}")
        if not user.is_active:
            raise CommandError(f"{username} is not active; a token for it would not work.")
        return user

    def _create(self, username: str, name: str) -> None:
        user = self._user(username)
        try:
            token, raw = create_api_token(actor=None, user=user, name=name or "cli")
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        # The raw value alone on stdout, so scripts can capture it; the rest on stderr.
        self.stderr.write(
            f"Token {token.pk} ({token.name}) for {user.username}; it is shown only once:"
        )
        self.stdout.write(raw)

    def _list(self, username: str) -> None:
        user = self._user(username)
        tokens = ApiToken.objects.filter(user=user).order_by("-created_at")
        if not tokens:
            self.stdout.write(f"{user.username} has no tokens.")
            return
        self.stdout.write(
            f"{'ID':>6}  {'NAME':<24} {'ENDS':<8} {'CREATED':<17} {'LAST USED':<17} STATE"
        )
        for t in tokens:
            state = f"revoked {_when(t.revoked_at)}" if t.revoked_at else "active"
            self.stdout.write(
                f"{t.pk:>6}  {t.name[:24]:<24} …{t.hint:<7} {_when(t.created_at):<17} "
                f"{_when(t.last_used_at):<17} {state}"
            )

    def _revoke(self, token_id: int) -> None:
        token = ApiToken.objects.select_related("user").filter(pk=token_id).first()
        if token is None:
            raise CommandError(f"No such token: {token_id}")
        already = token.revoked_at is not None
        revoke_api_token(actor=None, token=token)
        state = "was already revoked" if already else "is revoked"
        self.stdout.write(f"Token {token.pk} ({token.name}) of {token.user.username} {state}.")


def _when(moment: Any) -> str:
    if moment is None:
        return "never"
    return str(timezone.localtime(moment).strftime("%Y-%m-%d %H:%M"))
