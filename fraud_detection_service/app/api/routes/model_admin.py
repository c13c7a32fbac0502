"""Internal model operations (X-Internal-Token): hot reload, promotion, champion-challenger comparison.

Reload and promotion load and verify in the threadpool while the event loop keeps serving; the swap
itself is one assignment (app/services/model_slots.py). A refused model answers 409 with the reason and the
serving models stay.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi_plumbing.problems import Problem
from starlette.concurrency import run_in_threadpool

from app.api.deps import INTERNAL, DatabaseDep, ModelSlotsDep, internal_router
from app.services.comparison import busiest_challenger, compare
from app.services.model_slots import ModelRefused

router = internal_router(prefix="/model", tags=["model operations"])


@router.post(
    "/reload", summary="Load the models again and serve them",
    description=("Loads the champion (`MODEL_DIR`) and the challenger (`CHALLENGER_MODEL_DIR`) again, verifies "
                 "them and swaps them in while serving; every worker follows. Answers the previous and the new "
                 "models. 409 `model_refused` with the reason when one fails verification: the serving models "
                 "stay.\n\n" + INTERNAL),
    responses={409: {"description": "`model_refused`: the serving models stay"}})
async def reload_models(slots: ModelSlotsDep) -> dict[str, Any]:
    try:
        previous, new = await run_in_threadpool(slots.reload)
    except ModelRefused as exc:
        raise Problem(409, f"Reload refused, the serving models stay: {exc}.", code="model_refused") from None
    return {"previous": previous.describe(), **new.describe()}


@router.post(
    "/promote", summary="Make the challenger the champion",
    description=("The loaded challenger becomes the model that decides: its folder is installed into "
                 "`MODEL_DIR` and the challenger slot is emptied; every worker follows. Answers the previous and "
                 "the new models. 409 `promotion_refused` without a challenger or when it fails verification.\n\n"
                 + INTERNAL),
    responses={409: {"description": "`promotion_refused`: the champion stays"}})
async def promote_challenger(slots: ModelSlotsDep) -> dict[str, Any]:
    try:
        previous, new = await run_in_threadpool(slots.promote)
    except ModelRefused as exc:
        raise Problem(409, f"Promotion refused: {exc}.", code="promotion_refused") from None
    return {"previous": previous.describe(), **new.describe()}


@router.get(
    "/comparison", summary="Champion against challenger on labelled transactions",
    description=("Compares the champion and a challenger on the labelled transactions of the period (`from` to "
                 "`to`, UTC days, inclusive) that both scored. 404 `challenger_not_found` when no challenger "
                 "scored in the period; 422 when `from` is after `to`.\n\n" + INTERNAL),
    responses={404: {"description": "`challenger_not_found`"}})
async def comparison(
    request: Request,
    db: DatabaseDep,
    slots: ModelSlotsDep,
    first: Annotated[date, Query(alias="from", description="first day (UTC), inclusive")],
    last: Annotated[date, Query(alias="to", description="last day (UTC), inclusive")],
    challenger_version: Annotated[str | None, Query(max_length=64, description="default: the loaded "
                                                    "challenger, else the one that scored most in the period")] = None,
) -> dict[str, Any]:
    if first > last:
        raise Problem(422, "The period is invalid: from is after to.", code="validation_error",
                      errors=[{"field": "from", "message": "must not be after `to`"}])
    await request.app.state.recorder.written()  # the records /predict has answered and not yet written
    if challenger_version is None:
        loaded = slots.current.challenger
        challenger_version = loaded.model_version if loaded else await run_in_threadpool(
            busiest_challenger, db, first, last)
    if challenger_version is None:
        raise Problem(404, "No challenger scored any transaction in this period.", code="challenger_not_found")
    return await run_in_threadpool(compare, db, first, last, challenger_version)
