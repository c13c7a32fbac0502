"""Create (or update) a staff user without prompts, for local runs, demos and deployment jobs.

    STAFF_PASSWORD='…' python manage.py ensure_staff_user --username analyst [--email analyst@example.com]
    printf '%s' "$PASSWORD" | python manage.py ensure_staff_user --username analyst --password-stdin

The password comes from the STAFF_PASSWORD environment variable or from standard input, never from the
command line, which every user of the machine can read (`ps`). Idempotent: an existing user becomes active
staff and gets the given password.
"""

import os
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from users.services import staff_user_ensure


class Command(BaseCommand):
    help = "Create or update a staff (fraud analyst) user non-interactively; password from STAFF_PASSWORD or stdin."

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input (first line)"
        )
        # Refused with a clear message rather than argparse's "unrecognized arguments".
        parser.add_argument("--password", help="not accepted: use STAFF_PASSWORD or --password-stdin")

    def handle(self, *args, username, email, password_stdin, password=None, **options):
        if password is not None:
            raise CommandError(
                "--password is not accepted: a command line is visible to every user of the machine. "
                "Set STAFF_PASSWORD or pipe the password into --password-stdin."
            )
        secret = sys.stdin.readline().rstrip("\r\n") if password_stdin else os.environ.get("STAFF_PASSWORD", "")
        if not secret:
            raise CommandError("No password: set STAFF_PASSWORD or pipe it into --password-stdin.")
        try:
            user, created = staff_user_ensure(username=username, password=secret, email=email)
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(f"Cannot set up staff user {username!r}: {problems}") from exc
        self.stdout.write(f"{'created' if created else 'updated'} staff user {user.username} (id {user.pk})")
