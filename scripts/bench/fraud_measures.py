"""Items 1 and 2, and the fraud service's history, through scripts/bench_fraud_service.py (the fraud
service engineer's benchmark), pointed at this run's stack instead of a service of its own.

Imported lazily: that module claims the package name ``app`` for the fraud service (the transaction
service's package has the same name, which is why seed_transactions.py runs as its own process).
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import httpx
import numpy as np
from stack import LocalStack

from bench.processes import group_stats, postgres_cpu, postgres_cpu_between

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
    fraud service, each on an otherwise idle service (paced), with the back-to-back figures beside them
    (``bench_http`` says why); needs seed_history first."""
    service = SimpleNamespace(url=stack.url("fraud"), token=stack.internal_token)
    return _fraud_bench().bench_http(service, requests)


def batch_vs_single(stack: LocalStack, rows: int, batch_size: int = 500, rounds: int = 3) -> dict:
    """/predict/batch rows per second vs one /predict per row, on the stack's fraud service.

    Fair by construction: each round scores ``rows`` transactions one /predict at a time and the same
    transactions (amounts, times, which customer at which terminal) in /predict/batch calls of
    ``batch_size``; only the names differ per mode and round, so every run starts from the same empty
    history and sees only its own earlier rows. Both over one keep-alive connection, after a warm-up of
    both routes (the batch one at full size); requests are built before the clock starts and only sending
    and answering are timed; the rounds alternate which mode goes first, so drift in the machine's load
    hits both alike. The fraud service's CPU seconds per row (and PostgreSQL's, when it is the database)
    are reported beside the rates: on a shared machine the steadier figure."""
    bench = _fraud_bench()
    rng = np.random.default_rng(2)
    shape = sorted(((int(rng.integers(200)), int(rng.integers(400)), float(round(rng.uniform(5, 300), 2)),
                     bench.HISTORY_END + timedelta(seconds=float(rng.uniform(0, 7 * 86_400)))) for _ in range(rows)),
                   key=lambda row: row[3])

    def transactions(names: str) -> list[dict]:
        return [{"transaction_id": str(uuid.uuid4()), "customer_id": f"{names}-c{c}", "terminal_id": f"{names}-t{t}",
                 "amount": amount, "timestamp": when.isoformat()} for c, t, amount, when in shape]

    postgres = fraud_database_url(stack).startswith("postgres")
    databases = [urlsplit(fraud_database_url(stack)).path.lstrip("/")]  # the fraud service's sessions
    fraud = stack.processes["fraud"].pid
    seconds = {"single": 0.0, "batch": 0.0}
    cpu = {"single": 0.0, "batch": 0.0, "single_postgres": 0.0, "batch_postgres": 0.0}
    with httpx.Client(base_url=stack.url("fraud"), headers={"X-Internal-Token": stack.internal_token},
                      timeout=120) as client:
        def requests(mode: str, names: str) -> list[httpx.Request]:
            txs = transactions(names)
            if mode == "single":
                return [client.build_request("POST", "/predict", json=tx) for tx in txs]
            return [client.build_request("POST", "/predict/batch", json={"transactions": txs[i:i + batch_size]})
                    for i in range(0, len(txs), batch_size)]

        for request in requests("single", "warm-single")[:50] + requests("batch", "warm-batch")[:2]:
            client.send(request).raise_for_status()
        for round_ in range(rounds):
            for mode in ("single", "batch") if round_ % 2 == 0 else ("batch", "single"):
                prepared = requests(mode, f"{mode}{round_}")
                server, database = group_stats(fraud)[1], postgres_cpu(databases) if postgres else {}
                started = time.perf_counter()
                answers = [client.send(request) for request in prepared]
                seconds[mode] += time.perf_counter() - started
                cpu[mode] += group_stats(fraud)[1] - server
                if postgres:  # the server's own processes and the fraud database's sessions
                    cpu[f"{mode}_postgres"] += postgres_cpu_between(database, postgres_cpu(databases))[0]
                for answer in answers:
                    answer.raise_for_status()
                if mode == "batch":
                    assert sum(len(answer.json()["results"]) for answer in answers) == rows
    scored = rows * rounds
    result = {"rows": scored, "batch_size": batch_size, "rounds": rounds,
              "single_rows_per_s": scored / seconds["single"], "batch_rows_per_s": scored / seconds["batch"],
              "batch_over_single": seconds["single"] / seconds["batch"],
              "fraud_cpu_ms_per_row": {mode: round(cpu[mode] * 1000 / scored, 3) for mode in ("single", "batch")}}
    if postgres:
        result["postgres_cpu_ms_per_row"] = {mode: round(cpu[f"{mode}_postgres"] * 1000 / scored, 3)
                                             for mode in ("single", "batch")}
    return result
