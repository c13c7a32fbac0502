"""The tables for the growth measurements (bulk-inserted by seed_transactions.py and seed_fraud.py, each in
a process of its own with its service's environment) and the staff captures that replay a customer's
traffic at a chosen time. The customer/terminal histories are seeded by bench.fraud_measures."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

from stack import LocalStack

from bench.databases import vacuum_analyze

SEEDERS = {"transactions": "seed_transactions.py", "fraud": "seed_fraud.py"}


def seed_tables(stack: LocalStack, rows: int, services: tuple[str, ...] = ("transactions",)) -> dict[str, int]:
    """Resize each service's table to ``rows`` rows (the services' seeders run side by side); returns the
    row count of each."""
    seeders = {service: subprocess.Popen([sys.executable, str(Path(__file__).with_name(SEEDERS[service])), str(rows)],
                                         env=stack.env(service), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True)
               for service in services}
    counts, failures = {}, []
    for service, process in seeders.items():
        try:
            out, err = process.communicate(timeout=1800)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        if process.returncode != 0:
            failures.append(f"seeding the {service} service's table failed: {err[-2000:]}")
        else:
            counts[service] = int(out.split()[-1])
    if failures:
        raise RuntimeError("\n".join(failures))
    for service in services:
        vacuum_analyze(stack.database_urls.get(service, ""))  # SQLite: not in database_urls
    return counts


def seed_transaction_table(stack: LocalStack, rows: int) -> int:
    """Fill the transaction service's table up to ``rows`` rows; returns the row count."""
    return seed_tables(stack, rows)["transactions"]


def staff_capture(headers: dict[str, str], customer_id: str, terminal_id: str, at: datetime):
    """A request factory: staff capturing for ``customer_id`` at ``terminal_id``, dated ``at``."""
    def make(i: int):
        body = {"amount": f"{20 + i % 50}.00", "currency": "EUR", "terminal_id": terminal_id,
                "customer_id": customer_id, "timestamp": at.isoformat()}
        return "POST", "/transactions", {"json": body, "headers": headers}

    return make
