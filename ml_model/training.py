"""Training: split by time, fit scaler + Isolation Forest (and, for a hybrid model, a gradient-boosted
classifier on the labelled rows), pick hyper-parameters and threshold, evaluate.

Periods are whole UTC days. By default (``default_periods``) the first quarter of the days (at most
30) is history only (features need a month of past), the last quarter is the evaluation period, and
the ``label_delay_days`` before it are left out, so no label of an evaluation-time transaction could
be known at training time. Hyper-parameters are chosen on a validation period (the last quarter of
the training days) by average precision, then the model is refitted on the whole training period.

A ``hybrid`` model adds a ``HistGradientBoostingClassifier`` fitted on the *labelled* rows of the
training period (unlabelled rows only feed the forest), over the same features plus the forest's
anomaly score; its fraud probability is the model's score, thresholded and calibrated by the same rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.preprocessing import StandardScaler

from ml_model import drift, scoring
from ml_model.artifacts import ANOMALY_SCORE_INPUT, HYBRID, ISOLATION_FOREST, MODEL_KINDS, write_artifacts
from ml_model.dataset import DataError
from ml_model.evaluation import score_metrics
from ml_model.features import DEFAULT_LABEL_DELAY_DAYS, FEATURE_COLUMNS, build_features
from ml_model.simulate import simulate_transactions

# Features the forest sees (feature_columns.json). Left out:
# * terminal_fraud_rate_30d, customer_tx_count_30d: greedy backward elimination on the validation
#   period (`python ml_model/select_features.py`) found both lower average precision; they repeat the
#   shorter windows' signal while mostly isolating ordinary long-run variation between customers.
# * hours_since_customer_prev_tx: customer_prev_tx_recency carries the same information without a
#   720 h "no history" sentinel that made every new customer's first purchase an outlier.
# * is_night: a 0/1 flag isolates the ~1.5 % of legitimate night purchases in one split, so any night
#   purchase without history was blocked; hour_of_day keeps the time of day, and night-time takeovers
#   are also revealed by their inflated amounts (default data: AP 0.522 without it, same ROC AUC).
# * customer_avg_amount_1d, customer_tx_count_1d: with shopping sessions in the simulator they mostly
#   repeat the session's own count and amounts (customer_tx_count_1h, customer_avg_amount_1h) while
#   isolating ordinary busy days. Default data, one forest, evaluation period: all of them in
#   AP 0.456 / ROC AUC 0.899; without both 0.468 / 0.901 (README, "Feature selection").
EXCLUDED_FEATURES = (
    "terminal_fraud_rate_30d", "customer_tx_count_30d", "hours_since_customer_prev_tx", "is_night",
    "customer_avg_amount_1d", "customer_tx_count_1d",
)
MODEL_FEATURES = [name for name in FEATURE_COLUMNS if name not in EXCLUDED_FEATURES]
# Candidates tried on the validation period. ``fit_rows``: "all" = plain unsupervised fit; "not_fraud"
# = leave out transactions already confirmed as fraud (unlabelled ones stay), so known fraud patterns
# do not count as normal. The first entry is the default when there are no validation labels.
HYPER_PARAMETER_GRID = [
    {"fit_rows": "all", "n_estimators": 200, "max_samples": 1024},
    {"fit_rows": "all", "n_estimators": 200, "max_samples": 4096},
    {"fit_rows": "not_fraud", "n_estimators": 200, "max_samples": 1024},
    {"fit_rows": "not_fraud", "n_estimators": 200, "max_samples": 4096},
]
SMALL_MODEL_HYPER_PARAMETERS = HYPER_PARAMETER_GRID[3]
DEFAULT_ALERT_RATE = 0.01
# A classifier learning from a few dozen frauds learns those frauds: below this, hybrid is refused.
MIN_HYBRID_FRAUDS = 50
# Fixed rather than searched (the forest's search already costs most of a training run). Early
# stopping on a stratified 10 % of the labelled rows picks the number of trees (n_iter_ in metadata).
CLASSIFIER_HYPER_PARAMETERS = {
    "learning_rate": 0.1,
    "max_iter": 300,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "early_stopping": True,
    "validation_fraction": 0.1,
    "n_iter_no_change": 20,
}


@dataclass(frozen=True)
class Periods:
    train_from: date
    train_to: date
    eval_from: date
    eval_to: date

    def as_dict(self) -> dict[str, str]:
        return {k: v.isoformat() for k, v in self.__dict__.items()}


@dataclass
class TrainingResult:
    model: IsolationForest
    scaler: StandardScaler
    feature_columns: list[str]
    metadata: dict[str, Any]
    # per evaluation row: transaction_id, score (the model's), anomaly_score, risk_score, decision, tx_fraud
    evaluation: pd.DataFrame
    classifier: HistGradientBoostingClassifier | None = None  # hybrid models only
    log: list[str] = field(default_factory=list)


def default_periods(first_day: date, last_day: date, label_delay_days: int) -> Periods:
    n_days = (last_day - first_day).days + 1
    history = min(30, n_days // 4)
    eval_days = max(1, n_days // 4)
    eval_from = last_day - timedelta(days=eval_days - 1)
    return Periods(
        train_from=first_day + timedelta(days=history),
        train_to=eval_from - timedelta(days=label_delay_days + 1),
        eval_from=eval_from,
        eval_to=last_day,
    )


def validation_split(days: pd.Series, periods: Periods) -> tuple[np.ndarray, np.ndarray, date]:
    """Masks of the fitting part (first three quarters of the training days) and the validation part
    (the rest), and the first validation day."""
    in_train = ((days >= periods.train_from) & (days <= periods.train_to)).to_numpy()
    train_days = sorted(set(days[in_train]))
    validation_from = train_days[len(train_days) * 3 // 4] if len(train_days) > 1 else train_days[-1]
    return in_train & (days < validation_from).to_numpy(), in_train & (days >= validation_from).to_numpy(), \
        validation_from


def train(
    raw: pd.DataFrame,
    *,
    kind: str = ISOLATION_FOREST,
    label_delay_days: int = DEFAULT_LABEL_DELAY_DAYS,
    periods: Periods | None = None,
    alert_rate: float = DEFAULT_ALERT_RATE,
    seed: int = 0,
    grid: list[dict[str, Any]] | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> TrainingResult:
    """Fit and evaluate a model of ``kind`` on ``raw`` (validated raw schema). Raises ``DataError`` for
    unusable periods, and for a hybrid model with too few labelled frauds to learn from."""
    if not 0 < alert_rate < 1:
        raise DataError("alert rate must be between 0 and 1")
    if kind not in MODEL_KINDS:
        raise DataError(f"unknown model kind {kind!r} (known: {', '.join(MODEL_KINDS)})")
    began = time.perf_counter()
    days = raw["tx_datetime"].dt.floor("D").dt.date
    periods = periods or default_periods(days.min(), days.max(), label_delay_days)
    in_train = ((days >= periods.train_from) & (days <= periods.train_to)).to_numpy()
    in_eval = ((days >= periods.eval_from) & (days <= periods.eval_to)).to_numpy()
    if periods.train_from > periods.train_to or not in_train.any():
        raise DataError(f"no transactions in the training period {periods.train_from}..{periods.train_to}")
    if periods.eval_from > periods.eval_to or not in_eval.any():
        raise DataError(f"no transactions in the evaluation period {periods.eval_from}..{periods.eval_to}")
    if periods.train_to >= periods.eval_from:
        raise DataError("the training period must end before the evaluation period starts")
    labels = raw["tx_fraud"].to_numpy(dtype=np.float64)
    if kind == HYBRID:
        _check_enough_labels(labels[in_train], periods)

    progress(f"building features for {len(raw):,} transactions")
    features = build_features(raw, label_delay_days=label_delay_days)[MODEL_FEATURES].to_numpy()

    fit_part, validation, validation_from = validation_split(days, periods)
    grid = grid or HYPER_PARAMETER_GRID
    chosen, tried = _choose_hyper_parameters(
        features, labels, raw, fit_part if fit_part.any() else in_train, validation, grid, seed, progress
    )

    progress(f"fitting the final forest on {int(in_train.sum()):,} training transactions")
    scaler, model = _fit(features[in_train], labels[in_train], chosen, seed)
    train_anomaly = scoring.anomaly_score(model, scaler.transform(features[in_train]))
    progress(f"scoring {int(in_eval.sum()):,} evaluation transactions with the forest")
    eval_anomaly = scoring.anomaly_score(model, scaler.transform(features[in_eval]))
    eval_raw = raw[in_eval]

    classifier, extra = None, {}
    train_scores, eval_scores = train_anomaly, eval_anomaly
    if kind == HYBRID:
        forest_threshold = float(np.quantile(train_anomaly, 1 - alert_rate))
        labelled = ~np.isnan(labels[in_train])
        progress(f"fitting the classifier on {int(labelled.sum()):,} labelled training transactions")
        classifier = _fit_classifier(features[in_train][labelled], train_anomaly[labelled],
                                     labels[in_train][labelled], seed)
        train_scores = scoring.fraud_probability(classifier, features[in_train], train_anomaly)
        eval_scores = scoring.fraud_probability(classifier, features[in_eval], eval_anomaly)
        extra = {
            "classifier_inputs": [*MODEL_FEATURES, ANOMALY_SCORE_INPUT],
            "classifier_hyper_parameters": {**CLASSIFIER_HYPER_PARAMETERS, "random_state": seed,
                                            "n_iter_": int(classifier.n_iter_)},
            "classifier_training": {"labelled": int(labelled.sum()),
                                    "frauds": int(labels[in_train][labelled].sum())},
        }
    threshold = float(np.quantile(train_scores, 1 - alert_rate))
    calibration = scoring.fit_calibration(train_scores, threshold)

    metrics = {
        "training": score_metrics(raw[in_train], train_scores, threshold),
        "evaluation": score_metrics(eval_raw, eval_scores, threshold),
        "amount_rule_evaluation": score_metrics(eval_raw, eval_raw["tx_amount"].to_numpy()),
    }
    if kind == HYBRID:  # the forest alone, at its own threshold by the same rule: what labels add
        metrics["forest_evaluation"] = score_metrics(eval_raw, eval_anomaly, forest_threshold)
    score_name = "fraud_probability" if kind == HYBRID else "anomaly_score"
    metadata = {
        "model_version": datetime.now(UTC).strftime(f"{'hy' if kind == HYBRID else 'if'}-%Y%m%dT%H%M%SZ")
        + f"-s{seed}",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_kind": kind,
        "model_type": "HistGradientBoostingClassifier over the features and the IsolationForest anomaly score"
        if kind == HYBRID else "IsolationForest",
        "hyper_parameters": {**chosen, "random_state": seed},
        "hyper_parameter_search": tried,
        **extra,
        "label_delay_days": label_delay_days,
        "threshold": threshold,
        "threshold_rule": f"{score_name.replace('_', ' ')} quantile {1 - alert_rate:.4f} of the training period "
        f"(target alert rate {alert_rate:.2%})",
        "risk_calibration": calibration,
        "score_definition": _score_definition(kind),
        "periods": {**periods.as_dict(), "validation_from": validation_from.isoformat()},
        "data_summary": _data_summary(raw, in_train, in_eval),
        "metrics": metrics,
        # Drift monitoring (ml_model/drift.py): the training period's distributions the service compares with.
        "reference_distributions": drift.reference_distributions(
            MODEL_FEATURES, features[in_train], scoring.risk_score(train_scores, calibration)),
        "training_seconds": round(time.perf_counter() - began, 1),
    }
    evaluation = pd.DataFrame(
        {
            "transaction_id": eval_raw["transaction_id"].to_numpy(),
            "score": eval_scores,
            "anomaly_score": eval_anomaly,
            "risk_score": scoring.risk_score(eval_scores, calibration),
            "decision": scoring.decision(eval_scores, threshold),
            "tx_fraud": eval_raw["tx_fraud"].to_numpy(dtype=np.float64),
        }
    )
    return TrainingResult(model, scaler, list(MODEL_FEATURES), metadata, evaluation, classifier)


def _score_definition(kind: str) -> str:
    anomaly = "anomaly_score = -IsolationForest.score_samples(scaled features)"
    if kind == HYBRID:
        return (f"{anomaly}; score = HistGradientBoostingClassifier.predict_proba([raw features, anomaly_score])"
                "[:, 1] (fraud probability); BLOCKED iff score >= threshold; "
                "risk_score = logistic((score - threshold) / scale)")
    return f"{anomaly}; BLOCKED iff anomaly_score >= threshold; " \
        "risk_score = logistic((anomaly_score - threshold) / scale)"


def _check_enough_labels(train_labels: np.ndarray, periods: Periods) -> None:
    frauds = int(np.nansum(train_labels))
    legitimate = int(np.sum(train_labels == 0))
    if frauds < MIN_HYBRID_FRAUDS or legitimate == 0:
        raise DataError(
            f"--model hybrid needs at least {MIN_HYBRID_FRAUDS} transactions labelled as fraud (and some "
            f"labelled legitimate) in the training period {periods.train_from}..{periods.train_to}; found "
            f"{frauds} fraud and {legitimate} legitimate. Label more history or train the isolation_forest model"
        )


def _fit_classifier(features: np.ndarray, anomaly: np.ndarray, labels: np.ndarray, seed: int
                    ) -> HistGradientBoostingClassifier:
    classifier = HistGradientBoostingClassifier(**CLASSIFIER_HYPER_PARAMETERS, random_state=seed)
    return classifier.fit(np.column_stack([features, anomaly]), labels.astype(int))


def _fit(x: np.ndarray, labels: np.ndarray, params: dict[str, Any], seed: int
         ) -> tuple[StandardScaler, IsolationForest]:
    if params["fit_rows"] == "not_fraud":
        x = x[labels != 1]
    forest_params = {k: v for k, v in params.items() if k != "fit_rows"}
    forest_params["max_samples"] = min(forest_params["max_samples"], len(x))
    scaler = StandardScaler().fit(x)
    model = IsolationForest(**forest_params, random_state=seed, n_jobs=-1)
    return scaler, model.fit(scaler.transform(x))


def _choose_hyper_parameters(features, labels, raw, fit_part, validation, grid, seed, progress):
    if len(grid) == 1 or not validation.any():
        return dict(grid[0]), []
    tried = []
    for params in grid:
        scaler, model = _fit(features[fit_part], labels[fit_part], params, seed)
        scores = scoring.anomaly_score(model, scaler.transform(features[validation]))
        result = score_metrics(raw[validation], scores)
        tried.append({**params, "validation_average_precision": result.get("average_precision")})
        progress(f"validation: {params} → average precision {result.get('average_precision', float('nan')):.3f}")
    if all(t["validation_average_precision"] is None for t in tried):
        return dict(grid[0]), tried  # no labels to choose with: keep the first (documented default)
    best = max(tried, key=lambda t: t["validation_average_precision"] or -1)
    return {k: best[k] for k in grid[0]}, tried


def _data_summary(raw: pd.DataFrame, in_train: np.ndarray, in_eval: np.ndarray) -> dict[str, Any]:
    def part(mask):
        rows = raw[mask]
        labelled = rows["tx_fraud"].notna()
        return {
            "transactions": int(len(rows)),
            "labelled": int(labelled.sum()),
            "frauds": int(rows["tx_fraud"].fillna(0).sum()),
            "customers": int(rows["customer_id"].nunique()),
            "terminals": int(rows["terminal_id"].nunique()),
        }

    return {
        "first_transaction": raw["tx_datetime"].min().isoformat(),
        "last_transaction": raw["tx_datetime"].max().isoformat(),
        "all": part(np.ones(len(raw), dtype=bool)),
        "training": part(in_train),
        "evaluation": part(in_eval),
    }


def save(result: TrainingResult, output_dir: Path | str, *, source: dict[str, Any]) -> dict[str, Any]:
    """Write the artifacts of ``result`` (with ``source`` describing the data) atomically."""
    return write_artifacts(
        output_dir,
        model=result.model,
        scaler=result.scaler,
        feature_columns=result.feature_columns,
        metadata={**result.metadata, "data_source": source},
        classifier=result.classifier,
    )


def train_and_save(
    output_dir: Path | str,
    *,
    days: int = 45,
    customers: int = 300,
    terminals: int = 600,
    seed: int = 7,
    label_delay_days: int = DEFAULT_LABEL_DELAY_DAYS,
    kind: str = ISOLATION_FOREST,
) -> dict[str, Any]:
    """Simulate a small data set, train a real model on it and write verified artifacts (seconds).

    45 days, not fewer: with 30, training has 9 days and the evaluation week's few dozen frauds are
    mostly at compromised terminals whose labels are not known yet, so its metrics are noise (ROC AUC
    0.41-0.88 over four seeds with shopping sessions)."""
    raw = simulate_transactions(days=days, customers=customers, terminals=terminals, seed=seed)
    # No search (seconds matter): the configuration validation chooses on the default data.
    result = train(raw, kind=kind, label_delay_days=label_delay_days, seed=seed,
                   grid=[SMALL_MODEL_HYPER_PARAMETERS])
    source = {"simulated": {"days": days, "customers": customers, "terminals": terminals, "seed": seed}}
    return save(result, output_dir, source=source)
