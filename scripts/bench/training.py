"""How long the default model takes to train, and featurising a million simulated transactions."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def time_default_training(out_dir: Path, extra_args: list[str]) -> dict:
    """``ml_model/train_model.py`` with its defaults (what ``make train`` runs), as a separate process."""
    command = [sys.executable, str(ROOT / "ml_model" / "train_model.py"), "--output-dir", str(out_dir / "model"),
               "--report-dir", str(out_dir / "reports"), *extra_args]
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"training failed ({done.returncode}): {done.stderr[-2000:]}")
    metadata = json.loads((out_dir / "model" / "model_metadata.json").read_text())
    return {"seconds": round(seconds, 1), "arguments": extra_args or "defaults",
            "training_data": metadata.get("training_data") or metadata.get("data_summary")}


def time_featurising(rows: int, days: int, customers: int, terminals: int) -> dict:
    """Simulate (``days`` must yield at least ``rows``), keep the first ``rows`` transactions in time order,
    then time ``ml_model.features.build_features`` alone over them."""
    sys.path.insert(0, str(ROOT))
    from ml_model.features import build_features
    from ml_model.simulate import simulate_transactions

    began = time.perf_counter()
    raw = simulate_transactions(days=days, customers=customers, terminals=terminals, seed=3)
    if len(raw) < rows:
        raise RuntimeError(f"{days} simulated days gave {len(raw):,} transactions, fewer than {rows:,}")
    raw = raw.iloc[:rows].reset_index(drop=True)  # sorted by time: a prefix is a shorter history
    simulated = time.perf_counter() - began
    began = time.perf_counter()
    features = build_features(raw)
    featurised = time.perf_counter() - began
    return {"transactions": len(raw), "simulate_seconds": round(simulated, 1),
            "featurise_seconds": round(featurised, 1), "feature_columns": features.shape[1],
            "transactions_per_second": round(len(raw) / featurised)}
