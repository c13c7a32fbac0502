"""Bodies of the staff API (/staff/...), the analyst console's data: the full decision, never shown to
customers (risk score, reasons, model version, decided_by, review band, labels, audit trail)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, computed_field

from app.schemas import AmountOut, Contribution, TransactionStaffView
from app.statuses import APPROVED, DecidedBy, Status

LabelName = Literal["none", "fraud", "legitimate"]

# Query parameters as the document declares them (RFC 3339 date-time with its offset, full-date). Pydantic
# alone would also take a number as seconds since 1970 (`until=0.5`) and a date-time without offset.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date_time_with_offset(value: Any) -> Any:
    if isinstance(value, str) and _DATE_TIME.fullmatch(value):
        return value
    raise ValueError("must be a date and time with a UTC offset (e.g. 2026-11-26T08:00:00Z)")


def _full_date(value: Any) -> Any:
    if isinstance(value, str) and _DATE.fullmatch(value):
        return value
    raise ValueError("must be a date as YYYY-MM-DD")


DateTimeWithOffset = Annotated[datetime, BeforeValidator(_date_time_with_offset)]
FullDate = Annotated[date, BeforeValidator(_full_date)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class StaffTransaction(TransactionStaffView):
    """The staff view with what the console adds: the review band, the label and an overridden decision."""

    decided_at: datetime | None
    is_fraud: bool | None = Field(description="The latest label: true fraud, false legitimate, null unlabelled")
    labelled_at: datetime | None
    queued_for_review: bool = Field(exclude=True)
    original_status: Status | None = Field(description="The decision an analyst overrode (release), else null")
    original_decided_by: DecidedBy | None
    # Given once, beside the transaction in its detail (TransactionDetail.contributions), not on every queue row.
    contributions: list[Contribution] | None = Field(default=None, exclude=True)

    @computed_field(description="APPROVED with a risk score at or above REVIEW_THRESHOLD when decided")
    @property
    def review_required(self) -> bool:
        return self.status == APPROVED and self.queued_for_review


class QueueCounts(BaseModel):
    """Faceted counts: for each filter, how many queued transactions each of its values would show with
    the other filters as they are; total is the count with every filter applied."""

    total: int
    status: dict[str, int]
    decided_by: dict[str, int]
    label: dict[str, int]


class QueuePage(BaseModel):
    items: list[StaffTransaction]
    next_cursor: str | None = Field(description="Pass as cursor= for the next (older) page; null on the last page")
    limit: int
    counts: QueueCounts


class CustomerHistory(BaseModel):
    window_days: int
    transactions: list[StaffTransaction] = Field(description="Newest first, at most 100")
    total: int
    blocked: int
    labelled_fraud: int


class TerminalWindow(BaseModel):
    days: int
    labelled: int
    frauds: int
    fraud_rate: float | None = Field(description="frauds / labelled; null when nothing was labelled")


class TerminalRisk(BaseModel):
    terminal_id: str
    windows: list[TerminalWindow]


class LabelEvent(BaseModel):
    is_fraud: bool
    labelled_by: str | None
    at: datetime
    feedback: Literal["delivered", "queued", "superseded"]
    attempts: int


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    actor: str
    actor_id: str
    action: Literal["label", "relabel", "release"]
    before: dict[str, Any]
    after: dict[str, Any]
    comment: str | None
    created_at: datetime


class TransactionDetail(BaseModel):
    transaction: StaffTransaction
    contributions: list[Contribution] | None = Field(
        description="the fraud service's per-feature contributions behind the model decision, largest first "
                    "(null when the fallback decided)")
    customer_history: CustomerHistory
    terminal: TerminalRisk
    labels: list[LabelEvent]
    audit: list[AuditEntryOut]


class StaffLabelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_fraud: Annotated[bool, Field(strict=True)]
    comment: Comment | None = None


class ReleaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: Comment | None = None


class ActionOut(BaseModel):
    transaction: StaffTransaction
    feedback: Literal["delivered", "queued"] = Field(
        description="delivered: the fraud service accepted the label; queued: retried until it does")
    audit: AuditEntryOut


class DecisionStats(BaseModel):
    decisions: int
    approved: int
    blocked: int
    block_rate: float | None
    review_band: int = Field(description="APPROVED with review_required")
    fallback: int
    fallback_share: float | None


class LabelDelivery(BaseModel):
    delivered: int
    queued: int


class Overview(BaseModel):
    generated_at: datetime
    last_hour: DecisionStats
    last_day: DecisionStats
    unlabelled_blocked: int
    unlabelled_review_band: int
    labels: LabelDelivery
    block_risk_score: float
    review_threshold: float


class WhatIfRow(BaseModel):
    threshold: float
    frauds_caught: int
    fraud_share: float | None = Field(description="frauds caught / labelled frauds")
    fraud_amount_caught: AmountOut
    fraud_amount_share: float | None
    legitimate_blocked: int
    legitimate_amount_blocked: AmountOut
    alert_rate: float | None = Field(description="share of labelled transactions at or above the threshold")
    precision: float | None
    current: list[Literal["block", "review"]] = Field(description="which current threshold this row is")


class WhatIf(BaseModel):
    labelled: int
    frauds: int
    legitimate: int
    block_risk_score: float
    review_threshold: float
    rows: list[WhatIfRow]


class ModelCard(BaseModel):
    model_version: str
    created_at: str | None
    model_type: str | None
    training_period: dict[str, str | None]
    evaluation_period: dict[str, str | None]
    threshold_rule: str | None
    anomaly_threshold: float | None
    metrics: dict[str, Any]
    data_summary: dict[str, Any]
    plots: list[str]
    block_risk_score: float
    review_threshold: float


class LoginCreate(BaseModel):
    username: Annotated[str, StringConstraints(min_length=1, max_length=150)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class RefreshCreate(BaseModel):
    refresh: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class StaffSession(BaseModel):
    access: str
    refresh: str
    username: str
