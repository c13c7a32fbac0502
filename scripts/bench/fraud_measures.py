"""Items 1 and 2 of the benchmark: the compiled single-row scorer vs scikit-learn, and /predict vs /health.

The fraud service's own bench script (scripts/bench_fraud_service.py) measures the same targets; these
are the versions the full benchmark runs side by side with everything else.
"""

from __future__ import annotations

import importlib.util
import itertools
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.loadgen import interleaved

ROOT = Path(__file__).resolve().parents[2]


def _compiled_forest_class():
    # Loaded from its file: importing it as ``app.compiled_forest`` would claim the name ``app``, which the
    # transaction service's package also uses.
    path = ROOT / "fraud_detection_service" / "app" / "compiled_forest.py"
    spec = importlib.util.spec_from_file_location("fraud_compiled_forest", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module.CompiledForest


def realistic_rows(model_dir: Path, count: int) -> tuple[object, np.ndarray]:
    """The loaded model and ``count`` scaled feature rows of simulated traffic (what /predict scores)."""
    sys.path.insert(0, str(ROOT))
    from ml_model.artifacts import load_verified
    from ml_model.features import build_features
    from ml_model.simulate import simulate_transactions

    loaded = load_verified(model_dir)
    raw = simulate_transactions(days=40, customers=150, terminals=300, seed=5)
    features = build_features(raw)[loaded.feature_columns].to_numpy(dtype=np.float64)[-count:]
    return loaded, loaded.scaler.transform(features)


def scoring_speed(model_dir: Path, repeats: int, time_budget: float) -> dict:
    """Median time of one-row ``decision_function`` vs the compiled ``score_one``, interleaved."""
    loaded, rows = realistic_rows(model_dir, 1000)
    forest = loaded.model
    compiled = _compiled_forest_class().from_sklearn(forest)
    reference = forest.decision_function(rows)
    ours = compiled.score_samples(rows) - forest.offset_
    one_by_one = np.array([compiled.score_one(row) for row in rows[:200]]) - forest.offset_
    max_diff = float(max(np.abs(reference - ours).max(), np.abs(reference[:200] - one_by_one).max()))
    sklearn_s, compiled_s = [], []
    deadline = time.perf_counter() + time_budget
    for i in range(repeats):
        if time.perf_counter() > deadline:
            break
        row = rows[i % len(rows)].reshape(1, -1)
        began = time.perf_counter()
        forest.decision_function(row)
        sklearn_s.append(time.perf_counter() - began)
        began = time.perf_counter()
        compiled.score_one(row)
        compiled_s.append(time.perf_counter() - began)
    sk_median, ours_median = statistics.median(sklearn_s), statistics.median(compiled_s)
    return {"rows_compared": len(rows), "max_abs_score_difference": max_diff, "pairs_timed": len(sklearn_s),
            "sklearn_median_us": round(sk_median * 1e6, 1), "compiled_median_us": round(ours_median * 1e6, 1),
            "speedup": round(sk_median / ours_median, 1), "n_estimators": len(forest.estimators_)}


def predict_vs_health(fraud_url: str, internal_token: str, rounds: int, time_budget: float) -> dict:
    """/predict (a new transaction each time, so it is scored and recorded) interleaved with /health."""
    headers = {"X-Internal-Token": internal_token}
    customers = itertools.cycle(range(100))

    def predict(i: int):
        body = {"transaction_id": str(uuid.uuid4()), "customer_id": f"bench-c{next(customers)}",
                "terminal_id": f"bench-t{i % 300}", "amount": 5.0 + i % 120,
                "timestamp": datetime.now(UTC).replace(tzinfo=None).isoformat()}
        return "POST", "/predict", {"json": body, "headers": headers}

    factories = {"predict": predict, "health": lambda i: ("GET", "/health", {})}
    warm = interleaved(fraud_url, factories, rounds=50, time_budget=10, expect={"predict": 200, "health": 200})
    runs = interleaved(fraud_url, factories, rounds=rounds, time_budget=time_budget,
                       expect={"predict": 200, "health": 200})
    summary = {label: run.summary() for label, run in runs.items()}
    summary["warm_up_errors"] = sum(run.errors for run in warm.values())
    summary["median_ratio"] = round(summary["predict"]["p50_ms"] / summary["health"]["p50_ms"], 2)
    summary["p99_ratio"] = round(summary["predict"]["p99_ms"] / summary["health"]["p99_ms"], 2)
    return summary
