from __future__ import annotations

from fastapi import Request
from fastapi_plumbing.database import on_database
from fastapi_plumbing.problems import Problem

from app.api.deps import INTERNAL, DatabaseDep, internal_router
from app.schemas import FeedbackIn, FeedbackOut
from app.services.predictions import UnknownTransaction, record_feedback

router = internal_router(prefix="/feedback", tags=["feedback"],
                         responses={404: {"description": "Unknown transaction sent without its fields"}})


@router.post(
    "", response_model=FeedbackOut, summary="Label a transaction as fraud or legitimate",
    description=(
        "Records the confirmed label of a transaction (an analyst's review, a chargeback): `is_fraud` true or "
        "false. A later label of the same transaction replaces the earlier one. Labels are what the model is "
        "evaluated and retrained on, and what `GET /model/comparison` compares the models by.\n\n"
        "A transaction this service never scored (its caller decided without it) is recorded with its label "
        "when `customer_id`, `terminal_id`, `amount` and `timestamp` are sent with it (all four or none; "
        "`recorded_transaction` is then true). Without them an unknown `transaction_id` is 404 "
        "`transaction_not_found`, and nothing is written.\n\n" + INTERNAL))
async def feedback(body: FeedbackIn, db: DatabaseDep, request: Request) -> FeedbackOut:
    # async def: a plain def route costs two threadpool hops (route, response model); see routes/predict.py.
    # A label sent right after its /predict finds the transaction: its record may still be pending
    # (app/services/recorder.py).
    await request.app.state.recorder.written()
    try:
        recorded = await on_database(db, record_feedback, db, body.transaction_id, body.is_fraud,
                                     body.to_transaction())
    except UnknownTransaction:
        raise Problem(404, f"Transaction {body.transaction_id} is unknown; send customer_id, terminal_id, amount "
                      "and timestamp to record it with its label.", code="transaction_not_found") from None
    return FeedbackOut(transaction_id=body.transaction_id, is_fraud=body.is_fraud, recorded_transaction=recorded)
