"""What a user notices when a neighbour fails: the transaction service keeps answering (fallback),
stores every transaction, and goes back to model decisions when the fraud service returns; a restart of
every service loses nothing."""

from e2e_support import staff_view


def test_fraud_service_outage_falls_back_then_model_decisions_resume(stack, customer):
    before = customer.submit("21.30")
    assert staff_view(stack, before["id"])["decided_by"] == "model"

    stack.stop("fraud")
    try:
        during = customer.submit("19.90")
        # Default policy is `block`: no model decision means no approval.
        assert during["status"] == "BLOCKED"
        assert during["message"], "the customer is told, in one neutral sentence"
        stored = staff_view(stack, during["id"])
        assert stored["decided_by"] == "fallback"
        assert stored["reasons"] == ["fraud_service_unavailable"]
    finally:
        stack.start("fraud")

    after = customer.submit("22.10")
    assert staff_view(stack, after["id"])["decided_by"] == "model"


def test_restarting_every_service_loses_no_transaction(stack, customer):
    submitted = [customer.submit(amount) for amount in ("12.00", "30.50", "18.25")]
    decided_by = [staff_view(stack, tx["id"])["decided_by"] for tx in submitted]

    stack.stop_all()
    stack.start_all()

    customer.login()  # the auth database survived: the same credentials still work
    for tx, how in zip(submitted, decided_by, strict=True):
        response = customer.get(tx["id"])
        assert response.status_code == 200, response.text
        assert response.json() == tx
        assert staff_view(stack, tx["id"])["decided_by"] == how
