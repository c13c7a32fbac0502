"""Settings refuse unsafe or meaningless configuration; the fallback policy means what it says."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import pytest
from app.core.config import Settings
from app.services.fallback import FallbackPolicy
from pydantic import ValidationError


def test_production_refuses_the_placeholder_internal_token(monkeypatch):
    monkeypatch.delenv("INTERNAL_TOKEN", raising=False)

    with pytest.raises(ValidationError, match="INTERNAL_TOKEN"):
        Settings(ENVIRONMENT="production")
    secret = "a-real-secret-of-24-chars"
    assert Settings(ENVIRONMENT="production", INTERNAL_TOKEN=secret).INTERNAL_TOKEN == secret


def test_a_short_internal_token_is_refused_as_the_fraud_service_refuses_it():
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(INTERNAL_TOKEN="short-token")


@pytest.mark.parametrize("policy", ["allow", "approve_below:", "approve_below:-5", "approve_below:lots"])
def test_unknown_fallback_policy_is_refused(policy):
    with pytest.raises(ValidationError, match="FRAUD_FALLBACK_POLICY"):
        Settings(FRAUD_FALLBACK_POLICY=policy)


def test_the_review_band_starts_where_the_fraud_service_words_specific_reasons(monkeypatch):
    # One variable, REVIEW_THRESHOLD, read by both services (CONVENTIONS.md); their defaults must agree too, or
    # a queued payment would read "no risk factor stands out" (ml_model is on the path in development only).
    from ml_model.reasons import REVIEW_BAND_FROM_RISK

    monkeypatch.delenv("REVIEW_THRESHOLD", raising=False)
    assert Settings().REVIEW_THRESHOLD == REVIEW_BAND_FROM_RISK


def test_batches_stay_within_what_the_fraud_service_scores_row_by_row(monkeypatch):
    # A longer /predict/batch takes the fraud service's bulk path, whose read of each customer's last hour grows
    # with a busy customer's rate: under a backlog the calls slowed and the batches grew (docs/performance.md,
    # "Batches past 16"). The fraud service's app is not importable here (both packages are named app).
    source = (Path(__file__).resolve().parents[2] / "fraud_detection_service/app/services/predictions.py").read_text()
    in_turn_max = next(node.value.value for node in ast.parse(source).body if isinstance(node, ast.Assign)
                       and getattr(node.targets[0], "id", None) == "IN_TURN_MAX")
    monkeypatch.delenv("FRAUD_BATCH_MAX", raising=False)
    assert Settings().FRAUD_BATCH_MAX <= in_turn_max


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


def test_secrets_may_come_from_files_named_by_the_file_variables(tmp_path, monkeypatch):
    token, url = tmp_path / "internal_token", tmp_path / "database_url"
    token.write_text("a-token-read-from-a-file\n")
    url.write_text("postgresql://transactions:pw@postgres:5432/transactions\n")
    for name in ("INTERNAL_TOKEN", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INTERNAL_TOKEN_FILE", str(token))
    monkeypatch.setenv("DATABASE_URL_FILE", str(url))

    settings = Settings(ENVIRONMENT="production")

    assert settings.INTERNAL_TOKEN == "a-token-read-from-a-file"
    assert settings.SQLALCHEMY_DATABASE_URL == "postgresql+psycopg2://transactions:pw@postgres:5432/transactions"


def test_a_refused_secret_file_fails_the_settings_by_name(tmp_path, monkeypatch):
    # The rules themselves are tested once, in fastapi_plumbing/tests/test_secret_files.py.
    monkeypatch.setenv("INTERNAL_TOKEN_FILE", str(tmp_path / "missing"))
    monkeypatch.delenv("INTERNAL_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="INTERNAL_TOKEN_FILE cannot be read"):
        Settings()
