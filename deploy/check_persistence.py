#!/usr/bin/env python3
"""Prove that a restart loses no transaction: `record` before the restart, `verify` after it.

    python deploy/check_persistence.py record --state FILE [--auth-url URL --transaction-url URL]
    python deploy/check_persistence.py verify --state FILE [--auth-url URL --transaction-url URL]

`record` registers a fresh customer, submits two transactions and writes them (and the credentials) to
FILE; `verify` logs in again and checks that each one is still returned, field for field, by
GET /transactions/{id} and by the customer's listing. Exits non-zero with the difference otherwise.
Used by `scripts/compose.sh test` around `docker compose restart transaction-service`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

import httpx

# Fields that must survive a restart unchanged: what the customer sees (scores and reasons are staff-only).
STORED_FIELDS = ("id", "customer_id", "terminal_id", "amount", "currency", "timestamp", "status", "created_at")


def login(http: httpx.Client, auth_url: str, username: str, password: str) -> str:
    response = http.post(f"{auth_url}/api/auth/login/", json={"username": username, "password": password})
    response.raise_for_status()
    return response.json()["access"]


def record(http: httpx.Client, auth_url: str, transaction_url: str, state: Path) -> None:
    username = f"restart-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    http.post(
        f"{auth_url}/api/auth/register/",
        json={"username": username, "email": f"{username}@example.com", "password": password},
    ).raise_for_status()
    headers = {"Authorization": f"Bearer {login(http, auth_url, username, password)}"}
    stored = []
    for terminal_id, amount in (("T-0001", "12.30"), ("T-0002", "48.00")):
        response = http.post(
            f"{transaction_url}/transactions",
            json={"amount": amount, "currency": "EUR", "terminal_id": terminal_id},
            headers=headers,
        )
        response.raise_for_status()
        stored.append({field: response.json()[field] for field in STORED_FIELDS})
    state.write_text(json.dumps({"username": username, "password": password, "transactions": stored}))
    print(f"recorded {len(stored)} transactions of {username}")


def verify(http: httpx.Client, auth_url: str, transaction_url: str, state: Path) -> list[str]:
    saved = json.loads(state.read_text())
    headers = {"Authorization": f"Bearer {login(http, auth_url, saved['username'], saved['password'])}"}
    listed = http.get(f"{transaction_url}/transactions", headers=headers)
    listed.raise_for_status()
    listed_text = listed.text
    problems = []
    for before in saved["transactions"]:
        response = http.get(f"{transaction_url}/transactions/{before['id']}", headers=headers)
        if response.status_code != 200:
            problems.append(f"{before['id']}: GET answered {response.status_code} after the restart")
            continue
        after = {field: response.json()[field] for field in STORED_FIELDS}
        if after != before:
            problems.append(f"{before['id']}: before {before}, after {after}")
        if before["id"] not in listed_text:
            problems.append(f"{before['id']}: missing from GET /transactions after the restart")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["record", "verify"])
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--auth-url", default="http://127.0.0.1:8000")
    parser.add_argument("--transaction-url", default="http://127.0.0.1:8001")
    args = parser.parse_args(argv)
    with httpx.Client(timeout=10) as http:
        if args.action == "record":
            record(http, args.auth_url, args.transaction_url, args.state)
            return 0
        problems = verify(http, args.auth_url, args.transaction_url, args.state)
    for problem in problems:
        print(f"LOST: {problem}", file=sys.stderr)
    if not problems:
        print("every recorded transaction survived the restart")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
