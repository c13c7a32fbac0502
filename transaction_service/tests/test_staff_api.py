"""The staff API behind the analyst console: staff-only, validated, keyset pages, faceted counts kept in
step with the rows, actions audited exactly once and delivered to the fraud service."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from app.models import AuditEntry, FeedbackOutbox, Transaction
from app.services.review_queue import move_queue_count, queue_cells, queue_move
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from fastapi_plumbing.testing import assert_problem, eventually, free_port
from tests.support.api import Api
from tests.support.stubs import PLOT_BYTES

STAFF = 990
BLOCKED_AMOUNT, BAND_AMOUNT, ORDINARY_AMOUNT = "650.00", "450.00", "20.00"  # see FraudStub

DATA_ROUTES = [
    ("GET", "/staff/queue", None),
    ("GET", f"/staff/transactions/{uuid.uuid4()}", None),
    ("POST", f"/staff/transactions/{uuid.uuid4()}/label", {"is_fraud": True}),
    ("POST", f"/staff/transactions/{uuid.uuid4()}/release", {}),
    ("GET", "/staff/overview", None),
    ("GET", "/staff/what-if", None),
    ("GET", "/staff/model", None),
    ("GET", "/staff/model/plots/roc_curve", None),
    ("GET", "/staff/model/comparison?from=2026-11-01&to=2026-11-14", None),
]


def _customer() -> int:
    return 700_000 + uuid.uuid4().int % 100_000


def _capture(api, amount: str, customer: int) -> dict:
    response = api.create(amount, user=customer)
    assert response.status_code == 201, response.text
    return response.json()


def _queue(api, **params):
    response = api.get("/staff/queue", user=STAFF, staff=True, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _staff_capture(api, amount: str, customer: int, when: datetime, terminal: str = "T-100") -> dict:
    response = api.post("/transactions", user=STAFF, staff=True, json={
        "amount": amount, "currency": "EUR", "terminal_id": terminal, "customer_id": str(customer),
        "timestamp": when.isoformat()})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(("method", "path", "body"), DATA_ROUTES)
def test_every_staff_data_route_refuses_customers_and_anonymous_callers(api, method, path, body):
    as_customer = api.request(method, path, user=5, staff=False, json=body)
    anonymous = api.request(method, path, user=None, json=body)

    assert as_customer.status_code == 403
    assert anonymous.status_code == 401


def test_queue_holds_blocked_and_review_band_but_not_ordinary_approvals(api):
    customer = _customer()
    blocked = _capture(api, BLOCKED_AMOUNT, customer)
    band = _capture(api, BAND_AMOUNT, customer)
    _capture(api, ORDINARY_AMOUNT, customer)

    page = _queue(api, customer_id=str(customer))

    assert [item["id"] for item in page["items"]] == [band["id"], blocked["id"]]  # newest first
    by_id = {item["id"]: item for item in page["items"]}
    assert by_id[band["id"]]["status"] == "APPROVED" and by_id[band["id"]]["review_required"] is True
    assert by_id[blocked["id"]]["review_required"] is False
    assert by_id[blocked["id"]]["reasons"] == ["amount far above customer average"]
    assert page["counts"]["total"] == 2
    assert page["counts"]["status"] == {"BLOCKED": 1, "APPROVED": 1}
    assert page["counts"]["label"]["none"] == 2
    # The customer's own view of the band transaction says nothing about a review.
    assert "review_required" not in api.get(f"/transactions/{band['id']}", user=customer).json()


def test_queue_filters_and_their_counts(api):
    customer = _customer()
    now = datetime.now(UTC)
    old = _staff_capture(api, BLOCKED_AMOUNT, customer, now - timedelta(days=3), terminal="T-A")
    recent = _staff_capture(api, BLOCKED_AMOUNT, customer, now - timedelta(hours=1), terminal="T-B")
    band = _staff_capture(api, BAND_AMOUNT, customer, now - timedelta(minutes=5), terminal="T-B")
    api.post(f"/staff/transactions/{recent['id']}/label", user=STAFF, staff=True, json={"is_fraud": True})

    by_terminal = _queue(api, customer_id=str(customer), terminal_id="T-B")
    since = _queue(api, customer_id=str(customer), since=(now - timedelta(days=1)).isoformat())
    unlabelled_blocked = _queue(api, customer_id=str(customer), status="BLOCKED", label="none")
    fraud = _queue(api, customer_id=str(customer), label="fraud")

    assert {i["id"] for i in by_terminal["items"]} == {recent["id"], band["id"]}
    assert {i["id"] for i in since["items"]} == {recent["id"], band["id"]}
    assert [i["id"] for i in unlabelled_blocked["items"]] == [old["id"]]
    assert [i["id"] for i in fraud["items"]] == [recent["id"]]
    # Facets: each filter's values counted with the other filters applied.
    assert unlabelled_blocked["counts"]["total"] == 1
    assert unlabelled_blocked["counts"]["status"] == {"BLOCKED": 1, "APPROVED": 1}  # unlabelled, any status
    assert unlabelled_blocked["counts"]["label"] == {"none": 1, "fraud": 1, "legitimate": 0, "labelled": 1}
    assert fraud["counts"]["decided_by"] == {"model": 1, "fallback": 0, "analyst": 0}


def test_keyset_pages_cover_the_queue_once_newest_first(api):
    customer = _customer()
    start = datetime.now(UTC) - timedelta(hours=2)
    made = [_staff_capture(api, BLOCKED_AMOUNT, customer, start + timedelta(minutes=i))["id"] for i in range(5)]

    seen, cursor, pages = [], None, 0
    while True:
        params = {"customer_id": str(customer), "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = _queue(api, **params)
        pages += 1
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(made))
    assert pages == 3


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"cursor": "not-a-cursor"}, "cursor"),
    ({"status": "PENDING"}, "status"), ({"decided_by": "robot"}, "decided_by"), ({"label": "maybe"}, "label"),
    ({"since": "2026-11-26T08:00:00"}, "since"), ({"since": "yesterday"}, "since"),
    # numbers, which pydantic would take as seconds since 1970: the document says date-time
    ({"until": "0.5"}, "until"), ({"until": "1795694951"}, "until"), ({"since": "0"}, "since"),
    ({"until": "2026-11-26"}, "until"),
    ({"since": "2026-11-26T08:00:00Z", "until": "2026-11-25T08:00:00Z"}, "since"),
    ({"terminal_id": "x" * 65}, "terminal_id"),
])
def test_queue_refuses_bad_parameters_with_a_422_naming_them(api, params, field):
    response = api.get("/staff/queue", user=STAFF, staff=True, params=params)

    body = assert_problem(response, 422, "validation_error", "/staff/queue")
    assert field in {error["field"] for error in body["errors"]}


@pytest.mark.parametrize("params", [{"from": "0", "to": "86400"}, {"from": "2026-11-01", "to": "20261114"},
                                    {"from": "2026-11-01T00:00:00Z", "to": "2026-11-14"}])
def test_comparison_takes_dates_only_as_yyyy_mm_dd(api, params):
    response = api.get("/staff/model/comparison", user=STAFF, staff=True, params=params)

    body = assert_problem(response, 422, "validation_error", "/staff/model/comparison")
    assert {error["field"] for error in body["errors"]} <= {"from", "to"}
    assert "YYYY-MM-DD" in body["errors"][0]["message"]


def test_queue_takes_offsets_in_either_form(api):
    for since in ("2026-11-26T08:00:00Z", "2026-11-26T08:00:00.250+01:00", "2026-11-26T08:00-0500"):
        _queue(api, since=since)


def _audit_rows(engine, transaction_id: str) -> list[AuditEntry]:
    with Session(engine) as session:
        return session.scalars(select(AuditEntry).where(AuditEntry.transaction_id == uuid.UUID(transaction_id))
                               .order_by(AuditEntry.id)).all()


def test_label_then_change_it_each_audited_once_and_delivered(api, engine, healthy_fraud_stub):
    created = _capture(api, BAND_AMOUNT, _customer())
    path = f"/staff/transactions/{created['id']}/label"

    first = api.post(path, user=STAFF, staff=True, json={"is_fraud": True, "comment": "customer confirmed theft"})
    second = api.post(path, user=STAFF, staff=True, json={"is_fraud": False})

    assert first.status_code == 200 and first.json()["feedback"] == "delivered"
    assert second.json()["transaction"]["is_fraud"] is False
    audit = _audit_rows(engine, created["id"])
    assert [(a.action, a.before["label"], a.after["label"]) for a in audit] == [
        ("label", "none", "fraud"), ("relabel", "fraud", "legitimate")]
    assert audit[0].actor == f"user{STAFF}" and audit[0].comment == "customer confirmed theft"
    sent = [body["is_fraud"] for _, body in healthy_fraud_stub.calls("/feedback")
            if body["transaction_id"] == created["id"]]
    assert sent == [True, False]  # the latest label reached the fraud service last
    detail = api.get(f"/staff/transactions/{created['id']}", user=STAFF, staff=True).json()
    assert [(e["is_fraud"], e["feedback"]) for e in detail["labels"]] == [(True, "delivered"), (False, "delivered")]
    assert [e["action"] for e in detail["audit"]] == ["label", "relabel"]


def test_label_change_while_the_fraud_service_is_down_is_delivered_later(api, engine, healthy_fraud_stub):
    created = _capture(api, BLOCKED_AMOUNT, _customer())
    api.post(f"/staff/transactions/{created['id']}/label", user=STAFF, staff=True, json={"is_fraud": True})
    healthy_fraud_stub.stop()

    changed = api.post(f"/staff/transactions/{created['id']}/label", user=STAFF, staff=True, json={"is_fraud": False})
    assert changed.json()["feedback"] == "queued"
    healthy_fraud_stub.start()

    eventually(lambda: [b["is_fraud"] for _, b in healthy_fraud_stub.calls("/feedback")
                        if b["transaction_id"] == created["id"]] == [True, False], timeout=10)
    assert len(_audit_rows(engine, created["id"])) == 2


def test_release_approves_by_analyst_keeps_the_model_decision_and_labels_legitimate(api, engine, healthy_fraud_stub):
    created = _capture(api, BLOCKED_AMOUNT, _customer())

    response = api.post(f"/staff/transactions/{created['id']}/release", user=STAFF, staff=True,
                        json={"comment": "customer called, known merchant"})

    assert response.status_code == 200, response.text
    released = response.json()["transaction"]
    assert (released["status"], released["decided_by"]) == ("APPROVED", "analyst")
    assert (released["original_status"], released["original_decided_by"]) == ("BLOCKED", "model")
    assert released["is_fraud"] is False and released["risk_score"] == 0.93  # the model's score is kept
    assert response.json()["audit"]["before"] == {"status": "BLOCKED", "decided_by": "model", "label": "none"}
    assert response.json()["audit"]["after"] == {"status": "APPROVED", "decided_by": "analyst", "label": "legitimate"}
    sent = [b for _, b in healthy_fraud_stub.calls("/feedback") if b["transaction_id"] == created["id"]]
    assert [b["is_fraud"] for b in sent] == [False]
    assert api.get(f"/transactions/{created['id']}", user=STAFF, staff=True).json()["status"] == "APPROVED"
    # Released once only; and an approved transaction cannot be released.
    again = api.post(f"/staff/transactions/{created['id']}/release", user=STAFF, staff=True, json={})
    assert again.status_code == 409
    assert len(_audit_rows(engine, created["id"])) == 1


@pytest.mark.parametrize(("path", "body"), [
    ("label", {"is_fraud": "yes"}), ("label", {}), ("label", {"is_fraud": True, "comment": "x" * 1001}),
    ("label", {"is_fraud": True, "extra": 1}), ("release", {"comment": 5}),
])
def test_actions_refuse_bad_bodies_and_write_nothing(api, engine, path, body):
    created = _capture(api, BLOCKED_AMOUNT, _customer())

    response = api.post(f"/staff/transactions/{created['id']}/{path}", user=STAFF, staff=True, json=body)

    assert response.status_code == 422
    assert _audit_rows(engine, created["id"]) == []
    with Session(engine) as session:
        assert session.get(Transaction, uuid.UUID(created["id"])).status == "BLOCKED"


def test_actions_on_an_unknown_transaction_are_404(api):
    missing = uuid.uuid4()
    for method, path, body in [("POST", f"/staff/transactions/{missing}/release", {}),
                               ("POST", f"/staff/transactions/{missing}/label", {"is_fraud": True}),
                               ("GET", f"/staff/transactions/{missing}", None)]:
        response = api.request(method, path, user=STAFF, staff=True, json=body)
        assert str(missing) in assert_problem(response, 404, "transaction_not_found", path)["detail"]


def test_the_existing_label_route_is_audited_too(api, engine):
    created = _capture(api, ORDINARY_AMOUNT, _customer())

    api.post(f"/transactions/{created['id']}/label", user=STAFF, staff=True, json={"is_fraud": True})

    assert [a.action for a in _audit_rows(engine, created["id"])] == ["label"]


def test_the_audit_trail_cannot_be_rewritten_in_the_database(api, engine):
    created = _capture(api, BLOCKED_AMOUNT, _customer())
    api.post(f"/staff/transactions/{created['id']}/label", user=STAFF, staff=True, json={"is_fraud": True})

    for statement in ("UPDATE audit_entries SET actor = 'someone else'", "DELETE FROM audit_entries"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    assert _audit_rows(engine, created["id"])[0].actor == f"user{STAFF}"


def test_detail_shows_the_customer_history_and_the_terminal_fraud_rate(api):
    customer = _customer()
    now = datetime.now(UTC)
    terminal = f"T-{uuid.uuid4().hex[:8]}"
    earlier = [_staff_capture(api, ORDINARY_AMOUNT, customer, now - timedelta(days=d), terminal) for d in (40, 10, 2)]
    api.post(f"/staff/transactions/{earlier[1]['id']}/label", user=STAFF, staff=True, json={"is_fraud": True})
    api.post(f"/staff/transactions/{earlier[2]['id']}/label", user=STAFF, staff=True, json={"is_fraud": False})
    blocked = _staff_capture(api, BLOCKED_AMOUNT, customer, now - timedelta(hours=1), terminal)

    detail = api.get(f"/staff/transactions/{blocked['id']}", user=STAFF, staff=True).json()

    history = detail["customer_history"]
    assert [t["id"] for t in history["transactions"]] == [blocked["id"], earlier[2]["id"], earlier[1]["id"]]
    assert (history["total"], history["blocked"], history["labelled_fraud"]) == (3, 1, 1)
    assert [t["is_fraud"] for t in history["transactions"]] == [None, False, True]
    windows = {w["days"]: w for w in detail["terminal"]["windows"]}
    assert (windows[7]["labelled"], windows[7]["frauds"]) == (1, 0)
    assert (windows[30]["labelled"], windows[30]["frauds"], windows[30]["fraud_rate"]) == (2, 1, 0.5)
    assert detail["transaction"]["model_version"] == "test-model-1"
    # What moved the model's score, as the fraud service answered it.
    assert [c["feature"] for c in detail["contributions"]] == ["tx_amount", "hour_of_day"]


def _truth(engine) -> dict:
    with engine.connect() as connection:
        rows = connection.execute(select(Transaction.status, Transaction.decided_by, Transaction.is_fraud, func.count())
                                  .where(Transaction.queued_for_review.is_(True))
                                  .group_by(Transaction.status, Transaction.decided_by, Transaction.is_fraud)).all()
    status = {"BLOCKED": 0, "APPROVED": 0}
    for s, _, _, n in rows:
        status[s] += n
    return status


def test_unfiltered_counts_match_the_rows_after_captures_labels_and_releases(api, engine):
    customer = _customer()
    blocked = _capture(api, BLOCKED_AMOUNT, customer)
    _capture(api, BAND_AMOUNT, customer)
    api.post(f"/staff/transactions/{blocked['id']}/release", user=STAFF, staff=True, json={})

    counts = _queue(api, limit=1)["counts"]

    assert counts["status"] == _truth(engine)
    assert counts["total"] == sum(_truth(engine).values())


def _unfolded_moves(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(text("SELECT count(*) FROM review_queue_changes"))


def test_counts_are_exact_before_and_after_the_background_fold(api, engine):
    customer = _customer()
    blocked = _capture(api, BLOCKED_AMOUNT, customer)
    _capture(api, BAND_AMOUNT, customer)
    api.post(f"/staff/transactions/{blocked['id']}/label", user=STAFF, staff=True, json={"is_fraud": True})
    # Read at once, the moves of the captures and the label may not be folded yet: the counts add them.
    assert _queue(api, limit=1)["counts"]["status"] == _truth(engine)

    eventually(lambda: _unfolded_moves(engine) == 0)  # the maintenance loop folds them (every 0.2 s here)

    counts = _queue(api, limit=1)["counts"]
    assert counts["status"] == _truth(engine)
    assert counts["label"]["fraud"] >= 1


def test_queue_cells_add_the_moves_not_folded_yet(api, engine):
    # Deterministic, unlike the read above (the 0.2 s fold may have run before it): a move appended and not
    # committed, so no fold can take it, is counted by queue_cells on the same connection.
    with engine.connect() as connection:
        before = queue_cells(connection)
        move_queue_count(connection, queue_move("BLOCKED", "analyst", "fraud", +3))
        after = queue_cells(connection)
        connection.rollback()
    cell = ("BLOCKED", "analyst", "fraud")
    assert after == {**before, cell: before.get(cell, 0) + 3}


def test_what_if_matches_the_labelled_rows_and_marks_both_thresholds(api, engine):
    customer = _customer()
    fraud = _capture(api, BLOCKED_AMOUNT, customer)
    legit = _capture(api, BAND_AMOUNT, customer)
    api.post(f"/staff/transactions/{fraud['id']}/label", user=STAFF, staff=True, json={"is_fraud": True})
    api.post(f"/staff/transactions/{legit['id']}/label", user=STAFF, staff=True, json={"is_fraud": False})

    response = api.get("/staff/what-if", user=STAFF, staff=True, params={"step": 0.1})

    assert response.status_code == 200
    body = response.json()
    rows = {row["threshold"]: row for row in body["rows"]}
    assert rows[0.5]["current"] == ["block"] and rows[0.23]["current"] == ["review"]
    with engine.connect() as connection:
        for threshold in (0.0, 0.23, 0.3, 0.5, 0.9):
            frauds, legitimate = connection.execute(select(
                func.count().filter(Transaction.is_fraud.is_(True)),
                func.count().filter(Transaction.is_fraud.is_(False)))
                .where(Transaction.risk_score >= threshold, Transaction.is_fraud.is_not(None))).one()
            assert (rows[threshold]["frauds_caught"], rows[threshold]["legitimate_blocked"]) == (frauds, legitimate)
            fraud_amount = connection.scalar(select(func.coalesce(func.sum(Transaction.amount), 0)).where(
                Transaction.risk_score >= threshold, Transaction.is_fraud.is_(True)))
            expected = Decimal(str(fraud_amount)).quantize(Decimal("0.01"))
            assert Decimal(rows[threshold]["fraud_amount_caught"]) == expected
    assert body["frauds"] == rows[0.0]["frauds_caught"]
    assert api.get("/staff/what-if", user=STAFF, staff=True, params={"step": 0}).status_code == 422


def test_overview_counts_recent_decisions_and_label_delivery(api, engine):
    before = api.get("/staff/overview", user=STAFF, staff=True).json()
    customer = _customer()
    _capture(api, BLOCKED_AMOUNT, customer)
    _capture(api, BAND_AMOUNT, customer)
    _capture(api, ORDINARY_AMOUNT, customer)

    after = api.get("/staff/overview", user=STAFF, staff=True).json()

    for window in ("last_hour", "last_day"):
        assert after[window]["decisions"] - before[window]["decisions"] >= 3
        assert after[window]["blocked"] - before[window]["blocked"] >= 1
        assert after[window]["review_band"] - before[window]["review_band"] >= 1
    assert after["unlabelled_blocked"] - before["unlabelled_blocked"] >= 1
    with Session(engine) as session:
        queued = session.scalar(select(func.count()).where(FeedbackOutbox.delivered_at.is_(None)))
    assert after["labels"]["queued"] == queued
    assert after["review_threshold"] == 0.23 and after["block_risk_score"] == 0.5


def test_model_card_and_plots_come_from_the_fraud_service(api, healthy_fraud_stub):
    card = api.get("/staff/model", user=STAFF, staff=True)
    plot = api.get("/staff/model/plots/roc_curve", user=STAFF, staff=True)

    assert card.status_code == 200
    assert card.json()["model_version"] == "test-model-1" and card.json()["review_threshold"] == 0.23
    assert card.json()["training_period"] == {"from": "2025-05-01", "to": "2025-06-22"}
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png" and plot.content == PLOT_BYTES
    headers, _ = healthy_fraud_stub.calls("/model-card")[-1]
    assert headers["X-Internal-Token"] == "test-internal-token"
    missing_plot = api.get("/staff/model/plots/score_distribution", user=STAFF, staff=True)
    assert_problem(missing_plot, 404, "plot_not_found", "/staff/model/plots/score_distribution")
    assert api.get("/staff/model/plots/..%2Fsecrets", user=STAFF, staff=True).status_code in (404, 422)


def test_fraud_service_failures_on_the_model_pages_have_their_own_codes(api, healthy_fraud_stub):
    comparison = "/staff/model/comparison?from=2026-11-01&to=2026-11-14"
    assert_problem(api.get(comparison, user=STAFF, staff=True), 404, "no_challenger_in_period",
                   "/staff/model/comparison")
    healthy_fraud_stub.mode = "error500"
    for path in ("/staff/model", "/staff/model/plots/roc_curve", comparison):
        assert_problem(api.get(path, user=STAFF, staff=True), 502, "fraud_unexpected_answer", path.partition("?")[0])
    healthy_fraud_stub.stop()
    for path in ("/staff/model", "/staff/model/plots/roc_curve", comparison):
        response = api.get(path, user=STAFF, staff=True)
        assert_problem(response, 503, "fraud_unavailable", path.partition("?")[0])
        assert response.headers["Retry-After"] == "5"


def test_console_login_gives_staff_their_tokens_and_refuses_customers(api, jwks_stub):
    jwks_stub.accounts = {"ana": ("right-pass", 4242, True), "carl": ("carl-pass", 4243, False)}

    staff = api.post("/staff/session", user=None, json={"username": "ana", "password": "right-pass"})
    wrong = api.post("/staff/session", user=None, json={"username": "ana", "password": "nope"})
    customer = api.post("/staff/session", user=None, json={"username": "carl", "password": "carl-pass"})
    empty = api.post("/staff/session", user=None, json={"username": "", "password": "x"})

    assert staff.status_code == 200 and staff.json()["username"] == "ana"
    assert api.get("/staff/overview", user=None, token=staff.json()["access"]).status_code == 200
    assert_problem(wrong, 401, "invalid_credentials", "/staff/session")
    assert "not a staff account" in assert_problem(customer, 403, "not_staff", "/staff/session")["detail"]
    assert "access" not in customer.text
    assert jwks_stub.logged_out  # the customer's fresh session was revoked at once
    assert empty.status_code == 422

    renewed = api.post("/staff/session/refresh", user=None, json={"refresh": staff.json()["refresh"]})
    reused = api.post("/staff/session/refresh", user=None, json={"refresh": staff.json()["refresh"]})
    assert renewed.status_code == 200 and renewed.json()["refresh"] != staff.json()["refresh"]
    assert_problem(reused, 401, "session_ended", "/staff/session/refresh")

    jwks_stub.throttled = True
    try:
        throttled = api.post("/staff/session", user=None, json={"username": "ana", "password": "right-pass"})
    finally:
        jwks_stub.throttled = False
    assert_problem(throttled, 429, "rate_limited", "/staff/session")
    assert "Retry-After" in throttled.headers


def test_console_login_while_the_auth_service_is_down_is_a_503_auth_unavailable(start_app, signing_key):
    down = Api(start_app(AUTH_API_URL=f"http://127.0.0.1:{free_port()}/api/auth/").url, signing_key)
    for path, body in [("/staff/session", {"username": "ana", "password": "right-pass"}),
                       ("/staff/session/refresh", {"refresh": "refresh-ana-1"})]:
        response = down.post(path, user=None, json=body)
        assert_problem(response, 503, "auth_unavailable", path)
        assert response.headers["Retry-After"] == "5"


@pytest.mark.parametrize(("given", "repeated"), [("120", "120"), (None, "60"), ("soon", "60"), ("-5", "60"),
                                                 ("99999999999", "60"), ("0", "1"), ("86400", "3600"),
                                                 ("Wed, 21 Oct 2015 07:28:00 GMT", "1")])
def test_console_login_throttled_repeats_a_checked_retry_after(api, jwks_stub, given, repeated):
    # Before: the auth service's Retry-After was repeated to the page whatever it held.
    jwks_stub.accounts = {"ana": ("right-pass", 4242, True)}
    jwks_stub.throttled, jwks_stub.retry_after = True, given
    try:
        throttled = api.post("/staff/session", user=None, json={"username": "ana", "password": "right-pass"})
    finally:
        jwks_stub.throttled, jwks_stub.retry_after = False, None
    assert_problem(throttled, 429, "rate_limited", "/staff/session")
    assert throttled.headers["Retry-After"] == repeated
    assert f"retry in {repeated} s" in throttled.json()["detail"]


def test_console_login_the_auth_service_is_too_slow_for_is_a_504_auth_timeout(start_app, signing_key, jwks_stub):
    # Before: a slow answer read as 503 "unavailable", though the auth service was reached.
    slow = Api(start_app(AUTH_TIMEOUT_SECONDS="0.5").url, signing_key)
    jwks_stub.accounts = {"ana": ("right-pass", 4242, True)}
    jwks_stub.login_delay = 1.5
    try:
        response = slow.post("/staff/session", user=None, json={"username": "ana", "password": "right-pass"})
    finally:
        jwks_stub.login_delay = 0.0
    assert "within 0.5 s" in assert_problem(response, 504, "auth_timeout", "/staff/session")["detail"]


@pytest.mark.parametrize("body", ["<html>maintenance</html>", "a valid access token alone", "[]",
                                  '{"access": 1, "refresh": 2}'])
def test_console_session_answers_502_when_the_auth_service_answers_200_without_a_token_pair(api, jwks_stub, body):
    # Before: a body that is not JSON, or a verifiable access token without its refresh token, was a 500.
    if body == "a valid access token alone":
        body = json.dumps({"access": api.token(STAFF, staff=True)})
    jwks_stub.session_answer = body.encode()
    try:
        login = api.post("/staff/session", user=None, json={"username": "ana", "password": "right-pass"})
        renewal = api.post("/staff/session/refresh", user=None, json={"refresh": "refresh-ana-1"})
    finally:
        jwks_stub.session_answer = None
    assert_problem(login, 502, "auth_unexpected_answer", "/staff/session")
    assert_problem(renewal, 502, "auth_unexpected_answer", "/staff/session/refresh")


def test_console_logout_revokes_the_refresh_token_at_the_auth_service(api, jwks_stub):
    logged_out = api.post("/staff/session/logout", user=STAFF, staff=True, json={"refresh": "refresh-to-revoke"})

    assert logged_out.status_code == 204
    assert "refresh-to-revoke" in jwks_stub.logged_out


def test_console_logout_while_the_auth_service_is_down_still_logs_out_and_logs_the_failure(start_app, signing_key):
    # Before: 503 auth_unavailable, though the page has already forgotten the tokens: a logout must end.
    service = start_app(AUTH_API_URL=f"http://127.0.0.1:{free_port()}/api/auth/")
    down = Api(service.url, signing_key)

    logged_out = down.post("/staff/session/logout", user=STAFF, staff=True, json={"refresh": "refresh-kept"})

    assert logged_out.status_code == 204 and logged_out.content == b""
    assert "console logout: the refresh token was not revoked, the auth service is unreachable" in service.log()


def test_console_page_is_served_with_a_strict_content_security_policy(api):
    page = api.get("/console/", user=None)
    script = api.get("/console/static/console.js", user=None)

    assert page.status_code == 200 and "<form" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "<script>" not in page.text  # no inline script at all
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert api.get("/console/static/../main.py", user=None).status_code == 404
