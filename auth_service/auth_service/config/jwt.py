"""RS256 access and refresh tokens (simplejwt), signed with a key whose ``kid`` is in every header."""

from datetime import timedelta

from ..signing_keys import public_pem, read_public_keys_file, resolve_private_key_pem
from .environment import (
    ACCESS_TOKEN_LIFETIME_MINUTES,
    DATA_DIR,
    IS_PRODUCTION,
    JWT_AUDIENCE,
    JWT_EXTRA_PUBLIC_KEYS_FILE,
    JWT_ISSUER,
    JWT_PRIVATE_KEY,
    JWT_PRIVATE_KEY_FILE,
    REFRESH_TOKEN_LIFETIME_HOURS,
    SESSION_MAX_LIFETIME_HOURS,
)

JWT_SIGNING_KEY = resolve_private_key_pem(
    inline=JWT_PRIVATE_KEY,
    file=JWT_PRIVATE_KEY_FILE,
    # A generated key is only for local runs; production must be given one.
    local_dir=None if IS_PRODUCTION else DATA_DIR / "keys",
)
# Published in the JWKS and accepted by the service itself: the signing key first, then keys being
# rotated in or out.
JWT_VERIFYING_KEYS = [public_pem(JWT_SIGNING_KEY), *read_public_keys_file(JWT_EXTRA_PUBLIC_KEYS_FILE)]

SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "VERIFYING_KEY": JWT_VERIFYING_KEYS[0],
    "ISSUER": JWT_ISSUER,
    "AUDIENCE": JWT_AUDIENCE,
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=ACCESS_TOKEN_LIFETIME_MINUTES),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=REFRESH_TOKEN_LIFETIME_HOURS),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_TOKEN_CLASSES": ("users.tokens.AccessToken",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "TOKEN_TYPE_CLAIM": "token_type",
}
# A session (a login and the refreshes that follow it) ends this long after the password was typed.
SESSION_MAX_LIFETIME = timedelta(hours=SESSION_MAX_LIFETIME_HOURS)
