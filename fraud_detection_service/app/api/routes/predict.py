"""/predict and /predict/batch.

``async def`` routes: a plain ``def`` route costs a threadpool hop for the route and another for
validating its response model, and on a loaded machine each hop cost about as much as the whole
prediction. The database work runs where `on_database` decides; a batch (up to MAX_BATCH_SIZE
predictions) is too long for the event loop on any database, so it always goes to the threadpool.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi_plumbing.database import on_database
from fastapi_plumbing.problems import Problem
from starlette.concurrency import run_in_threadpool

from app.api.deps import DatabaseDep, InternalCaller, ModelSetDep
from app.schemas import BatchIn, BatchOut, PredictionOut, TransactionIn
from app.services.predictions import RecordedWithoutDecision, predict, predict_many

router = APIRouter(prefix="/predict", tags=["scoring"], dependencies=[InternalCaller],
                   responses={409: {"description": "The transaction was recorded through /feedback, never scored"}})


def _conflict(exc: RecordedWithoutDecision) -> Problem:
    return Problem(409, f"Transaction {exc} was already recorded without a model decision (labelled via "
                   "/feedback), so it cannot be scored now.", code="recorded_without_decision")


@router.post("", response_model=PredictionOut)
async def predict_one(body: TransactionIn, request: Request) -> dict[str, Any]:
    # The engine and model straight from app.state rather than through DatabaseDep and RiskEngineDep:
    # FastAPI's dependency solving cost ~15% of a /predict (profiled), and these two need no solving.
    # The model set is read once: a hot reload during this request does not change the models it uses.
    db, models = request.app.state.db, request.app.state.models
    try:
        verdict = await on_database(db, predict, db, models.champion, body.to_transaction(), models.challenger)
    except RecordedWithoutDecision as exc:
        raise _conflict(exc) from None
    # A dict: FastAPI validates it against PredictionOut once (a model instance would be validated twice).
    return {"transaction_id": body.transaction_id, **verdict.as_dict()}


@router.post("/batch", response_model=BatchOut)
async def predict_batch(body: BatchIn, db: DatabaseDep, models: ModelSetDep) -> dict[str, Any]:
    # In order: a later transaction of the batch sees the earlier ones in its customer's history.
    try:
        verdicts = await run_in_threadpool(predict_many, db, models.champion,
                                           [item.to_transaction() for item in body.transactions], models.challenger)
    except RecordedWithoutDecision as exc:
        raise _conflict(exc) from None
    # Dicts, validated once against BatchOut (model instances would be validated a second time).
    return {"results": [{"transaction_id": item.transaction_id, **verdict.as_dict()}
                        for item, verdict in zip(body.transactions, verdicts, strict=True)]}
