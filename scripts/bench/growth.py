"""Histories for the growth measurements: a long customer/terminal history in the fraud service (through
its batch endpoint, so it is stored exactly as live traffic is) and a big transactions table in the
transaction service (bulk-inserted by seed_transactions.py)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from stack import LocalStack

BATCH = 1000  # the fraud service's MAX_BATCH_SIZE
HISTORY_DAYS = 29  # inside the longest feature window, so every past transaction is read by some window


def seed_fraud_history(stack: LocalStack, customer_id: str, terminal_id: str, count: int) -> None:
    """``count`` past transactions of one customer at one terminal, spread evenly over HISTORY_DAYS."""
    now = datetime.now(UTC).replace(tzinfo=None)
    step = timedelta(days=HISTORY_DAYS) / count
    items = [{
        "transaction_id": str(uuid.uuid4()), "customer_id": customer_id, "terminal_id": terminal_id,
        "amount": 20.0 + i % 50, "timestamp": (now - timedelta(days=HISTORY_DAYS) + i * step).isoformat(),
    } for i in range(count)]
    headers = {"X-Internal-Token": stack.internal_token}
    with httpx.Client(base_url=stack.url("fraud"), headers=headers, timeout=120) as client:
        for first in range(0, count, BATCH):
            response = client.post("/predict/batch", json={"transactions": items[first:first + BATCH]})
            if response.status_code != 200:
                raise RuntimeError(f"/predict/batch answered {response.status_code}: {response.text[:300]}")


def seed_transaction_table(stack: LocalStack, rows: int) -> int:
    """Fill the transaction service's table up to ``rows`` rows; returns the row count."""
    script = Path(__file__).with_name("seed_transactions.py")
    done = subprocess.run([sys.executable, str(script), str(rows)], env=stack.env("transactions"),
                          capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"seeding the transactions table failed: {done.stderr[-2000:]}")
    return int(done.stdout.split()[-1])


def staff_capture(headers: dict[str, str], customer_id: str, terminal_id: str):
    """A request factory: staff capturing for ``customer_id`` at ``terminal_id``."""
    def make(i: int):
        body = {"amount": f"{20 + i % 50}.00", "currency": "EUR", "terminal_id": terminal_id,
                "customer_id": customer_id}
        return "POST", "/transactions", {"json": body, "headers": headers}

    return make
