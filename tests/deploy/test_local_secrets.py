"""Local secrets and state are the owner's only: scripts/local_env.py (run by `make run`, `make demo`) and
the scripts that create the staff account without putting its password on a command line."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from k8s_support import REPO

LOCAL_ENV = REPO / "scripts" / "local_env.py"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_local_env(data_dir: Path, umask: int = 0o022, **env) -> subprocess.CompletedProcess:
    environment = {"PATH": os.environ["PATH"], "DATA_DIR": str(data_dir), **env}
    return subprocess.run(
        [sys.executable, "-c", f"import os, runpy, sys; os.umask({umask}); sys.argv = ['local_env.py']; "
         f"runpy.run_path({str(LOCAL_ENV)!r}, run_name='__main__')"],
        env=environment, capture_output=True, text=True, check=True, timeout=60,
    )


def test_the_secrets_file_is_created_0600_without_a_later_chmod(tmp_path):
    # With every chmod disabled and a permissive umask, only a file created 0600 ends up 0600: no window in
    # which another user could open it.
    data_dir = tmp_path / "data"
    code = (
        "import os, pathlib, runpy, sys; os.umask(0); "
        "os.chmod = os.fchmod = pathlib.Path.chmod = lambda *a, **k: None; "
        f"sys.argv = ['local_env.py']; runpy.run_path({str(LOCAL_ENV)!r}, run_name='__main__')"
    )
    subprocess.run([sys.executable, "-c", code], env={"PATH": os.environ["PATH"], "DATA_DIR": str(data_dir)},
                   check=True, capture_output=True, timeout=60)
    assert mode(data_dir / "local.env") == 0o600
    assert "LOCAL_STAFF_PASSWORD=" in (data_dir / "local.env").read_text()
    assert [p.name for p in data_dir.iterdir() if p.name.endswith(".tmp")] == []


def test_data_dir_is_0700_and_the_sqlite_files_0600_before_any_service_opens_them(tmp_path):
    data_dir = tmp_path / "data"
    run_local_env(data_dir, umask=0)
    assert mode(data_dir) == 0o700
    for name in ("auth.sqlite3", "transactions.sqlite3", "fraud.sqlite3"):
        assert mode(data_dir / name) == 0o600, name


def test_an_older_checkouts_open_permissions_are_narrowed_and_its_values_kept(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    (data_dir / "local.env").write_text("INTERNAL_TOKEN=kept-token\n")
    (data_dir / "auth.sqlite3").write_bytes(b"")
    (data_dir / "auth.sqlite3").chmod(0o644)
    run_local_env(data_dir)
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "auth.sqlite3") == 0o600
    assert mode(data_dir / "local.env") == 0o600
    assert "INTERNAL_TOKEN=kept-token" in (data_dir / "local.env").read_text()


def test_no_sqlite_file_is_made_when_the_services_use_database_url(tmp_path):
    data_dir = tmp_path / "data"
    run_local_env(data_dir, DATABASE_URL="postgresql://postgres@127.0.0.1:5432/x")
    assert sorted(p.name for p in data_dir.iterdir()) == ["local.env"]


def commands(script: Path) -> list[str]:
    """The script's commands, continuation lines joined."""
    return script.read_text().replace("\\\n", " ").splitlines()


@pytest.mark.parametrize("script", ["run_local.sh", "demo.sh", "compose.sh"])
def test_scripts_create_the_staff_account_without_its_password_on_a_command_line(script):
    lines = commands(REPO / "scripts" / script)
    calls = [line for line in lines if re.search(r"ensure_staff_user|example_usage", line)]
    assert calls
    for line in calls:
        assert not re.search(r"--(staff-)?password\s", line), line
