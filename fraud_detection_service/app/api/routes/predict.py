"""/predict and /predict/batch.

``async def`` routes: a plain ``def`` route costs a threadpool hop for the route and another for
validating its response model, and on a loaded machine each hop cost about as much as the whole
prediction. The database work runs where app/api/dispatch.py decides; a batch (up to MAX_BATCH_SIZE
predictions) is too long for the event loop on any database, so it always goes to the threadpool.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from app.api.deps import DatabaseDep, InternalCaller, RiskEngineDep
from app.api.dispatch import on_database
from app.schemas import BatchIn, BatchOut, PredictionOut, TransactionIn
from app.services.predictions import predict, predict_many

router = APIRouter(prefix="/predict", tags=["scoring"], dependencies=[InternalCaller])


@router.post("", response_model=PredictionOut)
async def predict_one(body: TransactionIn, request: Request) -> dict[str, Any]:
    # The engine and model straight from app.state rather than through DatabaseDep and RiskEngineDep:
    # FastAPI's dependency solving cost ~15% of a /predict (profiled), and these two need no solving.
    db, risk = request.app.state.db, request.app.state.risk_engine
    verdict = await on_database(db, predict, db, risk, body.to_transaction())
    # A dict: FastAPI validates it against PredictionOut once (a model instance would be validated twice).
    return {"transaction_id": body.transaction_id, **verdict.as_dict()}


@router.post("/batch", response_model=BatchOut)
async def predict_batch(body: BatchIn, db: DatabaseDep, risk: RiskEngineDep) -> BatchOut:
    # In order: a later transaction of the batch sees the earlier ones in its customer's history.
    verdicts = await run_in_threadpool(predict_many, db, risk, [item.to_transaction() for item in body.transactions])
    return BatchOut(results=[
        PredictionOut(transaction_id=item.transaction_id, **verdict.as_dict())
        for item, verdict in zip(body.transactions, verdicts, strict=True)
    ])
