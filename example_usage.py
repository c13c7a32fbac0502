#!/usr/bin/env python3
"""A walk through detec_fraude, as a client application would use it.

    python example_usage.py                      # against `make run` (localhost:8000/8001)
    python example_usage.py --auth-url https://api.example.com --transaction-url https://api.example.com

Steps: register (or reuse) a customer, log in, submit ordinary purchases (expected APPROVED), submit an
obviously abnormal one (expected BLOCKED: the customer sees the decision and one neutral sentence), list
the customer's transactions, refresh the token (the old refresh token is refused afterwards), log out; then,
as a staff analyst, read every payment's risk score, reasons and largest contributions (staff only: the
ordinary ones carry no accusation, the blocked one names its amount) and label the blocked one as
confirmed fraud. Exits non-zero when a step does not behave as
described, so scripts/test_services.sh and the end-to-end tests can rely on it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from dataclasses import dataclass

import httpx

ORDINARY_PURCHASES = [("T-0001", "23.50"), ("T-0002", "41.20"), ("T-0001", "17.80"), ("T-0003", "35.00")]
ABNORMAL_PURCHASE = ("T-0999", "9850.00")
# What the fraud service says of an approved payment under the review band (ml_model/reasons.py).
NOTHING_STANDS_OUT = "no risk factor stands out"


class StepFailed(Exception):
    """A step did not behave as described."""


@dataclass
class Client:
    auth_url: str
    transaction_url: str
    http: httpx.Client

    def post(self, base: str, path: str, json: dict, token: str | None = None, **headers) -> httpx.Response:
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.post(base + path, json=json, headers=headers)

    def get(self, base: str, path: str, token: str | None = None, **params) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.get(base + path, headers=headers, params=params)


def step(title: str) -> None:
    print(f"\n== {title}")


def expect(response: httpx.Response, status: int | tuple[int, ...], what: str) -> dict:
    wanted = status if isinstance(status, tuple) else (status,)
    if response.status_code not in wanted:
        raise StepFailed(f"{what}: expected HTTP {status}, got {response.status_code}: {response.text[:300]}")
    return response.json() if response.content else {}


def show_transaction(tx: dict) -> None:
    """A customer's view: the decision, and for a blocked payment one neutral sentence."""
    print(f"  {tx['status']:<8} {tx['amount']:>10} {tx['currency']} at {tx['terminal_id']:<7}"
          + (f"  \"{tx['message']}\"" if tx.get("message") else ""))


def show_staff_view(tx: dict, review_threshold: float) -> None:
    """What staff see on top: how the decision was taken, why, and what moved the model's score most."""
    risk = "-" if tx["risk_score"] is None else f"{float(tx['risk_score']):.2f}"
    band = ", in the review band" if in_review_band(tx, review_threshold) else ""
    print(f"  {tx['status']:<8} {tx['amount']:>10} {tx['currency']}  risk {risk} "
          f"(decided by {tx['decided_by']}, model {tx['model_version']}{band})")
    for reason in tx.get("reasons") or []:
        print(f"           - {reason}")
    top = [f"{c['feature']} {c['contribution']:+.3f}" for c in (tx.get("contributions") or [])[:3]]
    if top:
        print(f"             largest contributions: {', '.join(top)}")


def in_review_band(tx: dict, review_threshold: float) -> bool:
    """APPROVED at or above the review band's start: queued for an analyst, so explained like a blocked one."""
    return tx["status"] == "APPROVED" and tx["risk_score"] is not None and float(tx["risk_score"]) >= review_threshold


def check_explanations(decided: list[dict], blocked_id: str, review_threshold: float) -> None:
    """Ordinary purchases under the review band carry no accusation (in it, e.g. a brand-new customer's at
    night on the default model, they say what an analyst is asked to look at); the blocked one was decided
    by the model and names its amount once."""
    for tx in decided:
        if tx["id"] == blocked_id:
            if tx["decided_by"] != "model" or sum("amount" in reason for reason in tx["reasons"]) != 1:
                raise StepFailed(f"the abnormal purchase was not BLOCKED by the model naming its amount once: {tx}")
        elif in_review_band(tx, review_threshold):
            if tx["reasons"] in ([], [NOTHING_STANDS_OUT]):
                raise StepFailed(f"a purchase queued for review does not say why: {tx}")
        elif tx["reasons"] != [NOTHING_STANDS_OUT]:
            raise StepFailed(f"an ordinary purchase was given accusing reasons: {tx['reasons']}")


def login(c: Client, username: str, password: str) -> dict:
    response = c.post(c.auth_url, "/api/auth/login/", {"username": username, "password": password})
    return expect(response, 200, f"login as {username}")


def submit(c: Client, token: str, terminal_id: str, amount: str) -> dict:
    body = {"amount": amount, "currency": "EUR", "terminal_id": terminal_id}
    response = c.post(c.transaction_url, "/transactions", body, token, **{"Idempotency-Key": secrets.token_hex(16)})
    return expect(response, 201, f"submit {amount} EUR at {terminal_id}")


