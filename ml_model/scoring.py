"""The scores training reports and the fraud service answers, defined once.

* ``anomaly_score`` is the Isolation Forest score s(x, n) of Liu et al.: ``-model.score_samples``
  (scikit-learn returns its opposite); in (0, 1], higher = more anomalous.
* ``model_score`` is what the threshold applies to: the anomaly score for an ``isolation_forest``
  model; for a ``hybrid`` model the classifier's fraud probability (``predict_proba[:, 1]``) over
  the features followed by the anomaly score (``fraud_probability``).
* ``decision``: BLOCKED iff model score >= threshold.
* ``risk_score`` maps the model score to [0, 1] with a logistic curve centred on the threshold:
  ``1 / (1 + exp(-(score - threshold) / scale))``. It is strictly increasing, exactly 0.5 at
  the threshold (so risk >= 0.5 ⇔ BLOCKED), and ``scale`` is fitted at training so the median
  training score maps to 0.01.

All functions take and return numpy arrays so the service can apply them to scores it computes
itself (e.g. with a compiled forest and compiled boosted trees).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

APPROVED = "APPROVED"
BLOCKED = "BLOCKED"
MEDIAN_RISK = 0.01


def anomaly_score(model: Any, scaled_features: np.ndarray) -> np.ndarray:
    """s(x, n) for each row of already-scaled features (higher = more anomalous)."""
    return -model.score_samples(scaled_features)


def fraud_probability(classifier: Any, features: np.ndarray, anomaly_scores: np.ndarray) -> np.ndarray:
    """A hybrid model's score: P(fraud) from the classifier, whose inputs are the raw (unscaled)
    features followed by the Isolation Forest's anomaly score."""
    return classifier.predict_proba(np.column_stack([features, anomaly_scores]))[:, 1]


def model_score(loaded: Any, features: np.ndarray) -> np.ndarray:
    """The score the threshold of ``loaded`` (an ``ml_model.artifacts.LoadedModel``) applies to, for
    rows of raw features in ``loaded.feature_columns`` order: scikit-learn's reference computation."""
    anomaly = anomaly_score(loaded.model, loaded.scaler.transform(features))
    if loaded.classifier is None:
        return anomaly
    return fraud_probability(loaded.classifier, features, anomaly)


def fit_calibration(training_scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Calibration for ``risk_score``: the threshold and a scale putting the median score at 1%."""
    median = float(np.median(training_scores))
    spread = threshold - median
    if not spread > 0:  # degenerate (threshold at or below the median): fall back to the score spread
        spread = float(np.std(training_scores)) or 1e-3
    return {"threshold": float(threshold), "scale": spread / math.log(1 / MEDIAN_RISK - 1)}


def risk_score(scores: np.ndarray | float, calibration: dict[str, float]) -> np.ndarray:
    """Risk in [0, 1], monotone in the model score, 0.5 exactly at ``calibration['threshold']``."""
    z = (np.asarray(scores, dtype=np.float64) - calibration["threshold"]) / calibration["scale"]
    return 0.5 * (1.0 + np.tanh(z / 2))  # = logistic(z), without overflow warnings for large |z|


def decision(scores: np.ndarray | float, threshold: float) -> np.ndarray:
    """'BLOCKED' where the model score >= threshold, else 'APPROVED'."""
    return np.where(np.asarray(scores) >= threshold, BLOCKED, APPROVED)


# One score's twins of the two above (the /predict path): the same operations on a float, without numpy's
# ~5 µs per one-element array; np.tanh kept, since its SIMD loop, which /predict/batch runs, may differ from
# math.tanh in the last place. NaN is APPROVED, as in ``decision``.
def risk_score_one(score: float, calibration: dict[str, float]) -> float:
    z = (score - calibration["threshold"]) / calibration["scale"]
    return 0.5 * (1.0 + float(np.tanh(z / 2)))


def decision_one(score: float, threshold: float) -> str:
    return BLOCKED if score >= threshold else APPROVED
