"""Create (or update) a staff user without prompts, for local runs, demos and deployment jobs.

    python manage.py ensure_staff_user --username analyst --password '…' [--email analyst@example.com]

The password may come from the STAFF_PASSWORD environment variable instead, to keep it out of `ps`.
Idempotent: an existing user becomes active staff and gets the given password.
"""

import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from users.services import staff_user_ensure


class Command(BaseCommand):
    help = "Create or update a staff (fraud analyst) user non-interactively."

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", default=os.environ.get("STAFF_PASSWORD"))
        parser.add_argument("--email", default="")

    def handle(self, *args, username, password, email, **options):
        if not password:
            raise CommandError("Give --password or set STAFF_PASSWORD.")
        try:
            user, created = staff_user_ensure(username=username, password=password, email=email)
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(f"Cannot set up staff user {username!r}: {problems}") from exc
        self.stdout.write(f"{'created' if created else 'updated'} staff user {user.username} (id {user.pk})")
