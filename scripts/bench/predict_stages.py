#!/usr/bin/env python
"""Where an idle fraud service's ``/predict`` spends its time, stage by stage, beside ``/health``.

Starts the fraud service (throw-away SQLite database, or DATABASE_URL) in a child process that times each
stage of a prediction with ``perf_counter`` around the functions that do it, and the ASGI app from its call to
its last body message; then sends ``/health`` and ``/predict`` alternately, each ``--gap`` after the previous
answer, as ``bench_fraud_service.bench_http`` paces them. Prints the client's medians, then each stage's.
The wrappers cost a few microseconds each: read the stages against one another, not against the benchmark.

    .venv/bin/python scripts/bench/predict_stages.py [--requests 700] [--gap 0.003]
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIR = ROOT / "fraud_detection_service"
WARM_UP = 200  # requests of each kind left out of the medians
STAGES = ("server: /health", "server: /predict", "judge (all of the below)", "connection in", "connection out",
          "the history read (known_or_history)", "history_reads", "features_from_history", "judge_one",
          "  of it explain_one (walk, score, credits)", "shadow_answer", "drift")


def serve() -> None:
    """The child: the service's app with its stages timed; SIGUSR1 prints their medians and exits."""
    sys.path[:0] = [str(SERVICE_DIR), str(ROOT)]
    import uvicorn
    from app.api.routes import predict
    from app.db.migrations import upgrade_to_head
    from app.services import predictions
    from app.services.compiled_forest import CompiledForest
    from app.services.profile_store import SqlProfileStore
    from app.services.risk_engine import RiskEngine
    from main import app as service

    upgrade_to_head(os.environ["DATABASE_URL"])  # what start.sh runs before uvicorn
    times: dict[str, list[float]] = defaultdict(list)
    for name in STAGES:  # printed in this order
        times[name] = []

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                times[name].append(time.perf_counter() - started)
        return wrapper

    predict.judge = timed("judge (all of the below)", predict.judge)
    predictions.history_reads = timed("history_reads", predictions.history_reads)
    SqlProfileStore.known_or_history = timed("the history read (known_or_history)", SqlProfileStore.known_or_history)
    predictions.features_from_history = timed("features_from_history", predictions.features_from_history)
    RiskEngine.judge_one = timed("judge_one", RiskEngine.judge_one)
    CompiledForest.explain_one = timed("  of it explain_one (walk, score, credits)", CompiledForest.explain_one)
    predictions.shadow_answer = timed("shadow_answer", predictions.shadow_answer)
    predictions.DRIFT.record = timed("drift", predictions.DRIFT.record)
    unwrapped = predictions.autocommit

    @contextmanager
    def autocommit(db):  # in (checkout, begin) and out (commit, pool return), for the reads and the records
        started = time.perf_counter()
        with unwrapped(db) as conn:
            times["connection in"].append(time.perf_counter() - started)
            yield conn
            started = time.perf_counter()
        times["connection out"].append(time.perf_counter() - started)

    predictions.autocommit = autocommit

    async def app(scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in ("/health", "/predict"):  # not the probe of /ready
            return await service(scope, receive, send)
        started = time.perf_counter()

        async def timed_send(message):
            if message["type"] == "http.response.body" and not message.get("more_body"):
                times[f"server: {scope['path']}"].append(time.perf_counter() - started)
            await send(message)

        await service(scope, receive, timed_send)

    def report(*_):
        for name, values in times.items():
            if not values:
                continue
            kept = values[WARM_UP:] if len(values) > 2 * WARM_UP else values
            print(f"{name:45} {statistics.median(kept) * 1e6:9.1f} µs  (n={len(kept)})", flush=True)
        os._exit(0)

    signal.signal(signal.SIGUSR1, report)
    # log_level info: ServiceProcess.wait_ready waits for uvicorn's "Application startup complete".
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=int(os.environ["PORT"]), loop="uvloop",
                                  http="httptools", access_log=False, log_level="info")).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=700, help="of each kind (the first 200 warm up)")
    parser.add_argument("--gap", type=float, default=0.003, help="seconds between an answer and the next request")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "ml_model/models")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0
    sys.path[:0] = [str(ROOT / "scripts"), str(SERVICE_DIR), str(ROOT)]
    import httpx
    from tests.service_process import ServiceProcess, service_env

    from fastapi_plumbing.testing import free_port

    with tempfile.TemporaryDirectory(prefix="predict-stages-") as tmp:
        database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/fraud.sqlite3"
        env = service_env(model_dir=args.model_dir, data_dir=Path(tmp), database_url=database_url,
                          token=secrets.token_urlsafe(24), port=free_port())
        env.update(LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
        log_path = Path(tmp) / "service.log"
        with log_path.open("ab") as log:  # the stages' report is written there too, at SIGUSR1
            child = subprocess.Popen([sys.executable, __file__, "--serve"], env=env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        service = ServiceProcess(child, f"http://127.0.0.1:{env['PORT']}", env["INTERNAL_TOKEN"], log_path)
        try:
            service.wait_ready()
            seen: dict[str, list[float]] = {"/health": [], "/predict": []}
            with httpx.Client(base_url=service.url, headers={"X-Internal-Token": service.token}) as client:
                for i in range(args.requests):
                    for path in seen:  # built untimed, as bench_http does
                        request = client.build_request("GET", path) if path == "/health" else client.build_request(
                            "POST", path, json={"transaction_id": str(uuid.uuid4()), "customer_id": f"c-{i % 50}",
                                                "terminal_id": f"t-{i % 30}", "amount": 42.0,
                                                "timestamp": f"2026-01-{1 + i % 28:02d}T10:{i % 60:02d}:00+00:00"})
                        time.sleep(args.gap)
                        started = time.perf_counter()
                        client.send(request).raise_for_status()
                        seen[path].append(time.perf_counter() - started)
            for path, values in seen.items():
                kept = values[WARM_UP:] if len(values) > 2 * WARM_UP else values
                print(f"{'client: ' + path:45} {statistics.median(kept) * 1e6:9.1f} µs  (n={len(kept)})")
            child.send_signal(signal.SIGUSR1)
            service.wait_exit(30)
            print("".join(line for line in service.log().splitlines(keepends=True) if " µs  (n=" in line), end="")
        finally:
            service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
