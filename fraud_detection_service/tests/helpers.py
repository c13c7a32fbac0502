from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

# Recent enough to pass the timestamp bounds, fixed so windows are predictable.
DAY0 = datetime(2026, 6, 1)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def transaction(customer: str, terminal: str, amount: float, when: datetime, **extra: Any) -> dict[str, Any]:
    return {"transaction_id": str(uuid.uuid4()), "customer_id": customer, "terminal_id": terminal,
            "amount": amount, "timestamp": when.isoformat(), **extra}


def daily_habit(customer: str, terminal: str, *, days: int, amount: float, start: datetime = DAY0) -> list[dict]:
    """A customer paying about ``amount`` three times a day in the daytime, for ``days`` days."""
    return [
        transaction(customer, terminal, round(amount * (0.9 + 0.05 * k), 2), start + timedelta(days=d, hours=h))
        for d in range(days)
        for k, h in enumerate((10, 13, 17))
    ]
