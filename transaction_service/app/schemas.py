"""Request and response bodies of the public API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    computed_field,
    field_validator,
)

from app.core.config import settings
from app.currencies import ISO_4217_CODES
from app.statuses import BLOCKED, DecidedBy, Status
from fastapi_plumbing.wire_text import POSITIVE_MONEY_TEXT, StrictAmountText, identifier

# The fraud service refuses timestamps outside these bounds (its schemas.py); checked here before anything
# is stored, so a staff capture it would refuse gets a 422 instead of a fallback decision.
EARLIEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)
Identifier = identifier(64)  # printable ASCII without spaces (issue 13 #9)
Amount = Annotated[
    Decimal,
    StrictAmountText,
    Field(gt=0, max_digits=14, decimal_places=2, allow_inf_nan=False),
    WithJsonSchema({"anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": float(settings.MAX_AMOUNT)},
                              POSITIVE_MONEY_TEXT],
                    "description": "Exact amount, at most 2 decimals, number or string"}),
]
# Amounts travel as strings ("12.50") so no client parses them as binary floats.
AmountOut = Annotated[Decimal, PlainSerializer(lambda value: f"{value:.2f}", return_type=str)]


class TransactionCreate(BaseModel):
    # Unknown fields (status, risk_score, decided_by...) are ignored: the service decides those.
    model_config = ConfigDict(extra="ignore")

    amount: Amount
    currency: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=3, max_length=3),
                        Field(json_schema_extra={"enum": sorted(ISO_4217_CODES)})]
    terminal_id: Identifier
    customer_id: Identifier | None = Field(default=None, description="Staff only: submit for this customer")
    timestamp: datetime | None = Field(default=None, description="Staff only: when it happened (UTC)")

    @field_validator("amount")
    @classmethod
    def _amount_within_limit(cls, value: Decimal) -> Decimal:
        if value > settings.MAX_AMOUNT:
            raise ValueError(f"must be at most {settings.MAX_AMOUNT}")
        return value

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in ISO_4217_CODES:
            raise ValueError("must be an ISO 4217 currency code such as EUR or USD")
        return value

    @field_validator("timestamp")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if not EARLIEST_TIMESTAMP <= value <= datetime.now(UTC) + FUTURE_TOLERANCE:
            raise ValueError(f"must be between {EARLIEST_TIMESTAMP:%Y-%m-%d} and one day from now")
        return value


# The one sentence a customer reads about a blocked payment: nothing about why, which would tell a
# stolen account how to pass.
BLOCKED_MESSAGE = "This payment was declined. Please contact your bank or card issuer if you need help."


class TransactionView(BaseModel):
    """A transaction as its customer sees it: the decision, never the model's score, reasons or version."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    customer_id: str
    terminal_id: str
    amount: AmountOut
    currency: str
    timestamp: datetime
    status: Status
    created_at: datetime

    @computed_field(description="When BLOCKED, one neutral sentence for the customer; null otherwise")
    @property
    def message(self) -> str | None:
        return BLOCKED_MESSAGE if self.status == BLOCKED else None


class Contribution(BaseModel):
    """One model feature's share of the fraud service's score, as it answered at decision time."""

    feature: str
    value: float = Field(description="the feature's value for this transaction")
    contribution: float = Field(description="share of the model's score (the anomaly score, or a hybrid's fraud "
                                            "probability); positive pushed towards BLOCKED")


class TransactionStaffView(TransactionView):
    """What staff see: the customer's view plus how the decision was taken."""

    risk_score: float | None
    reasons: list[str]
    model_version: str | None
    decided_by: DecidedBy | None
    contributions: list[Contribution] | None = Field(
        description="every model feature behind risk_score and reasons, largest first; null when no model decided")


def transaction_view(txn: object, *, staff: bool) -> TransactionView:
    return (TransactionStaffView if staff else TransactionView).model_validate(txn)


class TransactionPage(BaseModel):
    items: list[TransactionView]
    page: int
    page_size: int
    total: int


class TransactionStaffPage(TransactionPage):
    items: list[TransactionStaffView]


class LabelCreate(BaseModel):
    is_fraud: Annotated[bool, Field(strict=True)]


class LabelPublic(BaseModel):
    transaction_id: uuid.UUID
    is_fraud: bool
    feedback: Literal["delivered", "queued"] = Field(
        description="delivered: the fraud service accepted it; queued: it will be retried until it does")
