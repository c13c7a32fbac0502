"""/predict and /predict/batch.

``async def`` routes: a plain ``def`` route costs a threadpool hop for the route and another for
validating its response model, and on a loaded machine each hop cost about as much as the whole
prediction. The database work runs where `on_database` decides (/predict's read: where
`on_database_inline_when_idle` does), for a short batch too (scored row by row as
/predict would, app/services/batch_in_turn.py); a longer one (up to MAX_BATCH_SIZE predictions) is too long
for the event loop on any database, so it goes to the threadpool.

/predict answers before its transaction is recorded: the record is written after the answer has gone out,
committed with the other records of the moment (app/services/recorder.py).

The OpenAPI document tells a caller what each route does: its ``summary`` and ``description`` are given where
the route is added, so these docstrings and comments, written for whoever changes the code, never reach it.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from fastapi_plumbing.database import in_threadpool, on_database
from fastapi_plumbing.loop_reads import on_database_inline_when_idle
from fastapi_plumbing.problems import Problem
from pydantic import BaseModel, ValidationError

from app.api.deps import INTERNAL, check_internal_token, internal_router
from app.core.config import settings
from app.schemas import BatchIn, BatchOut, PredictionOut, TransactionIn
from app.services.predictions import Record, RecordedWithoutDecision, judge, predict_many, scored_in_turn
from app.services.recorder import AnswerThenRecord
from app.services.risk_engine import Verdict

router = internal_router(prefix="/predict", tags=["scoring"], responses={
    409: {"description": "The transaction was recorded through /feedback, never scored"}})


def _lean_route(body_model: type[BaseModel], answer: Callable[[Any, Request], Awaitable[Response]]) -> type[APIRoute]:
    """A route class answering a POST without FastAPI's per-request machinery on the common path: dependency
    solving, parameter gathering and the body's content-type parsing were ~30% of the service's CPU per
    /predict and ~5% at the capture benchmark's maximum, where most captures are scored in batches
    (docs/performance.md). The route is declared as usual, so its OpenAPI document is FastAPI's; the handler
    checks the token with the same function, reads a JSON body as FastAPI does (``json.loads``, then
    ``body_model`` in Python mode) and calls ``answer``. Any other request - another content type, an
    empty, malformed or invalid body - goes through FastAPI's own handler, so every error answer is exactly
    FastAPI's (and the lean path never has to imitate one)."""

    class LeanRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
            standard = super().get_route_handler()

            async def handler(request: Request) -> Response:
                check_internal_token(request.headers.get("x-internal-token"))  # the dependency's own 401 problems
                if request.headers.get("content-type") == "application/json":
                    try:
                        body = body_model.model_validate(json.loads(await request.body()))
                    except (ValueError, ValidationError):  # JSONDecodeError is a ValueError
                        body = None
                    if body is not None:
                        return await answer(body, request)
                return await standard(request)

            return handler

    return LeanRoute


async def _lean_prediction(body: TransactionIn, request: Request) -> Response:
    """/predict's answer on the lean path: ``Verdict.json``, ``PredictionOut``'s JSON written around the lists
    already encoded for the stored row (the tests validate it against the model), sent before its record is
    written."""
    verdict, scored = await _verdict(body, request)
    if scored is None:
        return Response(verdict.json(body.transaction_id).encode(), media_type="application/json")
    recorder = request.app.state.recorder
    try:
        return AnswerThenRecord(verdict.json(body.transaction_id).encode(), recorder, scored)
    except BaseException:  # a held record is always written: the customer's next reads wait for it
        recorder.write_soon(scored)
        raise


def _conflict(exc: RecordedWithoutDecision) -> Problem:
    return Problem(409, f"Transaction {exc} was already recorded without a model decision (labelled via "
                   "/feedback), so it cannot be scored now.", code="recorded_without_decision")


async def _verdict(body: TransactionIn, request: Request) -> tuple[Verdict, Record | None]:
    """The answer, and the record to write once it is sent (held as pending: every one returned must be
    written); None for an id already recorded or pending in this process."""
    # The engine and model straight from app.state rather than through DatabaseDep and RiskEngineDep:
    # FastAPI's dependency solving cost ~15% of a /predict (profiled), and these two need no solving.
    # The model set is read once: a hot reload during this request does not change the models it uses.
    state = request.app.state
    db, models, recorder = state.db, state.models, state.recorder
    tx = body.to_transaction()
    pending = recorder.answer_of(tx.transaction_id)  # a retry while its first record is being written
    if pending is not None:
        return pending, None
    await recorder.written_for(tx.customer_id)  # the customer's earlier captures, in its history
    try:
        # One read, safe to run again: on the event loop when the worker serves nothing else (PostgreSQL).
        verdict, scored = await on_database_inline_when_idle(db, judge, db, models.champion, tx, models.challenger)
    except RecordedWithoutDecision as exc:
        raise _conflict(exc) from None
    if scored is None:
        return verdict, None
    first = recorder.hold(scored)
    return (verdict, scored) if first is scored else (first.verdict, None)


