"""The live stack the standing checks run against: the three services as real processes on loopback
(scripts/stack.py, each through its start.sh), a staff account and customers with real access tokens, on
SQLite, or on fresh PostgreSQL databases when POSTGRES_URL is set."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import bench.databases as databases  # noqa: E402
from stack import LocalStack  # noqa: E402

from fastapi_plumbing.testing import eventually  # noqa: E402,F401 (the drill polls with it)

STAFF_USERNAME = "standing_analyst"


def model_dir() -> Path:
    """The default model, as `make run` serves it (make test trains it first when it is stale)."""
    path = Path(os.environ.get("MODEL_DIR") or ROOT / "ml_model" / "models")
    if not (path / "model_metadata.json").exists():
        pytest.fail(f"no trained model in {path}: run `make train`")
    return path


def postgres_databases(purpose: str) -> databases.PostgresDatabases | None:
    """Fresh databases for the three services when POSTGRES_URL is set; None for SQLite."""
    server = os.environ.get("POSTGRES_URL")
    if not server:
        return None
    dbs = databases.PostgresDatabases(server, ["auth", "fraud", "transactions"], prefix=purpose)
    try:
        dbs.create()
    except databases.psycopg2.OperationalError as exc:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {server} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {server} is unreachable")
    return dbs


@dataclass
class Live:
    stack: LocalStack
    dbs: databases.PostgresDatabases | None
    staff_password: str = field(default_factory=lambda: "Staff-" + secrets.token_urlsafe(12))

    @property
    def transactions(self) -> str:
        return self.stack.url("transactions")

    def login(self, username: str, password: str) -> str:
        response = httpx.post(f"{self.stack.url('auth')}/api/auth/login/",
                              json={"username": username, "password": password}, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()["access"]

    def staff_token(self) -> str:
        return self.login(STAFF_USERNAME, self.staff_password)

    def new_customer(self) -> str:
        """A freshly registered customer's access token."""
        username, password = f"cust_{secrets.token_hex(4)}", "Pw-" + secrets.token_urlsafe(12)
        response = httpx.post(f"{self.stack.url('auth')}/api/auth/register/", timeout=30, json={
            "username": username, "email": f"{username}@example.com", "password": password})
        assert response.status_code == 201, response.text
        return self.login(username, password)

    def kill(self, name: str) -> None:
        """kill -9 the service's whole process group (server and workers): no shutdown of any kind."""
        process = self.stack.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def pause(self, name: str, paused: bool) -> None:
        os.killpg(self.stack.processes[name].pid, signal.SIGSTOP if paused else signal.SIGCONT)


def start_live(tmp_path: Path, purpose: str, **extra_env: str) -> Live:
    dbs = postgres_databases(purpose)
    stack = LocalStack(data_dir=tmp_path / "data", model_dir=model_dir(),
                       database_urls=dbs.urls() if dbs else {},
                       extra_env={"ACCESS_TOKEN_LIFETIME_MINUTES": "60", **extra_env})
    live = Live(stack, dbs)
    try:
        stack.manage("migrate", "--noinput")
        stack.manage("ensure_staff_user", "--username", STAFF_USERNAME, "--email", "standing@example.com",
                     env={"STAFF_PASSWORD": live.staff_password})
        stack.start_all()
    except BaseException:
        stop_live(live)
        raise
    return live


def stop_live(live: Live) -> None:
    for name in list(live.stack.processes):
        if live.stack.processes[name].poll() is None:
            with contextlib.suppress(ProcessLookupError):
                live.pause(name, False)  # a stopped process cannot act on SIGTERM
    live.stack.stop_all()
    if live.dbs is not None:
        live.dbs.drop()
