"""The batch attribution paths equal the reference implementation (shap's Saabas path attribution,
``TreeExplainer(...).shap_values(x, approximate=True)``) and add up to the model's own output."""

from __future__ import annotations

import numpy as np
import shap
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest

from ml_model.attribution import (
    baseline_path_length,
    classifier_path_contributions,
    normaliser,
    path_contributions,
)

TOLERANCE = 1e-9


def _data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3000, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 + rng.normal(size=3000) > 1).astype(int)
    rows = rng.normal(size=(200, 5)) * 3
    return X, y, rows


def test_forest_credits_equal_shap_and_add_up_to_the_mean_path_length():
    X, _, rows = _data(1)
    forest = IsolationForest(n_estimators=50, random_state=1).fit(X)
    credits = path_contributions(forest, rows)
    reference = shap.TreeExplainer(forest).shap_values(rows.astype(np.float32), approximate=True)
    assert np.abs(credits - reference).max() < TOLERANCE
    mean_path = -np.log2(-forest.score_samples(rows)) * normaliser(forest)
    assert np.abs(credits.sum(axis=1) + baseline_path_length(forest) - mean_path).max() < TOLERANCE


def test_classifier_credits_equal_shap_and_add_up_to_the_log_odds():
    X, y, rows = _data(2)
    rng = np.random.default_rng(3)
    X[rng.random(X.shape) < 0.05] = np.nan  # missing values follow each node's default direction
    rows[rng.random(rows.shape) < 0.1] = np.nan
    classifier = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)
    credits, start = classifier_path_contributions(classifier, rows)
    reference = shap.TreeExplainer(classifier).shap_values(rows, approximate=True)
    assert np.abs(credits - reference).max() < TOLERANCE
    assert np.abs(credits.sum(axis=1) + start - classifier.decision_function(rows)).max() < TOLERANCE
