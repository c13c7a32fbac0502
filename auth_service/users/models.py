"""The service's user: Django's, with an email that is required and unique regardless of case."""

from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.db.models.functions import Lower


class User(AbstractUser):
    """A customer (submits transactions) or, with ``is_staff``, a fraud analyst / back-office user."""

    email = models.EmailField("email address", max_length=254, blank=True)

    class Meta:
        constraints = [
            # "Alice" and "alice" would be told apart by the database but not by people.
            models.UniqueConstraint(
                Lower("username"),
                name="users_user_username_ci_unique",
                violation_error_message="A user with that username already exists.",
            ),
            # Blank emails are allowed for accounts made in the admin; registered ones always have one.
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="users_user_email_ci_unique",
                violation_error_message="A user with that email address already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.username

    def save(self, *args, **kwargs):
        # set_password() leaves the raw password in _password until the save: the password is changing.
        # (A hash upgrade at login is not a change: Django clears _password before that save.)
        if self._password is None or self.pk is None:
            return super().save(*args, **kwargs)
        # Whoever changes it (the user, staff in the admin, a management command), the sessions opened with
        # the old one end: their refresh tokens are blacklisted, in the same transaction.
        from .services import sessions_end_all

        with transaction.atomic():
            super().save(*args, **kwargs)
            sessions_end_all(user=self)
        return None
