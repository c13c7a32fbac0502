"""The transaction table for the growth measurement (bulk-inserted by seed_transactions.py) and the staff
captures that replay a customer's traffic at a chosen time. The customer/terminal histories are seeded
by bench.fraud_measures."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

from stack import LocalStack


def seed_transaction_table(stack: LocalStack, rows: int) -> int:
    """Fill the transaction service's table up to ``rows`` rows; returns the row count."""
    script = Path(__file__).with_name("seed_transactions.py")
    done = subprocess.run([sys.executable, str(script), str(rows)], env=stack.env("transactions"),
                          capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"seeding the transactions table failed: {done.stderr[-2000:]}")
    return int(done.stdout.split()[-1])


def staff_capture(headers: dict[str, str], customer_id: str, terminal_id: str, at: datetime):
    """A request factory: staff capturing for ``customer_id`` at ``terminal_id``, dated ``at``."""
    def make(i: int):
        body = {"amount": f"{20 + i % 50}.00", "currency": "EUR", "terminal_id": terminal_id,
                "customer_id": customer_id, "timestamp": at.isoformat()}
        return "POST", "/transactions", {"json": body, "headers": headers}

    return make
