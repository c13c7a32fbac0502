"""POST /transactions answers the same bytes whichever handler serves it: a plain ``application/json``
body takes the lean handler (app/api/routes/transactions.py), any other spelling of the media type
FastAPI's own. Every answer is compared across the two: errors (which the lean handler leaves to FastAPI
or raises through the same dependencies and endpoint) and captures (a replay through one handler of a
capture made through the other is the same bytes)."""

from __future__ import annotations

import json
import uuid

import pytest

LEAN = "application/json"
FASTAPI = "application/json; charset=utf-8"
VALID = {"amount": "10.00", "currency": "EUR", "terminal_id": "T-LEAN"}
# The headers a client reads beside the body (Location and the request id differ per request).
COMPARED = ("content-type", "www-authenticate", "retry-after", "idempotent-replayed")


def _post(api, content_type: str, body, *, user: int | None = 81, token: str | None = None,
          headers: dict | None = None):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.post("/transactions", user=user, token=token, content=content,
                    headers={"Content-Type": content_type, **(headers or {})})


def _same(lean, standard) -> None:
    assert lean.status_code == standard.status_code
    assert lean.content == standard.content
    assert {k: lean.headers.get(k) for k in COMPARED} == {k: standard.headers.get(k) for k in COMPARED}


REFUSED = {
    "malformed JSON": ({"body": b'{"amount":'}),
    "malformed JSON and no token": ({"body": b'{"amount":', "user": None}),
    "empty body": ({"body": b""}),
    "a JSON array": ({"body": [VALID]}),
    "no token": ({"body": VALID, "user": None}),
    "a forged token": ({"body": VALID, "token": "not-a-token"}),
    "an invalid field": ({"body": {**VALID, "amount": "-1"}}),
    "a missing field": ({"body": {"amount": "10.00", "currency": "EUR"}}),
    "an empty Idempotency-Key": ({"body": VALID, "headers": {"Idempotency-Key": ""}}),
    "a too long Idempotency-Key": ({"body": VALID, "headers": {"Idempotency-Key": "k" * 256}}),
    "an invalid field and no token": ({"body": {**VALID, "amount": "-1"}, "user": None}),
    "another customer's id": ({"body": {**VALID, "customer_id": "someone-else"}}),
    "a back-dated timestamp": ({"body": {**VALID, "timestamp": "2024-01-01T00:00:00Z"}}),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refused_capture_is_the_same_answer_from_both_handlers(api, count_rows, case):
    request = REFUSED[case]
    before = count_rows()

    lean, standard = _post(api, LEAN, **request), _post(api, FASTAPI, **request)

    assert lean.status_code >= 400
    _same(lean, standard)
    assert count_rows() == before


@pytest.mark.parametrize(("first", "then"), [(LEAN, FASTAPI), (FASTAPI, LEAN)], ids=["lean-first", "fastapi-first"])
@pytest.mark.parametrize("staff", [False, True], ids=["customer", "staff"])
def test_a_capture_is_the_same_answer_from_both_handlers(api, first, then, staff):
    key = {"Idempotency-Key": f"lean-{uuid.uuid4()}"}
    user = 1082 if staff else 82
    created = api.post("/transactions", user=user, staff=staff, content=json.dumps(VALID).encode(),
                       headers={"Content-Type": first, **key})
    replayed = api.post("/transactions", user=user, staff=staff, content=json.dumps(VALID).encode(),
                        headers={"Content-Type": then, **key})
    other_body = json.dumps({**VALID, "amount": "11.00"}).encode()
    reused = [api.post("/transactions", user=user, staff=staff, content=other_body,
                       headers={"Content-Type": content_type, **key}) for content_type in (LEAN, FASTAPI)]

    assert created.status_code == replayed.status_code == 201
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.content == created.content
    assert replayed.headers["Location"] == created.headers["Location"] == f"/transactions/{created.json()['id']}"
    assert ("risk_score" in created.json()) is staff
    _same(*reused)
    assert reused[0].status_code == 422
