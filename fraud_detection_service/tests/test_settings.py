"""Settings read secrets from the environment or from the files the *_FILE variables name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.config import Settings


def test_secrets_may_come_from_files_named_by_the_file_variables(tmp_path, monkeypatch):
    token, url = tmp_path / "internal_token", tmp_path / "database_url"
    token.write_text("a-token-read-from-a-file\n")
    url.write_text("postgres://fraud:pw@postgres:5432/fraud\n")
    for name in ("INTERNAL_TOKEN", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INTERNAL_TOKEN_FILE", str(token))
    monkeypatch.setenv("DATABASE_URL_FILE", str(url))

    settings = Settings(ENVIRONMENT="production")

    assert settings.INTERNAL_TOKEN == "a-token-read-from-a-file"
    assert settings.database_url == "postgresql+psycopg2://fraud:pw@postgres:5432/fraud"


def test_a_refused_secret_file_fails_the_settings_by_name(tmp_path, monkeypatch):
    # The rules themselves are tested once, in fastapi_plumbing/tests/test_secret_files.py.
    monkeypatch.setenv("INTERNAL_TOKEN_FILE", str(tmp_path / "missing"))
    monkeypatch.delenv("INTERNAL_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="INTERNAL_TOKEN_FILE cannot be read"):
        Settings()
