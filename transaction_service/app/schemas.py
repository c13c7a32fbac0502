"""Request and response bodies of the public API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints, field_validator

from app.core.config import settings
from app.currencies import ISO_4217_CODES

Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                              pattern=r"^[^\s\x00-\x1f\x7f]+$")]
# Amounts travel as strings ("12.50") so no client parses them as binary floats.
AmountOut = Annotated[Decimal, PlainSerializer(lambda value: f"{value:.2f}", return_type=str)]
Status = Literal["PENDING", "APPROVED", "BLOCKED"]


class TransactionCreate(BaseModel):
    # Unknown fields (status, risk_score, decided_by...) are ignored: the service decides those.
    model_config = ConfigDict(extra="ignore")

    amount: Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2, allow_inf_nan=False,
                                     description="Exact amount, at most 2 decimals, number or string")]
    currency: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=3, max_length=3)]
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
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TransactionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    customer_id: str
    terminal_id: str
    amount: AmountOut
    currency: str
    timestamp: datetime
    status: Status
    risk_score: float | None
    reasons: list[str]
    model_version: str | None
    decided_by: Literal["model", "fallback", "analyst"] | None
    created_at: datetime


class TransactionPage(BaseModel):
    items: list[TransactionPublic]
    page: int
    page_size: int
    total: int


class LabelCreate(BaseModel):
    is_fraud: Annotated[bool, Field(strict=True)]


class LabelPublic(BaseModel):
    transaction_id: uuid.UUID
    is_fraud: bool
    feedback: Literal["delivered", "queued"] = Field(
        description="delivered: the fraud service accepted it; queued: it will be retried until it does")
