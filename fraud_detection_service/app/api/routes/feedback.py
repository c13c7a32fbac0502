from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import DatabaseDep, InternalCaller
from app.api.dispatch import on_database
from app.schemas import FeedbackIn, FeedbackOut
from app.services.predictions import record_feedback

router = APIRouter(prefix="/feedback", tags=["feedback"], dependencies=[InternalCaller])


@router.post("", response_model=FeedbackOut)
async def feedback(body: FeedbackIn, db: DatabaseDep) -> FeedbackOut:
    # async def: a plain def route costs two threadpool hops (route, response model); see routes/predict.py.
    recorded = await on_database(db, record_feedback, db, body.transaction_id, body.is_fraud, body.to_transaction())
    return FeedbackOut(transaction_id=body.transaction_id, is_fraud=body.is_fraud, recorded_transaction=recorded)
