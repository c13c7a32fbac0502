from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi_plumbing.database import on_database
from fastapi_plumbing.problems import Problem

from app.api.deps import DatabaseDep, InternalCaller
from app.schemas import FeedbackIn, FeedbackOut
from app.services.predictions import UnknownTransaction, record_feedback

router = APIRouter(prefix="/feedback", tags=["feedback"], dependencies=[InternalCaller],
                   responses={404: {"description": "Unknown transaction sent without its fields"}})


@router.post("", response_model=FeedbackOut)
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
