"""The shared secret between the transaction service (sender) and the fraud service (checker)."""

from __future__ import annotations

import hmac

# The development default both services share, so they work together locally without configuration.
DEV_INTERNAL_TOKEN = "dev-internal-token-change-me"  # noqa: S105 - refused in production
MIN_INTERNAL_TOKEN_LENGTH = 16


def check_internal_token_setting(token: str, environment: str) -> None:
    """Raises ValueError (a settings error at start-up) for a token either side must refuse."""
    if environment == "production" and token == DEV_INTERNAL_TOKEN:
        raise ValueError("INTERNAL_TOKEN must be set to a secret value when ENVIRONMENT=production")
    if len(token) < MIN_INTERNAL_TOKEN_LENGTH:
        raise ValueError(f"INTERNAL_TOKEN must be at least {MIN_INTERNAL_TOKEN_LENGTH} characters")


def internal_token_matches(given: str, expected: str) -> bool:
    # Constant time: response timing must not reveal how much of a guess was right.
    return hmac.compare_digest(given.encode(), expected.encode())
