"""Reference distributions for drift monitoring, and the population stability index (PSI).

Training stores, in the artifact metadata (``reference_distributions``), each model feature's and the
risk score's distribution over the training period: cut points at the deciles and the share of training
rows in each bin. The fraud service bins its recent predictions with the same cut points and reports

    PSI = Σ (live_i − reference_i) · ln(live_i / reference_i)

per feature and for the score. Usual reading: below 0.1 stable, 0.1–0.2 moderate change, above
``PSI_ALERT`` (0.2) a shift worth a look (retrain, or find the upstream change). Shares are floored at
``MIN_SHARE`` so an empty bin on either side gives a large but finite term.

Bins: ``cuts`` c_1 < … < c_k split the line into k+1 bins (−∞, c_1), [c_1, c_2), …, [c_k, +∞). The
cuts are observed values (inverted-CDF deciles), so those of a feature with few distinct values (0/1
flags, counts) collapse into those values and each value gets its own bin.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PSI_ALERT = 0.2
BINS = 10
MIN_SHARE = 1e-4
SCORE = "risk_score"


def reference(values: np.ndarray, bins: int = BINS) -> dict[str, list[float]]:
    """Cut points (deciles, deduplicated) and the share of ``values`` in each bin."""
    values = np.asarray(values, dtype=np.float64)
    cuts = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1], method="inverted_cdf"))
    return {"cuts": cuts.tolist(), "shares": shares(values, cuts).tolist()}


def shares(values: np.ndarray, cuts: np.ndarray | list[float]) -> np.ndarray:
    """Share of ``values`` in each of the ``len(cuts) + 1`` bins."""
    index = np.searchsorted(np.asarray(cuts, dtype=np.float64), values, side="right")
    counts = np.bincount(index, minlength=len(cuts) + 1)
    return counts / max(len(values), 1)


def psi(reference_shares: np.ndarray | list[float], live_shares: np.ndarray | list[float]) -> float:
    expected = np.maximum(np.asarray(reference_shares, dtype=np.float64), MIN_SHARE)
    actual = np.maximum(np.asarray(live_shares, dtype=np.float64), MIN_SHARE)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def reference_distributions(feature_columns: list[str], features: np.ndarray, risk_scores: np.ndarray,
                            bins: int = BINS) -> dict[str, Any]:
    """What training stores under ``reference_distributions``: one reference per model feature (columns
    of ``features`` in ``feature_columns`` order) and one for the risk score."""
    return {
        "bins": bins,
        "alert_level": PSI_ALERT,
        "features": {name: reference(features[:, j], bins) for j, name in enumerate(feature_columns)},
        SCORE: reference(risk_scores, bins),
    }
