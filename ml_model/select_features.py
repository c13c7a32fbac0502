"""Choose the forest's input features on the validation period (offline; the result is MODEL_FEATURES).

Greedy backward elimination: start from every feature, repeatedly drop the feature whose removal most
improves validation average precision (mean over a few forest seeds, since one forest is noisy), stop
when no removal helps. Only the training period is used (fit on its first three quarters, validate
on the last quarter): the evaluation days stay unseen.

    python ml_model/select_features.py [--days 120 --customers 5000 --terminals 10000 --seed 42]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from ml_model.evaluation import score_metrics  # noqa: E402
from ml_model.features import FEATURE_COLUMNS, build_features  # noqa: E402
from ml_model.simulate import simulate_transactions  # noqa: E402
from ml_model.training import default_periods, validation_split  # noqa: E402


def validation_ap(features, raw, fit, validation, columns, seeds) -> tuple[float, float]:
    """Mean validation average precision and ROC AUC of forests on ``columns``."""
    x = features[columns].to_numpy()
    scaler = StandardScaler().fit(x[fit])
    results = []
    for seed in seeds:
        model = IsolationForest(n_estimators=100, max_samples=1024, random_state=seed, n_jobs=-1)
        model.fit(scaler.transform(x[fit]))
        scores = -model.score_samples(scaler.transform(x[validation]))
        metrics = score_metrics(raw[validation], scores)
        if "average_precision" not in metrics:
            raise SystemExit("error: the validation period needs labelled fraud and legitimate transactions")
        results.append((metrics["average_precision"], metrics["roc_auc"]))
    return tuple(np.mean(results, axis=0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Greedy backward feature selection on validation data.")
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--forest-seeds", type=int, default=3)
    args = parser.parse_args(argv)
    raw = simulate_transactions(days=args.days, customers=args.customers, terminals=args.terminals, seed=args.seed)
    features = build_features(raw)
    days = raw["tx_datetime"].dt.floor("D").dt.date
    periods = default_periods(days.min(), days.max(), 7)
    fit, validation, _ = validation_split(days, periods)
    seeds = range(args.forest_seeds)

    selected = list(FEATURE_COLUMNS)
    best = validation_ap(features, raw, fit, validation, selected, seeds)
    print(f"all {len(selected)} features: AP {best[0]:.4f}  AUC {best[1]:.4f}", flush=True)
    while len(selected) > 2:
        trials = {c: validation_ap(features, raw, fit, validation, [s for s in selected if s != c], seeds)
                  for c in selected}
        drop, score = max(trials.items(), key=lambda item: item[1][0])
        if score[0] <= best[0]:
            break
        selected.remove(drop)
        best = score
        print(f"drop {drop:<32} AP {score[0]:.4f}  AUC {score[1]:.4f}", flush=True)
    print("selected:", selected)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
