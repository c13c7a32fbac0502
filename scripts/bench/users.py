"""The benchmark's callers: a few registered customers and one staff user, with access tokens."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass

import httpx
from stack import LocalStack

STAFF_USERNAME = "bench_analyst"


@dataclass(frozen=True)
class Caller:
    username: str
    headers: dict[str, str]


def _login(stack: LocalStack, username: str, password: str) -> Caller:
    auth = stack.url("auth")
    response = httpx.post(f"{auth}/api/auth/login/", json={"username": username, "password": password}, timeout=30)
    response.raise_for_status()
    return Caller(username, {"Authorization": f"Bearer {response.json()['access']}"})


def register_customers(stack: LocalStack, count: int) -> list[Caller]:
    """``count`` new customers, logged in. Registration is throttled per IP (20 an hour by default)."""
    callers = []
    for _ in range(count):
        username = f"bench_{secrets.token_hex(4)}"
        password = "Pw-" + secrets.token_urlsafe(12)
        response = httpx.post(f"{stack.url('auth')}/api/auth/register/", timeout=30, json={
            "username": username, "email": f"{username}@example.com", "password": password})
        response.raise_for_status()
        callers.append(_login(stack, username, password))
    return callers


def staff_caller(stack: LocalStack) -> Caller:
    password = "Staff-" + secrets.token_urlsafe(12)
    stack.manage("ensure_staff_user", "--username", STAFF_USERNAME, "--email", "bench@example.com",
                 env={"STAFF_PASSWORD": password})
    return _login(stack, STAFF_USERNAME, password)


def capture_factory(callers: list[Caller], terminals: int = 200):
    """POST /transactions from the callers in turn, at ``terminals`` different terminals."""
    cycle = itertools.cycle(callers)

    def make(i: int):
        caller = next(cycle)
        body = {"amount": f"{10 + (i * 7919) % 9000 / 100:.2f}", "currency": "EUR",
                "terminal_id": f"T-{i % terminals:05d}"}
        return "POST", "/transactions", {"json": body, "headers": caller.headers}

    return make
