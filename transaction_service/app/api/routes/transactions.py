"""/transactions: capture, read, list and label."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy import func, select

from app.api.deps import (
    CurrentUser,
    FraudClientDep,
    SessionDep,
    SessionFactoryDep,
    StaffUser,
    TransactionCaptureDep,
    bearer,
    get_current_user,
)
from app.auth.tokens import Principal
from app.core.config import settings
from app.models import Transaction
from app.schemas import (
    LabelCreate,
    LabelPublic,
    Status,
    TransactionCreate,
    TransactionPage,
    TransactionStaffPage,
    TransactionStaffView,
    TransactionView,
    transaction_view,
)
from app.services import analyst_actions
from app.services.capture import StaffOnlyField
from app.services.feedback import deliver
from app.services.idempotency import IdempotencyConflict, IdempotencyMismatch
from app.services.rate_limit import RateLimited, RateLimiter
from fastapi_plumbing.problems import Problem
from fastapi_plumbing.wire_text import IDENTIFIER_PATTERN

router = APIRouter(prefix="/transactions", tags=["transactions"])

IDEMPOTENCY_KEY_MAX_LENGTH = 255
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
           description="Makes the POST safe to retry for 24 h (IDEMPOTENCY_TTL_HOURS)"),
]


# Staff get the decision's details, customers the decision only (schemas.TransactionView).
TransactionOut = TransactionStaffView | TransactionView
_RATE_LIMITED = {429: {"description": "Too many requests by this user; retry after Retry-After seconds"}}


def _within_limit(limiter: RateLimiter, user: Principal) -> None:
    try:
        limiter.check(user.user_id)
    except RateLimited as exc:
        raise Problem(429, f"Too many requests from this user; retry in {exc.retry_after} s.", code="rate_limited",
                      headers={"Retry-After": str(exc.retry_after)}) from None


def _visible_transaction(session: SessionDep, transaction_id: uuid.UUID, user: Principal) -> Transaction:
    txn = session.get(Transaction, transaction_id)
    # Someone else's transaction is answered exactly like a missing one: its existence is not revealed.
    if txn is None or (txn.customer_id != user.user_id and not user.is_staff):
        raise Problem(404, "No such transaction is visible to you.", code="transaction_not_found")
    return txn


async def create_transaction(body: TransactionCreate, user: CurrentUser, capture: TransactionCaptureDep,
                             idempotency_key: IdempotencyKeyHeader = None) -> Response:
    _within_limit(capture.rate_limit, user)
    try:
        result = await capture(user, body, idempotency_key)
    except StaffOnlyField as exc:
        raise Problem(403, f"Only staff may set {exc.field}.", code="staff_only_field") from None
    except IdempotencyMismatch:
        raise Problem(422, "This Idempotency-Key was already used with a different request body.",
                      code="idempotency_key_reused",
                      errors=[{"field": "Idempotency-Key", "message": "already used with a different body"}]) from None
    except IdempotencyConflict:
        raise Problem(409, "A request with this Idempotency-Key is still being processed; retry later.",
                      code="idempotency_in_progress", headers={"Retry-After": "1"}) from None
    headers = {"Location": f"/transactions/{result.transaction.id}"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    # Serialised here, not by FastAPI: response_model (the documented shape) would validate the view again
    # and then serialise it, twice the work for a model built from our own row a line before.
    view = transaction_view(result.transaction, staff=user.is_staff)
    return Response(view.model_dump_json(), status_code=201, media_type="application/json", headers=headers)


class _LeanCaptureRoute(APIRoute):
    """POST /transactions without FastAPI's per-request machinery on the common path, as the fraud
    service's POST /predict (its app/api/routes/predict.py): dependency solving and parameter gathering were
    ~15 % of the service's CPU per capture. The route is declared as usual, so its OpenAPI document is
    FastAPI's. This handler does what FastAPI does, in FastAPI's order - the JSON body decoded
    (``json.loads``), the token checked by the same dependencies (their 401 and 503 problems), the
    Idempotency-Key header and the body validated as declared (``TransactionCreate`` in Python mode) - and
    calls the same endpoint. Any request it would have to refuse - another content type, an empty or
    malformed body, an invalid body or header - goes through FastAPI's own handler, so every such answer is
    exactly FastAPI's (tests/test_lean_capture.py)."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        standard = super().get_route_handler()

        async def handler(request: Request) -> Response:
            headers = request.headers
            if headers.get("content-type") != "application/json":
                return await standard(request)
            try:
                raw = json.loads(await request.body())
            except ValueError:  # JSONDecodeError, and an empty body
                return await standard(request)
            user = await get_current_user(await bearer(request), request)
            keys = headers.getlist("idempotency-key")
            if len(keys) > 1 or (keys and not 1 <= len(keys[0]) <= IDEMPOTENCY_KEY_MAX_LENGTH):
                return await standard(request)
            try:
                body = TransactionCreate.model_validate(raw)
            except ValidationError:
                return await standard(request)
            return await create_transaction(body, user, request.app.state.transaction_capture,
                                            keys[0] if keys else None)

        return handler


