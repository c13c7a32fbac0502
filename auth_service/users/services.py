"""Writes: users and the tokens that represent their sessions."""

from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from . import selectors
from .models import User
from .tokens import RefreshToken

DUPLICATE_USERNAME = "A user with that username already exists."
DUPLICATE_EMAIL = "A user with that email address already exists."


def _duplicate_errors(user: User) -> dict[str, list[str]]:
    errors = {}
    if selectors.username_taken(user.username, excluding=user.pk):
        errors["username"] = [DUPLICATE_USERNAME]
    if user.email and selectors.email_taken(user.email, excluding=user.pk):
        errors["email"] = [DUPLICATE_EMAIL]
    return errors


def _save(user: User) -> None:
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a concurrent request took the name or the address meanwhile
        raise ValidationError(_duplicate_errors(user) or {"username": [DUPLICATE_USERNAME]}) from exc


def _check_new_password(user: User, password: str, errors: dict, field: str = "password") -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        errors[field] = exc.messages


def user_create(*, username: str, email: str, password: str, is_staff: bool = False) -> User:
    """Create a user, or raise ValidationError naming every field at fault; nothing is written then."""
    user = User(username=username, email=User.objects.normalize_email(email), is_staff=is_staff)
    errors = {}
    try:
        user.clean_fields(exclude=["password"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    for field, messages in _duplicate_errors(user).items():
        errors.setdefault(field, []).extend(messages)
    _check_new_password(user, password, errors)
    if errors:
        raise ValidationError(errors)

    user.set_password(password)  # Argon2: slow on purpose, so outside the transaction
    _save(user)
    return user


def staff_user_ensure(*, username: str, password: str, email: str = "") -> tuple[User, bool]:
    """Create the staff user, or make the existing one active staff with this password. (user, created)"""
    user = User.objects.filter(username=username).first()
    if user is None:
        return user_create(username=username, email=email, password=password, is_staff=True), True
    user.is_staff = user.is_active = True
    user.email = User.objects.normalize_email(email) or user.email
    errors = _duplicate_errors(user)
    _check_new_password(user, password, errors)
    if errors:
        raise ValidationError(errors)
    user.set_password(password)
    _save(user)
    return user, False


def _token_pair(user: User, *, auth_time: int | None = None) -> dict[str, str]:
    refresh = RefreshToken.for_user(user, auth_time=auth_time)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def session_start(*, user: User) -> dict[str, str]:
    tokens = _token_pair(user)
    update_last_login(None, user)
    return tokens


@transaction.atomic
def session_refresh(*, refresh: RefreshToken) -> dict[str, str]:
    """Blacklist the refresh token and issue a new pair of the same session, with claims read afresh from
    the user. Raises SessionExpired past the session's absolute lifetime."""
    refresh.check_session_alive()
    user = selectors.user_get_active(refresh.get("user_id"))
    if user is None:
        raise TokenError("No active account for this token")
    _, newly_blacklisted = refresh.blacklist()
    if not newly_blacklisted:  # two requests raced with the same token: only the first one wins
        raise TokenError("Token is blacklisted")
    return _token_pair(user, auth_time=refresh.auth_time)


def session_end(*, refresh: RefreshToken, user: User) -> None:
    if refresh.get("user_id") != str(user.pk):
        raise PermissionDenied("This refresh token belongs to another user.")
    refresh.blacklist()


def sessions_end_all(*, user: User) -> int:
    """Blacklist every refresh token of the user that is still usable; returns how many."""
    live = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True)
    revoked = [BlacklistedToken(token=token) for token in live]
    BlacklistedToken.objects.bulk_create(revoked, ignore_conflicts=True)
    return len(revoked)


def password_change(*, user: User, new_password: str) -> None:
    """Set a new password (the caller has checked the old one); saving it ends every session of the user
    (User.save). Raises ValidationError on new_password."""
    errors = {}
    _check_new_password(user, new_password, errors, field="new_password")
    if errors:
        raise ValidationError(errors)
    user.set_password(new_password)  # Argon2: slow on purpose, before the transaction
    user.save(update_fields=["password"])