def run(c: Client, username: str, password: str, staff: tuple[str, str] | None) -> None:
    step(f"Register customer {username!r} (or reuse it)")
    response = c.post(
        c.auth_url, "/api/auth/register/",
        {"username": username, "email": f"{username}@example.com", "password": password},
    )
    if response.status_code == 201:
        print("  registered")
    elif response.status_code in (400, 422) and "username" in response.text:
        print("  already registered: reusing it")
    else:
        expect(response, 201, "register")

    step("Log in")
    tokens = login(c, username, password)
    me = expect(c.get(c.auth_url, "/api/auth/me/", tokens["access"]), 200, "read my profile")
    print(f"  logged in as {me['username']} (id {me['id']}); access token valid for a few minutes")

    step("Ordinary purchases (expected: APPROVED)")
    submitted = []
    for terminal_id, amount in ORDINARY_PURCHASES:
        tx = submit(c, tokens["access"], terminal_id, amount)
        submitted.append(tx["id"])
        show_transaction(tx)
        if tx["status"] != "APPROVED":
            raise StepFailed(f"an ordinary purchase of {amount} EUR was {tx['status']}, expected APPROVED")

    step("An obviously abnormal purchase (expected: BLOCKED; the customer is not told why)")
    blocked = submit(c, tokens["access"], *ABNORMAL_PURCHASE)
    submitted.append(blocked["id"])
    show_transaction(blocked)
    if blocked["status"] != "BLOCKED" or not blocked.get("message"):
        raise StepFailed("the abnormal purchase was not BLOCKED with a message for the customer")
    if {"risk_score", "reasons", "model_version", "decided_by"} & set(blocked):
        raise StepFailed("the customer was shown the model's internals")

    step("My transactions, newest first")
    listing = expect(c.get(c.transaction_url, "/transactions", tokens["access"]), 200, "list transactions")
    items = listing["items"]
    for tx in items:
        print(f"  {tx['created_at']}  {tx['status']:<8} {tx['amount']:>10} {tx['currency']}  {tx['id']}")
    if not items or items[0]["id"] != blocked["id"]:
        raise StepFailed("the listing does not start with the latest transaction")

    step("Refresh the access token (the refresh token rotates)")
    refreshed = expect(
        c.post(c.auth_url, "/api/auth/refresh/", {"refresh": tokens["refresh"]}), 200, "refresh the token"
    )
    reuse = c.post(c.auth_url, "/api/auth/refresh/", {"refresh": tokens["refresh"]})
    expect(reuse, 401, "reusing the old refresh token")
    print("  new access token issued; the old refresh token is now refused")
    new_refresh = refreshed.get("refresh", tokens["refresh"])

    step("Log out")
    logout = c.post(c.auth_url, "/api/auth/logout/", {"refresh": new_refresh}, refreshed["access"])
    expect(logout, (200, 204, 205), "log out")
    expect(c.post(c.auth_url, "/api/auth/refresh/", {"refresh": new_refresh}), 401, "refresh after logout")
    print("  logged out: the refresh token no longer works")

    step("As a staff analyst: why each payment was decided, then label the blocked one as confirmed fraud")
    if staff is None:
        print("  skipped: no staff credentials given (--staff-username/--staff-password)")
        return
    staff_tokens = login(c, *staff)
    listed = expect(c.get(c.transaction_url, "/transactions", staff_tokens["access"], customer_id=str(me["id"])),
                    200, "list the customer's transactions as staff")["items"]
    decided = [tx for tx in reversed(listed) if tx["id"] in submitted]  # this run's, oldest first
    if len(decided) != len(submitted):
        raise StepFailed("the staff listing does not show every payment of this run")
    review_threshold = float(expect(c.get(c.transaction_url, "/staff/overview", staff_tokens["access"]), 200,
                                    "read the review band")["review_threshold"])
    for tx in decided:
        show_staff_view(tx, review_threshold)
    check_explanations(decided, blocked["id"], review_threshold)
    labelled = expect(
        c.post(c.transaction_url, f"/transactions/{blocked['id']}/label", {"is_fraud": True}, staff_tokens["access"]),
        200, "label the blocked transaction",
    )
    print(f"  labelled {labelled['transaction_id']} as fraud (feedback {labelled['feedback']}); "
          "the fraud service counts it in the terminal's risk")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--auth-url", default=os.environ.get("AUTH_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--transaction-url", default=os.environ.get("TRANSACTION_URL", "http://127.0.0.1:8001"))
    parser.add_argument("--username", default=f"demo_{secrets.token_hex(3)}", help="customer to register or reuse")
    parser.add_argument("--password", default=None, help="its password (required to reuse an existing user)")
    parser.add_argument("--staff-username", default=os.environ.get("STAFF_USERNAME"))
    parser.add_argument("--staff-password", default=os.environ.get("STAFF_PASSWORD"))
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request")
    args = parser.parse_args(argv)

    password = args.password or f"Demo-{secrets.token_urlsafe(12)}"
    staff = (args.staff_username, args.staff_password) if args.staff_username and args.staff_password else None
    with httpx.Client(timeout=args.timeout) as http:
        client = Client(args.auth_url.rstrip("/"), args.transaction_url.rstrip("/"), http)
        try:
            run(client, args.username, password, staff)
        except (StepFailed, httpx.HTTPError, KeyError, ValueError) as exc:
            print(f"\nFAILED: {exc}", file=sys.stderr)
            return 1
    print("\nAll steps behaved as described.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