router.add_api_route("", create_transaction, methods=["POST"], status_code=201, response_model=TransactionOut,
                     responses={409: {"description": "The same Idempotency-Key is still being processed"},
                                422: {"description": "Invalid body, or the Idempotency-Key was used with another "
                                                     "body"},
                                **_RATE_LIMITED},
                     route_class_override=_LeanCaptureRoute)


@router.get("", response_model=TransactionStaffPage | TransactionPage, responses=_RATE_LIMITED)
def list_transactions(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    status: Status | None = None,
    customer_id: Annotated[str | None, Query(max_length=64, pattern=IDENTIFIER_PATTERN,
                                             description="Staff only")] = None,
) -> TransactionPage:
    _within_limit(request.app.state.listing_rate_limit, user)
    query = select(Transaction)
    if not user.is_staff:
        if customer_id is not None and customer_id != user.user_id:
            raise Problem(403, "Only staff may list another customer's transactions.", code="staff_only")
        query = query.where(Transaction.customer_id == user.user_id)
    elif customer_id is not None:
        query = query.where(Transaction.customer_id == customer_id)
    if status is not None:
        query = query.where(Transaction.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(
        query.order_by(Transaction.timestamp.desc(), Transaction.created_at.desc(), Transaction.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    page_model = TransactionStaffPage if user.is_staff else TransactionPage
    return page_model(items=[transaction_view(row, staff=user.is_staff) for row in rows],
                      page=page, page_size=page_size, total=total)


@router.get("/{transaction_id}", response_model=TransactionOut)
def read_transaction(transaction_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> TransactionView:
    return transaction_view(_visible_transaction(session, transaction_id, user), staff=user.is_staff)


@router.post("/{transaction_id}/label", response_model=LabelPublic,
             responses={409: {"description": "Not decided yet, or changed by someone else meanwhile"}})
def label_transaction(transaction_id: uuid.UUID, body: LabelCreate, request: Request, session: SessionDep,
                      sessions: SessionFactoryDep, fraud: FraudClientDep, user: StaffUser) -> LabelPublic:
    txn = _visible_transaction(session, transaction_id, user)
    try:
        done = analyst_actions.label_transaction(session, txn, body.is_fraud, user,
                                                 first_retry_after=settings.MAINTENANCE_INTERVAL_SECONDS)
    except analyst_actions.ActionRefused as exc:
        raise Problem(exc.status, exc.message, code=exc.code) from None
    delivered = deliver(sessions, fraud, done.outbox_entry_id, request.app.state.feedback_schedule)
    return LabelPublic(transaction_id=txn.id, is_fraud=body.is_fraud, feedback="delivered" if delivered else "queued")
