#!/usr/bin/env python
"""The capture's closed-loop rate against the number of connections: where its maximum comes from.

``benchmark.py`` measures the capture's maximum at one concurrency (16 connections, as the trivial reference).
This starts one stack (SQLite, or fresh databases on ``--postgres``), then for each ``--connections`` runs wrk
closed loop and prints, per step: captures a second, capture p50, each service's CPU (cores, and ms per
capture), transactions per scoring call, and the share of the wall time the fraud service spent inside
scoring calls (its own request histogram, so time on the wire and in the transaction service's event loop
is not in it). A rate that stops rising while neither service fills a core is bound by the scoring calls'
pipeline (``FRAUD_CALLS_IN_FLIGHT``, ``FRAUD_BATCH_MAX``), not by the CPU.

    .venv/bin/python scripts/bench/capture_concurrency.py [--connections 16 32 64] [--duration 8]
        [--postgres URL] [--env FRAUD_CALLS_IN_FLIGHT=2 ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

import httpx  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from stack import LocalStack  # noqa: E402

import bench.wrk as wrk  # noqa: E402
from bench.processes import CpuMeter  # noqa: E402
from bench.users import register_customers  # noqa: E402

SCORING_ROUTES = ("/predict", "/predict/batch")
COLUMNS = ("connections", "captures/s", "p50 ms", "errors", "fallback", "fraud cores", "transactions cores",
           "fraud ms/capture", "transactions ms/capture", "transactions per scoring call", "fraud busy in calls")


def counters(stack: LocalStack) -> Counter:
    """What the step's difference is taken of: the fraud service's time and count of scoring calls (its own
    request histogram), the transaction service's calls with the transactions they carried, and its
    decisions by who took them."""
    counts: Counter = Counter()
    for family in text_string_to_metric_families(httpx.get(f"{stack.url('fraud')}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name.startswith("fraud_http_request_duration_seconds_") and \
                    sample.labels.get("route") in SCORING_ROUTES:
                counts[f"fraud_{sample.name.rsplit('_', 1)[1]}"] += sample.value  # _sum (s), _count
    for family in text_string_to_metric_families(httpx.get(f"{stack.url('transactions')}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == "transaction_fraud_call_transactions_count":
                counts["calls"] += sample.value
            elif sample.name == "transaction_fraud_call_transactions_sum":
                counts["in_calls"] += sample.value
            elif sample.name == "transaction_decisions_total":
                counts[f"decided_by_{sample.labels['decided_by']}"] += sample.value
    return counts


def step(stack: LocalStack, tokens: list[str], connections: int, duration: float) -> dict[str, float]:
    """One closed-loop run at ``connections``, after a warm-up at the same concurrency."""
    url = stack.url("transactions")
    wrk.closed_loop(url, tokens=tokens, concurrency=connections, duration=2, label="warm-up")
    meter = CpuMeter({name: process.pid for name, process in stack.processes.items() if name != "auth"})
    before = counters(stack)
    meter.start()
    run = wrk.closed_loop(url, tokens=tokens, concurrency=connections, duration=duration, label=f"{connections}")
    cores = meter.stop()
    moved = counters(stack)
    moved.subtract(before)
    per_capture = {name: cores[name] * 1000 / max(run.throughput, 1e-9) for name in ("fraud", "transactions")}
    return {
        "connections": connections, "captures/s": round(run.throughput), "p50 ms": round(run.latency_ms["p50"], 1),
        "errors": run.errors, "fallback": int(moved["decided_by_fallback"]),
        "fraud cores": cores["fraud"], "transactions cores": cores["transactions"],
        "fraud ms/capture": round(per_capture["fraud"], 3),
        "transactions ms/capture": round(per_capture["transactions"], 3),
        "transactions per scoring call": round(moved["in_calls"] / max(1, moved["calls"]), 2),
        "fraud busy in calls": round(moved["fraud_sum"] / run.duration_s, 2),
    }


def table(rows: list[dict[str, float]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row[column]) for column in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--duration", type=float, default=8, help="seconds per step (whole seconds: wrk's)")
    parser.add_argument("--postgres", metavar="URL", help="run the services on fresh databases of this server")
    parser.add_argument("--env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="settings for the services, e.g. FRAUD_CALLS_IN_FLIGHT=2")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "ml_model/models")
    args = parser.parse_args(argv)
    settings = dict(setting.split("=", 1) for setting in args.env)
    databases = None
    if args.postgres:
        from bench.databases import PostgresDatabases

        databases = PostgresDatabases(args.postgres, ["auth", "transactions", "fraud"])
        databases.create()
    try:
        with tempfile.TemporaryDirectory(prefix="capture-concurrency-") as tmp:
            # As benchmark.py's stack: tokens outlive the run, and ten customers send every capture, far
            # beyond the per-user rate limits (a defence, not part of what is measured).
            stack = LocalStack(data_dir=Path(tmp) / "data", model_dir=args.model_dir,
                               database_urls=databases.urls() if databases else {},
                               extra_env={"ACCESS_TOKEN_LIFETIME_MINUTES": "240", "LOG_LEVEL": "WARNING",
                                          "RATE_LIMIT_CAPTURES_PER_MINUTE": "0",
                                          "RATE_LIMIT_LISTINGS_PER_MINUTE": "0", **settings})
            stack.manage("migrate", "--noinput")
            stack.start_all()
            try:
                tokens = [caller.headers["Authorization"].removeprefix("Bearer ")
                          for caller in register_customers(stack, 10)]
                rows = []
                for connections in args.connections:
                    rows.append(step(stack, tokens, connections, args.duration))
                    print(f"[capture_concurrency] {connections} connections: {rows[-1]['captures/s']}/s",
                          file=sys.stderr, flush=True)
            finally:
                stack.stop_all()
    finally:
        if databases:
            databases.drop()
    print(f"{'PostgreSQL' if args.postgres else 'SQLite'}, one worker each{', ' if settings else ''}"
          f"{' '.join(args.env)}; {args.duration:g} s a step\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
