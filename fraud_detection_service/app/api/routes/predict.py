from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import DatabaseDep, InternalCaller, RiskEngineDep
from app.schemas import BatchIn, BatchOut, PredictionOut, TransactionIn
from app.services.predictions import predict

router = APIRouter(prefix="/predict", tags=["scoring"], dependencies=[InternalCaller])


@router.post("", response_model=PredictionOut)
def predict_one(body: TransactionIn, db: DatabaseDep, risk: RiskEngineDep) -> PredictionOut:
    verdict = predict(db, risk, body.to_transaction())
    return PredictionOut(transaction_id=body.transaction_id, **verdict.as_dict())


@router.post("/batch", response_model=BatchOut)
def predict_batch(body: BatchIn, db: DatabaseDep, risk: RiskEngineDep) -> BatchOut:
    # In order: a later transaction of the batch sees the earlier ones in its customer's history.
    results = [
        PredictionOut(transaction_id=item.transaction_id, **predict(db, risk, item.to_transaction()).as_dict())
        for item in body.transactions
    ]
    return BatchOut(results=results)
