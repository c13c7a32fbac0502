"""Settings refuse unsafe or meaningless configuration; the fallback policy means what it says."""

from __future__ import annotations

from decimal import Decimal

import pytest
from app.core.config import Settings
from app.services.fallback import FallbackPolicy
from pydantic import ValidationError


def test_production_refuses_the_placeholder_internal_token(monkeypatch):
    monkeypatch.delenv("INTERNAL_TOKEN", raising=False)

    with pytest.raises(ValidationError, match="INTERNAL_TOKEN"):
        Settings(ENVIRONMENT="production")
    assert Settings(ENVIRONMENT="production", INTERNAL_TOKEN="a-real-secret").INTERNAL_TOKEN == "a-real-secret"


@pytest.mark.parametrize("policy", ["allow", "approve_below:", "approve_below:-5", "approve_below:lots"])
def test_unknown_fallback_policy_is_refused(policy):
    with pytest.raises(ValidationError, match="FRAUD_FALLBACK_POLICY"):
        Settings(FRAUD_FALLBACK_POLICY=policy)


def test_fallback_policies_decide_by_amount():
    below = FallbackPolicy.parse("approve_below:100")

    assert FallbackPolicy.parse("block").decide(Decimal("0.01")) == "BLOCKED"
    assert FallbackPolicy.parse("approve").decide(Decimal("999999")) == "APPROVED"
    assert below.decide(Decimal("99.99")) == "APPROVED"
    assert below.decide(Decimal("100")) == "BLOCKED"


def test_default_database_is_sqlite_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)

    settings = Settings(DATA_DIR=tmp_path)

    assert settings.SQLALCHEMY_DATABASE_URL == f"sqlite:///{tmp_path / 'transactions.sqlite3'}"
    for url in ("postgres://u@h/db", "postgresql://u@h/db"):
        assert Settings(DATABASE_URL=url).SQLALCHEMY_DATABASE_URL == "postgresql+psycopg2://u@h/db"