async def predict_one(body: TransactionIn, request: Request) -> dict[str, Any]:
    """FastAPI's own path (``_lean_prediction`` answers the common requests): a dict, validated against
    PredictionOut once (a model instance would be validated twice). Rare (another spelling of the media
    type), so its record is written before it answers."""
    verdict, scored = await _verdict(body, request)
    if scored is not None:
        await asyncio.shield(request.app.state.recorder.write_soon(scored))
    return {"transaction_id": body.transaction_id, **verdict.as_dict()}


# operation_id as FastAPI derived it when it was taken from the function's name: a client generated from the
# OpenAPI document keeps its method names (tests/test_openapi.py lists them).
router.add_api_route(
    "", predict_one, methods=["POST"], response_model=PredictionOut, operation_id="predict_one_predict_post",
    summary="Score one transaction",
    description=(
        "Scores the transaction with the serving model against its customer's and terminal's history and "
        "answers the `decision` (`BLOCKED` when `anomaly_score` is at or above `threshold`, else `APPROVED`), "
        "the `risk_score` (0.5 at the threshold), the `reasons`, the `model_version` that decided and every "
        "model feature's contribution, largest first. The transaction is recorded under its `transaction_id` "
        "and counts in the history of the ones after it.\n\n"
        "A `transaction_id` already answered is not scored again: it gets its first answer again, so a retry "
        "is safe and the transaction is counted once. A `transaction_id` recorded through `POST /feedback` "
        "without ever being scored has no model answer: 409 `recorded_without_decision`.\n\n" + INTERNAL),
    route_class_override=_lean_route(TransactionIn, _lean_prediction))


async def _batch_answer(body: BatchIn, request: Request) -> Response:
    """/predict/batch's answer on both paths: the lean route calls it with the body it validated, FastAPI's own
    handler (any other request) with FastAPI's, so no wrapper is needed to give FastAPI a route function."""
    state = request.app.state
    db, models = state.db, state.models  # from app.state, as /predict's: no dependency to solve
    # In order: a later transaction of the batch sees the earlier ones in its customer's history, and the
    # ones /predict answered in this process before it.
    await state.recorder.written()
    txs = [item.to_transaction() for item in body.transactions]
    # A batch scored row by row is a few /predicts' work: where /predict's runs; a longer one in the threadpool.
    run = functools.partial(on_database, db) if scored_in_turn(len(txs)) else in_threadpool
    try:
        verdicts = await run(predict_many, db, models.champion, txs, models.challenger)
    except RecordedWithoutDecision as exc:
        raise _conflict(exc) from None
    return Response(_batch_json(body.transactions, verdicts), media_type="application/json")


router.add_api_route(
    "/batch", _batch_answer, methods=["POST"], response_model=BatchOut,
    operation_id="predict_batch_predict_batch_post",
    summary="Score a batch of transactions, in order",
    description=(
        f"Scores 1 to {settings.MAX_BATCH_SIZE} transactions in the order given and answers `results` in that "
        "order, each what `POST /predict` answers for it: a transaction sees the batch's earlier ones in its "
        "customer's and terminal's history, as if they had been sent one after another. A `transaction_id` "
        "already answered, before or earlier in the same batch, gets its first answer again. When a "
        "transaction of the batch was recorded through `POST /feedback` without ever being scored, the whole "
        "batch is answered 409 `recorded_without_decision`, naming it. An empty batch or a longer one is "
        "422.\n\n" + INTERNAL),
    route_class_override=_lean_route(BatchIn, _batch_answer))


def _batch_json(items: Sequence[TransactionIn], verdicts: list[Verdict]) -> bytes:
    """BatchOut's JSON, each row ``Verdict.json``: FastAPI's validation and serialisation of a batch's
    answers (16 contributions a row) cost as much as scoring it. The tests validate it against BatchOut."""
    rows = ",".join(verdict.json(item.transaction_id) for item, verdict in zip(items, verdicts, strict=True))
    return f'{{"results":[{rows}]}}'.encode()
