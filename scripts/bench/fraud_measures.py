"""Items 1 and 2, and the fraud service's history, through scripts/bench_fraud_service.py (the fraud
service engineer's benchmark), pointed at this run's stack instead of a service of its own.

Imported lazily: that module claims the package name ``app`` for the fraud service (the transaction
service's package has the same name, which is why seed_transactions.py runs as its own process).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from stack import LocalStack

HEAVY = ("heavy-customer", "heavy-terminal")  # the names seed_history gives its 10,000-transaction pair
LIGHT = ("light-customer", "light-terminal")  # and its 10-transaction pair
HISTORY_SIZES = (10, 10_000)


def _fraud_bench():
    import bench_fraud_service

    return bench_fraud_service


def scoring_speed(model_dir: Path, repeats: int) -> dict:
    return _fraud_bench().bench_model(model_dir, repeats=repeats)


def fraud_database_url(stack: LocalStack) -> str:
    return stack.database_urls.get("fraud") or f"sqlite:///{stack.data_dir / 'fraud.sqlite3'}"


def seed_history(stack: LocalStack) -> None:
    """The heavy and light customer/terminal pairs, written through the service's store into its database."""
    _fraud_bench().seed_history(fraud_database_url(stack))


def capture_time():
    """When growth captures happen: just after the seeded history ends, so every window covers it."""
    return _fraud_bench().HISTORY_END + timedelta(hours=12)


def predict_vs_health(stack: LocalStack, requests: int) -> dict:
    """Interleaved /health, /predict (new customer), /predict (heavy), /predict (light) on the stack's
    fraud service; needs seed_history first."""
    service = SimpleNamespace(url=stack.url("fraud"), token=stack.internal_token)
    return _fraud_bench().bench_http(service, requests)


def batch_vs_single(stack: LocalStack, rows: int) -> dict:
    """/predict/batch rows per second vs one /predict per row, same transactions, on the stack's fraud service."""
    service = SimpleNamespace(url=stack.url("fraud"), token=stack.internal_token)
    return _fraud_bench().bench_batch(service, rows)
