#!/usr/bin/env python
"""The capture's closed-loop rate against the number of connections: where its maximum comes from.

Starts one stack as ``benchmark.py`` does (SQLite, or fresh databases on ``--postgres``), then for each
``--connections`` measures the capture's max-rate run at that concurrency (``benchmark._max``, no probing)
and prints, per step: captures a second, capture p50, each service's CPU (cores, and ms per capture),
transactions per scoring call, and the share of the wall time the fraud service spent inside scoring calls
(its own request histogram, so time on the wire and in the transaction service's event loop is not in it).
A rate that stops rising while neither service fills a core is bound by the scoring calls' pipeline
(``FRAUD_CALLS_IN_FLIGHT``, ``FRAUD_BATCH_MAX``), not by the CPU.

    .venv/bin/python scripts/bench/capture_concurrency.py [--connections 16 32 64] [--duration 8]
        [--postgres URL] [--env FRAUD_CALLS_IN_FLIGHT=2 ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

import benchmark  # noqa: E402
import httpx  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from stack import LocalStack  # noqa: E402

from bench.processes import CpuMeter  # noqa: E402
from bench.users import register_customers  # noqa: E402

SCORING_ROUTES = ("/predict", "/predict/batch")
COLUMNS = ("connections", "captures/s", "p50 ms", "errors", "fallback", "fraud cores", "transactions cores",
           "fraud ms/capture", "transactions ms/capture", "transactions per scoring call", "fraud busy in calls")


def readings(stack: LocalStack) -> Counter:
    """``benchmark.decisions_by`` (decisions by who took them, scoring calls and their transactions), and the
    seconds the fraud service spent answering scoring calls."""
    counts = benchmark.decisions_by(stack.url("transactions"))
    for family in text_string_to_metric_families(httpx.get(f"{stack.url('fraud')}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == "fraud_http_request_duration_seconds_sum" and sample.labels["route"] in SCORING_ROUTES:
                counts["fraud_seconds_in_calls"] += sample.value
    return counts


def step(stack: LocalStack, tokens: list[str], plan: benchmark.Plan) -> dict[str, float]:
    """The capture's max-rate run at ``plan.concurrency`` connections (after ``_max``'s warm-up)."""
    meter = CpuMeter({name: process.pid for name, process in stack.processes.items() if name != "auth"})
    measured = benchmark._max(stack.url("transactions"), tokens, f"{plan.concurrency} connections", plan, meter,
                              expect=201, readings=lambda: readings(stack))
    run, cores, per_capture, moved = (measured["max"], measured["cpu_share_at_max"], measured["cpu_ms_per_request"],
                                      measured["moved"])
    return {
        "connections": plan.concurrency, "captures/s": round(run.throughput), "p50 ms": round(run.latency_ms["p50"], 1),
        "errors": run.errors, "fallback": moved["fallback"],
        "fraud cores": cores["fraud"], "transactions cores": cores["transactions"],
        "fraud ms/capture": per_capture["fraud"], "transactions ms/capture": per_capture["transactions"],
        "transactions per scoring call": benchmark.transactions_per_call(moved),
        "fraud busy in calls": round(moved["fraud_seconds_in_calls"] / run.duration_s, 2),
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
    plan = benchmark.Plan(duration=args.duration, concurrency=args.connections[0], soak_seconds=0, probe_max=False)
    databases, autovacuum = benchmark.fresh_postgres(args.postgres) if args.postgres else (None, None)
    try:
        with tempfile.TemporaryDirectory(prefix="capture-concurrency-") as tmp:
            stack = benchmark.started_stack(Path(tmp) / "data", args.model_dir,
                                            databases.urls() if databases else {}, settings=settings)
            try:
                tokens = [caller.headers["Authorization"].removeprefix("Bearer ")
                          for caller in register_customers(stack, 10)]
                rows = []
                for connections in args.connections:
                    rows.append(step(stack, tokens, dataclasses.replace(plan, concurrency=connections)))
                    print(f"[capture_concurrency] {connections} connections: {rows[-1]['captures/s']}/s",
                          file=sys.stderr, flush=True)
            finally:
                stack.stop_all()
    finally:
        benchmark.drop_postgres(databases, autovacuum)
    print(f"{'PostgreSQL' if args.postgres else 'SQLite'}, one worker each{', ' if settings else ''}"
          f"{' '.join(args.env)}; {args.duration:g} s a step\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
