"""The service's user: Django's, with an email that is required and unique regardless of case."""

from django.contrib.auth.models import AbstractUser
from django.db import models
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
