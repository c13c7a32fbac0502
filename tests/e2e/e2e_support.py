"""What the end-to-end tests share: the repository root, the staff account, a customer client."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from stack import LocalStack  # noqa: E402

STAFF = ("e2e_analyst", "Analyst-" + secrets.token_urlsafe(10))


class Customer:
    """A registered, logged-in customer talking to the stack over HTTP."""

    def __init__(self, stack: LocalStack):
        self.stack = stack
        self.username = f"cust_{secrets.token_hex(4)}"
        self.password = "Pw-" + secrets.token_urlsafe(12)
        response = httpx.post(f"{stack.url('auth')}/api/auth/register/", json={
            "username": self.username, "email": f"{self.username}@example.com", "password": self.password})
        assert response.status_code == 201, response.text
        self.login()

    def login(self) -> None:
        response = httpx.post(f"{self.stack.url('auth')}/api/auth/login/",
                              json={"username": self.username, "password": self.password})
        assert response.status_code == 200, response.text
        self.headers = {"Authorization": f"Bearer {response.json()['access']}"}

    def submit(self, amount: str, terminal_id: str = "T-0001") -> dict:
        response = httpx.post(f"{self.stack.url('transactions')}/transactions", headers=self.headers,
                              json={"amount": amount, "currency": "EUR", "terminal_id": terminal_id}, timeout=30)
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, transaction_id: str) -> httpx.Response:
        return httpx.get(f"{self.stack.url('transactions')}/transactions/{transaction_id}", headers=self.headers)


def staff_view(stack: LocalStack, transaction_id: str) -> dict:
    """The transaction as the staff analyst sees it (decided_by, risk score, reasons: customers never do)."""
    login = httpx.post(f"{stack.url('auth')}/api/auth/login/", json={"username": STAFF[0], "password": STAFF[1]})
    assert login.status_code == 200, login.text
    response = httpx.get(f"{stack.url('transactions')}/transactions/{transaction_id}",
                         headers={"Authorization": f"Bearer {login.json()['access']}"})
    assert response.status_code == 200, response.text
    return response.json()
