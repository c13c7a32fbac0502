"""What to decide when the fraud service gives no usable answer (FRAUD_FALLBACK_POLICY)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from app.statuses import APPROVED, BLOCKED

POLICY_FORMS = "'block', 'approve' or 'approve_below:<amount>'"
# The one reason stored on a fallback decision. Why the model gave no answer, and the policy that
# decided, go to the log: neither belongs in a row that staff screens and exports show.
FALLBACK_REASON = "fraud_service_unavailable"


@dataclass(frozen=True)
class FallbackPolicy:
    approve_all: bool = False
    approve_below: Decimal | None = None

    @classmethod
    def parse(cls, text: str) -> FallbackPolicy:
        text = text.strip().lower()
        if text == "block":
            return cls()
        if text == "approve":
            return cls(approve_all=True)
        if text.startswith("approve_below:"):
            try:
                limit = Decimal(text.removeprefix("approve_below:"))
            except InvalidOperation:
                limit = None
            if limit is not None and limit.is_finite() and limit > 0:
                return cls(approve_below=limit)
        raise ValueError(f"FRAUD_FALLBACK_POLICY {text!r} is not one of {POLICY_FORMS}")

    @property
    def name(self) -> str:
        if self.approve_all:
            return "approve"
        if self.approve_below is not None:
            return f"approve_below:{self.approve_below}"
        return "block"

    def decide(self, amount: Decimal) -> str:
        if self.approve_all:
            return APPROVED
        if self.approve_below is not None and amount < self.approve_below:
            return APPROVED
        return BLOCKED
