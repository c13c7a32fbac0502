"""/staff: the analyst console's data. Every route requires a staff token (a customer's gets 403)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response

from app.api.deps import FraudClientDep, SessionDep, SessionFactoryDep, StaffUser, get_staff_user
from app.clients.fraud import FraudServiceUnavailable
from app.core.config import settings
from app.models import Transaction
from app.schemas import Identifier
from app.services import analyst_actions, review
from app.services.feedback import deliver
from app.services.review_queue import BLOCK_RISK_SCORE
from app.staff_schemas import (
    ActionOut,
    AuditEntryOut,
    DateTimeWithOffset,
    DecidedBy,
    FullDate,
    ModelCard,
    Overview,
    QueuePage,
    ReleaseCreate,
    StaffLabelCreate,
    StaffTransaction,
    TransactionDetail,
    WhatIf,
)
from app.statuses import Decision
from fastapi_plumbing.problems import Problem

router = APIRouter(prefix="/staff", tags=["staff"], dependencies=[Depends(get_staff_user)],
                   responses={401: {"description": "Missing, invalid or expired access token"},
                              403: {"description": "The token is not a staff account's"}})


QueueLabel = Literal["none", "labelled", "fraud", "legitimate"]
Plot = Literal["roc_curve", "precision_recall_curve", "score_distribution"]


@router.get("/queue", response_model=QueuePage, summary="Review queue: BLOCKED and review-band transactions")
def review_queue(
    session: SessionDep,
    status: Decision | None = None,
    decided_by: DecidedBy | None = None,
    label: Annotated[QueueLabel | None, Query(description="none (unlabelled), labelled, fraud, legitimate")] = None,
    customer_id: Annotated[Identifier | None, Query()] = None,
    terminal_id: Annotated[Identifier | None, Query()] = None,
    since: Annotated[DateTimeWithOffset | None, Query(description="transaction time at or after (with offset)")] = None,
    until: Annotated[DateTimeWithOffset | None, Query(description="transaction time before (with offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
) -> QueuePage:
    """Newest first (transaction time), keyset-paginated; counts per filter value beside the page."""
    if since is not None and until is not None and since >= until:
        raise Problem(422, "since must be before until.", code="validation_error",
                      errors=[{"field": "since", "message": "must be before until"}])
    f = review.QueueFilter(status=status, decided_by=decided_by, label=label, customer_id=customer_id,
                           terminal_id=terminal_id, since=since, until=until)
    try:
        rows, next_cursor = review.queue_page(session, f, limit, cursor)
    except review.BadCursor:
        raise Problem(422, "cursor is not a next_cursor returned by this API.", code="validation_error", errors=[
            {"field": "cursor", "message": "not a next_cursor returned by this API"}]) from None
    return QueuePage(items=[StaffTransaction.model_validate(row) for row in rows], next_cursor=next_cursor,
                     limit=limit, counts=review.queue_counts(session, f))


def _transaction(session: SessionDep, transaction_id: uuid.UUID) -> Transaction:
    txn = session.get(Transaction, transaction_id)
    if txn is None:
        raise Problem(404, f"No transaction {transaction_id}.", code="transaction_not_found")
    return txn


_NOT_FOUND = {404: {"description": "`transaction_not_found`: no such transaction"}}
# Each error's `code`, named in the document (the codes: README, "Analyst console").
_FRAUD_ERRORS = {502: {"description": "`fraud_unexpected_answer`: the fraud detection service answered unexpectedly"},
                 503: {"description": "`fraud_unavailable`: the fraud detection service cannot be reached"}}


@router.get("/transactions/{transaction_id}", response_model=TransactionDetail, responses=_NOT_FOUND)
def transaction_detail(transaction_id: uuid.UUID, session: SessionDep) -> TransactionDetail:
    """The decision with all its reasons, the customer's last 30 days, the terminal's labelled fraud rate,
    the label history and the audit trail."""
    return review.transaction_detail(session, _transaction(session, transaction_id))


def _act(request: Request, sessions, fraud, work) -> ActionOut:
    try:
        done = work()
    except analyst_actions.ActionRefused as exc:
        raise Problem(exc.status, exc.message, code=exc.code) from None
    delivered = deliver(sessions, fraud, done.outbox_entry_id, request.app.state.feedback_schedule)
    return ActionOut(transaction=StaffTransaction.model_validate(done.transaction),
                     feedback="delivered" if delivered else "queued", audit=AuditEntryOut.model_validate(done.audit))


_ACTION_ERRORS = {**_NOT_FOUND, 409: {"description": "`not_decided` (label), `not_blocked` (release): not possible "
                                                     "in its current state; `concurrent_change`: changed by "
                                                     "someone else meanwhile"}}


@router.post("/transactions/{transaction_id}/label", response_model=ActionOut, responses=_ACTION_ERRORS)
def label(transaction_id: uuid.UUID, body: StaffLabelCreate, request: Request, session: SessionDep,
          sessions: SessionFactoryDep, fraud: FraudClientDep, user: StaffUser) -> ActionOut:
    """Label fraud or legitimate (or change the label; the latest wins). Sent to the fraud service's
    feedback like POST /transactions/{id}/label, queued and retried while it is down; audited."""
    txn = _transaction(session, transaction_id)
    return _act(request, sessions, fraud, lambda: analyst_actions.label_transaction(
        session, txn, body.is_fraud, user, body.comment, first_retry_after=settings.MAINTENANCE_INTERVAL_SECONDS))


@router.post("/transactions/{transaction_id}/release", response_model=ActionOut, responses=_ACTION_ERRORS)
def release(transaction_id: uuid.UUID, body: ReleaseCreate, request: Request, session: SessionDep,
            sessions: SessionFactoryDep, fraud: FraudClientDep, user: StaffUser) -> ActionOut:
    """Release a BLOCKED transaction: APPROVED, decided_by analyst, labelled legitimate; the original
    decision stays in original_status / original_decided_by; audited."""
    txn = _transaction(session, transaction_id)
    return _act(request, sessions, fraud, lambda: analyst_actions.release_transaction(
        session, txn, user, body.comment, first_retry_after=settings.MAINTENANCE_INTERVAL_SECONDS))


@router.get("/overview", response_model=Overview)
def overview(session: SessionDep) -> Overview:
    """Decisions in the last hour and day, block rate, review band, fallback share, unlabelled blocked,
    labels delivered to the fraud service vs still queued."""
    return review.overview(session, settings.REVIEW_THRESHOLD, BLOCK_RISK_SCORE)


@router.get("/what-if", response_model=WhatIf)
def what_if(session: SessionDep,
            step: Annotated[float, Query(ge=0.005, le=0.25, description="threshold spacing (risk score)")] = 0.02,
            ) -> WhatIf:
    """What each risk threshold would have done on the labelled, model-scored transactions: fraud caught
    (count, share, amount), legitimate payments blocked, alert rate, precision. The current block and
    review thresholds are always among the rows."""
    return review.what_if(session, settings.REVIEW_THRESHOLD, BLOCK_RISK_SCORE, step)


async def _fraud_read(fraud: FraudClientDep, path: str) -> tuple[int, str, bytes]:
    try:
        status, content_type, body = await fraud.aread(path)
    except FraudServiceUnavailable:
        raise Problem(503, "The fraud detection service is unavailable; retry later.", code="fraud_unavailable",
                      headers={"Retry-After": "5"}) from None
    if status >= 500 or status in (401, 403):
        raise _fraud_answered_unexpectedly(path)
    return status, content_type, body


def _fraud_answered_unexpectedly(path: str) -> Problem:
    return Problem(502, f"The fraud detection service answered {path.partition('?')[0]} unexpectedly; retry later.",
                   code="fraud_unexpected_answer")


@router.get("/model", response_model=ModelCard, responses=_FRAUD_ERRORS)
async def model_card(fraud: FraudClientDep) -> ModelCard:
    """The active model (from the fraud service): version, training period, metrics, available plots, and
    the thresholds in force."""
    status, _, body = await _fraud_read(fraud, "/model-card")
    if status != 200:
        raise _fraud_answered_unexpectedly("/model-card")
    card: dict[str, Any] = json.loads(body)
    return ModelCard(**card, block_risk_score=BLOCK_RISK_SCORE, review_threshold=settings.REVIEW_THRESHOLD)


@router.get("/model/comparison", responses={
    404: {"description": "`no_challenger_in_period`: no challenger scored in the period"}, **_FRAUD_ERRORS})
async def model_comparison(
    fraud: FraudClientDep,
    first: Annotated[FullDate, Query(alias="from", description="first day (UTC), inclusive")],
    last: Annotated[FullDate, Query(alias="to", description="last day (UTC), inclusive")],
) -> Response:
    """Champion vs the challenger scored in shadow on the period's labelled transactions (the fraud service's
    comparison, unchanged): ROC AUC, average precision, precision and recall at each one's threshold, alert
    rate, decisions that would change."""
    if first > last:
        raise Problem(422, "`from` must not be after `to`.", code="validation_error",
                      errors=[{"field": "from", "message": "must not be after `to`"}])
    status, _, body = await _fraud_read(fraud, "/model/comparison?" + urlencode({"from": first, "to": last}))
    if status == 404:
        raise Problem(404, "No challenger scored any transaction in this period.", code="no_challenger_in_period")
    if status != 200:
        raise _fraud_answered_unexpectedly("/model/comparison")
    return Response(body, media_type="application/json")


@router.get("/model/plots/{plot}", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "The plot"},
                       404: {"description": "`plot_not_found`: the model card has no such plot"},
                       **_FRAUD_ERRORS})
async def model_plot(plot: Plot, fraud: FraudClientDep) -> Response:
    status, content_type, body = await _fraud_read(fraud, f"/model-card/plots/{plot}")
    if status == 404:
        raise Problem(404, f"The active model's card has no {plot} plot.", code="plot_not_found")
    if status != 200 or content_type != "image/png":
        raise _fraud_answered_unexpectedly(f"/model-card/plots/{plot}")
    return Response(body, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})
