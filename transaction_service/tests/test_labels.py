"""Labels reach the fraud service, now or later: an outbox retried until the fraud service accepts them."""

from __future__ import annotations

import uuid

from app.models import FeedbackOutbox, Transaction
from sqlalchemy import select
from sqlalchemy.orm import Session

from fastapi_plumbing.testing import eventually


def _label(api, transaction_id: str, is_fraud: bool):
    return api.post(f"/transactions/{transaction_id}/label", user=900, staff=True, json={"is_fraud": is_fraud})


def test_label_is_stored_and_forwarded_with_the_transaction_fields(api, engine, healthy_fraud_stub):
    created = api.create("77.70", user=81).json()

    response = _label(api, created["id"], True)

    assert response.status_code == 200
    assert response.json() == {"transaction_id": created["id"], "is_fraud": True, "feedback": "delivered"}
    headers, sent = healthy_fraud_stub.calls("/feedback")[-1]
    assert headers["X-Internal-Token"] == "test-internal-token"
    assert sent == {"transaction_id": created["id"], "is_fraud": True, "customer_id": "81",
                    "terminal_id": "T-100", "amount": 77.7, "timestamp": sent["timestamp"], "currency": "EUR"}
    with Session(engine) as session:
        assert session.get(Transaction, uuid.UUID(created["id"])).is_fraud is True


def test_label_while_the_fraud_service_is_down_is_delivered_once_it_is_back(api, engine, healthy_fraud_stub):
    # Decided by the fallback, so the fraud service never saw this transaction: the fields let it record it.
    healthy_fraud_stub.stop()
    created = api.create(user=82).json()
    assert api.staff_view(created["id"])["decided_by"] == "fallback"

    response = _label(api, created["id"], True)
    assert response.status_code == 200 and response.json()["feedback"] == "queued"

    def outbox_entry():
        with Session(engine) as session:
            return session.scalars(
                select(FeedbackOutbox).where(FeedbackOutbox.transaction_id == uuid.UUID(created["id"]))).one()

    eventually(lambda: outbox_entry().attempts >= 2, timeout=10)  # the background loop keeps trying
    assert outbox_entry().delivered_at is None
    healthy_fraud_stub.start()

    eventually(lambda: outbox_entry().delivered_at is not None, timeout=10)
    sent = [body for _, body in healthy_fraud_stub.calls("/feedback") if body["transaction_id"] == created["id"]]
    assert sent[0]["is_fraud"] is True and sent[0]["customer_id"] == "82"


def test_relabel_supersedes_an_undelivered_label(api, engine, healthy_fraud_stub):
    created = api.create(user=83).json()
    healthy_fraud_stub.stop()
    assert _label(api, created["id"], True).json()["feedback"] == "queued"
    assert _label(api, created["id"], False).json()["feedback"] == "queued"  # the analyst corrects it

    healthy_fraud_stub.start()

    def entries():
        with Session(engine) as session:
            return session.scalars(select(FeedbackOutbox).where(
                FeedbackOutbox.transaction_id == uuid.UUID(created["id"])).order_by(FeedbackOutbox.id)).all()

    eventually(lambda: entries()[1].delivered_at is not None, timeout=10)
    assert entries()[0].last_error == "superseded by a newer label"
    delivered = [body["is_fraud"] for _, body in healthy_fraud_stub.calls("/feedback")
                 if body["transaction_id"] == created["id"]]
    assert delivered == [False]  # the stale label never reaches the fraud service
    with Session(engine) as session:
        assert session.get(Transaction, uuid.UUID(created["id"])).is_fraud is False


def test_label_for_an_unknown_transaction_is_404(api):
    assert _label(api, str(uuid.uuid4()), True).status_code == 404
