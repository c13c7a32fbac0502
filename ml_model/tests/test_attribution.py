"""The batch attribution paths equal the reference implementation (shap's Saabas path attribution,
``TreeExplainer(...).shap_values(x, approximate=True)``) and add up to the model's own output."""

from __future__ import annotations

import numpy as np
import pytest
import shap
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest

from ml_model.artifacts import load_verified
from ml_model.attribution import (
    baseline_path_length,
    classifier_path_contributions,
    fold_anomaly_input,
    model_contributions,
    normaliser,
    path_contributions,
    to_probability_units,
)
from ml_model.features import build_features
from ml_model.scoring import model_score
from ml_model.simulate import simulate_transactions

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


def test_the_anomaly_scores_credit_goes_to_the_features_that_moved_it_and_totals_are_kept():
    # Classifier credits of three features, then of the anomaly score; the forest's shares of the same rows.
    credits = np.array([[0.5, -0.2, 0.0, 0.9],  # more anomalous than the baseline: features 0 and 2 did it
                        [0.0, 0.0, 0.0, -0.6],  # less anomalous: features 1 and 2 did it, 0 pulled the other way
                        [0.1, 0.0, 0.0, 0.3]])  # the forest moved nothing: shared evenly
    shares = np.array([[0.03, -0.01, 0.01], [0.02, -0.03, -0.01], [0.0, 0.0, 0.0]])
    folded = fold_anomaly_input(credits, shares)
    assert folded[0] == pytest.approx([0.5 + 0.9 * 0.75, -0.2, 0.9 * 0.25])
    assert folded[1] == pytest.approx([0.0, -0.6 * 0.75, -0.6 * 0.25])
    assert folded[2] == pytest.approx([0.2, 0.1, 0.1])
    assert folded.sum(axis=1) == pytest.approx(credits.sum(axis=1), abs=1e-15)
    # One row at a time (the /predict path) equals the matrix (/predict/batch) to the bit.
    assert np.array_equal(np.array([fold_anomaly_input(c, s) for c, s in zip(credits, shares, strict=True)]), folded)

    start = -4.0
    probability = to_probability_units(folded, start)
    logistic = 1 / (1 + np.exp(-(start + folded.sum(axis=1))))
    assert probability.sum(axis=1) == pytest.approx(logistic - 1 / (1 + np.exp(-start)), abs=1e-15)
    assert (np.argsort(probability, axis=1) == np.argsort(folded, axis=1)).all()  # one positive factor a row
    assert np.array_equal(np.array([to_probability_units(row, start) for row in folded]), probability)


def test_hybrid_contributions_add_up_to_the_fraud_probability_above_the_baseline(hybrid_dir):
    loaded = load_verified(hybrid_dir)
    x = build_features(simulate_transactions(days=10, customers=60, terminals=80, seed=4))[loaded.feature_columns]
    contributions, baseline = model_contributions(loaded, x.to_numpy())
    assert contributions.shape == x.shape
    assert np.abs(contributions.sum(axis=1) + baseline - model_score(loaded, x.to_numpy())).max() < 1e-12
