"""manage.py create_api_token <username>: print a new API token (shown once)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from knox.models import AuthToken
from knox.settings import knox_settings


class Command(BaseCommand):
    help = "Create an API token for a user and print it. Only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Lifetime in days (default: DIEP_API_TOKEN_TTL_DAYS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        if not user.is_active:
            raise CommandError(f"User {options['username']!r} is inactive.")
        days = options["days"]
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        expiry = timedelta(days=days) if days else knox_settings.TOKEN_TTL
        instance, token = AuthToken.objects.create(user=user, expiry=expiry)
        self.stderr.write(f"Token for {user.get_username()}, expires {instance.expiry:%Y-%m-%d}.")
        self.stdout.write(token)
