"""Request and response bodies of the fraud service (wire format: CONVENTIONS.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi_plumbing.wire_text import POSITIVE_AMOUNT_TEXT, StrictAmountText, identifier
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    model_validator,
)

from app.core.config import settings
from ml_model.profile_store import Transaction
from ml_model.scoring import APPROVED, BLOCKED

EARLIEST_TIMESTAMP = datetime(2000, 1, 1)
# Clocks drift; a transaction stamped more than a day ahead is a client bug, not a payment.
FUTURE_TOLERANCE = timedelta(days=1)
MAX_AMOUNT = 1_000_000_000.0


def _to_naive_utc(value: datetime) -> datetime:
    """Wire timestamps without an offset are UTC; stored ones are naive UTC. Refuses absurd dates."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    now = datetime.now(UTC).replace(tzinfo=None)
    if not EARLIEST_TIMESTAMP <= value <= now + FUTURE_TOLERANCE:
        raise ValueError(f"timestamp must be between {EARLIEST_TIMESTAMP:%Y-%m-%d} and one day from now")
    return value


Identifier = identifier(128)  # printable ASCII without spaces (issue 13 #9)
TransactionId = identifier(64)
Amount = Annotated[float, StrictAmountText, Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False),
                   WithJsonSchema({"anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": MAX_AMOUNT},
                                             POSITIVE_AMOUNT_TEXT]})]
Timestamp = Annotated[datetime, AfterValidator(_to_naive_utc)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class TransactionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transaction_id: TransactionId
    customer_id: Identifier
    terminal_id: Identifier
    amount: Amount
    timestamp: Timestamp
    currency: Currency | None = Field(default=None, description="ISO 4217 code; only used to word the reasons")

    def to_transaction(self) -> Transaction:
        return Transaction(self.transaction_id, self.customer_id, self.terminal_id, self.amount, self.timestamp,
                           self.currency)


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transactions: list[TransactionIn] = Field(min_length=1, max_length=settings.MAX_BATCH_SIZE)


class ContributionOut(BaseModel):
    feature: str
    value: float = Field(description="the feature's value for this transaction")
    contribution: float = Field(description="its share of the model's score above the baseline (Saabas path "
                                            "attribution; explanation_method of GET /model)")


class PredictionOut(BaseModel):
    transaction_id: str
    decision: Literal[APPROVED, BLOCKED]  # type: ignore[valid-type] - ml_model.scoring's values
    risk_score: float = Field(ge=0, le=1)
    anomaly_score: float = Field(description="the model's score, compared with threshold: the Isolation "
                                             "Forest's anomaly score, or a hybrid model's fraud probability")
    threshold: float
    reasons: list[str]
    model_version: str
    contributions: list[ContributionOut] = Field(description=(
        "every model feature, largest contribution first; the contributions add up to anomaly_score minus "
        "the model's baseline_anomaly_score (GET /model); positive = pushed towards BLOCKED. For a hybrid "
        "model, shares of its fraud probability (the anomaly score's share spread over the features)"))


class BatchOut(BaseModel):
    results: list[PredictionOut]


class FeedbackIn(BaseModel):
    """A confirmed label. With the transaction's fields, an id never scored (the caller's fallback
    decided) is recorded first; they must then be given together."""

    model_config = ConfigDict(extra="forbid")

    transaction_id: TransactionId
    is_fraud: StrictBool
    customer_id: Identifier | None = None
    terminal_id: Identifier | None = None
    amount: Amount | None = None
    timestamp: Timestamp | None = None
    currency: Currency | None = None

    @model_validator(mode="after")
    def _transaction_fields_together(self) -> FeedbackIn:
        fields = {"customer_id": self.customer_id, "terminal_id": self.terminal_id,
                  "amount": self.amount, "timestamp": self.timestamp}
        missing = [name for name, value in fields.items() if value is None]
        if 0 < len(missing) < len(fields):
            raise ValueError(f"give all of customer_id, terminal_id, amount, timestamp or none; missing: "
                             f"{', '.join(missing)}")
        return self

    def to_transaction(self) -> Transaction | None:
        if self.customer_id is None:
            return None
        return Transaction(self.transaction_id, self.customer_id, self.terminal_id,  # type: ignore[arg-type]
                           self.amount, self.timestamp, self.currency)  # type: ignore[arg-type]


class FeedbackOut(BaseModel):
    transaction_id: str
    is_fraud: bool
    recorded_transaction: bool = Field(description="true when this feedback recorded an unknown transaction")


class FeatureOut(BaseModel):
    name: str
    description: str


class ModelOut(BaseModel):
    model_version: str
    created_at: str | None
    model_kind: str = Field(description="isolation_forest or hybrid")
    model_type: str | None
    threshold: float
    risk_calibration: dict[str, float]
    score_definition: str | None
    label_delay_days: int
    library_versions: dict[str, str]
    features: list[FeatureOut]
    explanation_method: str
    baseline_anomaly_score: float = Field(description="where every prediction's contributions start from: the "
                                          "forest's anomaly score at its expected path length, or a hybrid's "
                                          "fraud probability at its classifier's expected log-odds")
    hyper_parameters: dict[str, Any]
    metrics: dict[str, Any]
    data_summary: dict[str, Any]
    challenger: dict[str, Any] | None = Field(
        default=None, description="the model scored in shadow (version, type, threshold); null without one")
    drift: dict[str, Any] = Field(description="PSI of recent predictions against training, per model feature "
                                  "and for the score; `alerts` lists those above `alert_level`")
