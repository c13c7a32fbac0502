"""Secrets given as files (``NAME_FILE``), read the same way by both FastAPI services' settings."""

from __future__ import annotations

import pytest

from fastapi_plumbing.secret_files import read_secret_files


def test_a_secret_given_twice_or_an_unreadable_file_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERNAL_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="INTERNAL_TOKEN_FILE cannot be read"):
        read_secret_files({})
    (tmp_path / "token").write_text("from-the-file-0123456789\n")
    monkeypatch.setenv("INTERNAL_TOKEN_FILE", str(tmp_path / "token"))
    with pytest.raises(ValueError, match="INTERNAL_TOKEN or INTERNAL_TOKEN_FILE, not both"):
        read_secret_files({"INTERNAL_TOKEN": "from-the-variable-0123456789"})
    assert read_secret_files({}) == {"INTERNAL_TOKEN": "from-the-file-0123456789"}
