"""What a user notices when a neighbour fails: the transaction service keeps answering (fallback),
stores every transaction, and goes back to model decisions when the fraud service returns; a restart of
every service loses nothing."""


def test_fraud_service_outage_falls_back_then_model_decisions_resume(stack, customer):
    before = customer.submit("21.30")
    assert before["decided_by"] == "model"

    stack.stop("fraud")
    try:
        during = customer.submit("19.90")
        # Default policy is `block`: no model decision means no approval.
        assert during["decided_by"] == "fallback"
        assert during["status"] == "BLOCKED"
        assert during["reasons"], "a fallback decision says why"
        stored = customer.get(during["id"])
        assert stored.status_code == 200 and stored.json()["decided_by"] == "fallback"
    finally:
        stack.start("fraud")

    after = customer.submit("22.10")
    assert after["decided_by"] == "model"


def test_restarting_every_service_loses_no_transaction(stack, customer):
    submitted = [customer.submit(amount) for amount in ("12.00", "30.50", "18.25")]

    stack.stop_all()
    stack.start_all()

    customer.login()  # the auth database survived: the same credentials still work
    for tx in submitted:
        response = customer.get(tx["id"])
        assert response.status_code == 200, response.text
        stored = response.json()
        assert (stored["amount"], stored["status"], stored["decided_by"]) == (
            tx["amount"], tx["status"], tx["decided_by"])
