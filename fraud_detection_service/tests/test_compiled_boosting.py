"""The compiled classifier must give exactly scikit-learn's predict_proba, and its path attribution exactly
ml_model's reference (``classifier_path_contributions``, itself equal to shap's), on every kind of input."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from app.services.compiled_boosting import CompiledBoostedTrees
from ml_model.attribution import classifier_path_contributions


def _fitted(rng: np.random.Generator, n: int = 4000, n_features: int = 6, missing: bool = True, **params):
    x = rng.normal(size=(n, n_features)) * rng.uniform(0.1, 50, n_features)
    x[:, 0] = np.round(x[:, 0])  # a discrete feature: many ties on thresholds
    y = ((x[:, 1] / 50 + x[:, 2] / 20 + rng.normal(size=n)) > 1.5).astype(int)
    if missing:
        x[rng.random(x.shape) < 0.05] = np.nan  # trained with NaN: missing_go_to_left is learnt per node
    classifier = HistGradientBoostingClassifier(max_iter=80, random_state=0, **params).fit(x, y)
    return classifier, x


def _edge_rows(compiled: CompiledBoostedTrees, rng: np.random.Generator, n_features: int) -> np.ndarray:
    thresholds = compiled.threshold[np.isfinite(compiled.threshold)]
    exact = rng.choice(thresholds, size=(1500, n_features))  # values equal to split thresholds
    above = np.nextafter(exact, np.inf)
    below = np.nextafter(exact, -np.inf)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300, 1e-300])
    specials = rng.choice(special, size=(500, n_features))
    return np.vstack([exact, above, below, specials])


@functools.cache
def _shared(missing: bool) -> tuple[HistGradientBoostingClassifier, np.ndarray]:
    """One fit per kind for the tests below (fitting is most of their time)."""
    return _fitted(np.random.default_rng(3), missing=missing)


@pytest.mark.parametrize("missing", [True, False])
def test_compiled_probabilities_equal_sklearn_predict_proba(missing):
    rng = np.random.default_rng(4)
    classifier, x = _shared(missing)
    compiled = CompiledBoostedTrees.from_sklearn(classifier)
    rows = np.vstack([x[:1000], _edge_rows(compiled, rng, x.shape[1])])
    assert rows.shape[0] > 5000
    expected = classifier.predict_proba(rows)[:, 1]
    assert np.abs(compiled.fraud_probability(rows) - expected).max() < 1e-9
    # Not a constant model: the comparison covered probabilities across the range.
    assert expected.min() < 0.05 and expected.max() > 0.95


def test_single_row_path_equals_sklearn():
    rng = np.random.default_rng(8)
    classifier, x = _fitted(rng, missing=True, max_leaf_nodes=63, learning_rate=0.2)
    compiled = CompiledBoostedTrees.from_sklearn(classifier)
    rows = np.vstack([x[:300], _edge_rows(compiled, rng, x.shape[1])[::7]])
    one_by_one = np.array([compiled.fraud_probability_one(row) for row in rows])
    assert np.abs(one_by_one - classifier.predict_proba(rows)[:, 1]).max() < 1e-9


@pytest.mark.parametrize("missing", [True, False])
def test_compiled_credits_equal_the_reference_path_attribution(missing):
    rng = np.random.default_rng(5)
    classifier, x = _shared(missing)
    compiled = CompiledBoostedTrees.from_sklearn(classifier)
    rows = np.vstack([x[:1000], _edge_rows(compiled, rng, x.shape[1])])  # thresholds ± 1 ulp, NaN, ±inf
    reference, start = classifier_path_contributions(classifier, rows)

    probability, batch = compiled.explain_samples(rows)
    one_by_one = [compiled.explain_one(row) for row in rows[::4]]

    assert np.abs(batch - reference).max() < 1e-9
    assert compiled.expected_log_odds == pytest.approx(start, abs=1e-9)
    # The credits add up to the log-odds, and the probability is the one the score paths give.
    assert np.abs(batch.sum(axis=1) + compiled.expected_log_odds - classifier.decision_function(rows)).max() < 1e-9
    assert np.array_equal(probability, compiled.fraud_probability(rows))
    # One row at a time (the /predict path) gives the batch's answer to the bit.
    assert np.array_equal(np.array([credits for _, credits in one_by_one]), batch[::4])
    assert [p for p, _ in one_by_one] == probability[::4].tolist()
    # Not a degenerate case: every feature was credited somewhere, both ways.
    assert (batch.max(axis=0) > 0).all() and (batch.min(axis=0) < 0).all()


def test_rows_of_the_wrong_width_are_refused():
    classifier, _ = _fitted(np.random.default_rng(0), n=500, n_features=3)
    with pytest.raises(ValueError, match="expected rows of 3 features"):
        CompiledBoostedTrees.from_sklearn(classifier).fraud_probability(np.zeros((2, 4)))


def test_multiclass_classifier_is_refused():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    classifier = HistGradientBoostingClassifier(max_iter=5).fit(x, rng.integers(0, 3, 300))
    with pytest.raises(ValueError, match="binary"):
        CompiledBoostedTrees.from_sklearn(classifier)
