"""Reads of users."""

from .models import User


def user_get_active(user_id) -> User | None:
    try:
        return User.objects.get(pk=user_id, is_active=True)
    except (User.DoesNotExist, ValueError, TypeError):
        return None


def username_taken(username: str, *, excluding=None) -> bool:
    """Case-insensitively, as the database constraint compares."""
    return User.objects.filter(username__iexact=username).exclude(pk=excluding).exists()


def email_taken(email: str, *, excluding=None) -> bool:
    return User.objects.filter(email__iexact=email).exclude(pk=excluding).exists()
