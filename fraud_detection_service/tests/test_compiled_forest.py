"""The compiled forest must give exactly scikit-learn's score_samples, on every kind of input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from app.services.compiled_forest import CompiledForest


def _edge_rows(forest: CompiledForest, rng: np.random.Generator, n_features: int) -> np.ndarray:
    thresholds = forest.threshold[np.isfinite(forest.threshold)]
    exact = rng.choice(thresholds, size=(1500, n_features))  # values equal to split thresholds
    # One ulp either side of a threshold, after the float32 rounding scikit-learn applies.
    near = np.nextafter(exact.astype(np.float32), np.float32(np.inf)).astype(np.float64)
    below = np.nextafter(exact.astype(np.float32), np.float32(-np.inf)).astype(np.float64)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300, 1e-300, 3.4e38])
    specials = rng.choice(special, size=(500, n_features))
    mixed = rng.normal(size=(500, n_features)) * 4
    mixed[rng.random(mixed.shape) < 0.2] = np.nan  # some features missing in otherwise normal rows
    return np.vstack([exact, near, below, specials, mixed])


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # 1e300 -> float32
@pytest.mark.parametrize(
    ("max_features", "max_samples", "n_train"),
    [(1.0, "auto", 3000), (0.6, "auto", 3000), (1.0, 64, 500), (1.0, "auto", 40)],
)
def test_compiled_scores_equal_sklearn_score_samples(max_features, max_samples, n_train):
    rng = np.random.default_rng(7)
    n_features = 7
    train = rng.normal(size=(n_train, n_features)) * rng.uniform(0.1, 50, n_features)
    train[:, 0] = np.round(train[:, 0])  # a discrete feature: many duplicated values, leaves with >1 sample
    sk = IsolationForest(n_estimators=120, max_features=max_features, max_samples=max_samples, random_state=3)
    sk.fit(train)
    compiled = CompiledForest.from_sklearn(sk)

    rows = np.vstack([train[:1000], _edge_rows(compiled, rng, n_features)])
    assert rows.shape[0] > 5000
    diff = np.abs(compiled.score_samples(rows) - sk.score_samples(rows))
    assert diff.max() < 1e-9


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_single_row_path_equals_sklearn_on_edge_values():
    # score_one has its own traversal (the /predict path): same edge values, one row at a time.
    rng = np.random.default_rng(5)
    train = rng.normal(size=(1000, 5)) * rng.uniform(0.1, 50, 5)
    sk = IsolationForest(n_estimators=60, max_features=0.8, random_state=2).fit(train)
    compiled = CompiledForest.from_sklearn(sk)
    rows = np.vstack([train[:200], _edge_rows(compiled, rng, 5)[::5]])
    one_by_one = np.array([compiled.score_one(row) for row in rows])
    assert np.abs(one_by_one - sk.score_samples(rows)).max() < 1e-9


def test_single_row_score_matches_and_anomaly_scores_lower():
    rng = np.random.default_rng(11)
    train = rng.normal(size=(2000, 4))
    sk = IsolationForest(n_estimators=50, random_state=0).fit(train)
    compiled = CompiledForest.from_sklearn(sk)
    normal, outlier = np.zeros(4), np.full(4, 8.0)
    assert compiled.score_one(normal) == pytest.approx(sk.score_samples(normal[None])[0], abs=1e-12)
    assert compiled.score_one(outlier) < compiled.score_one(normal)


def test_rows_of_the_wrong_width_are_refused():
    sk = IsolationForest(n_estimators=5, random_state=0).fit(np.random.default_rng(0).normal(size=(100, 3)))
    with pytest.raises(ValueError, match="expected rows of 3 features"):
        CompiledForest.from_sklearn(sk).score_samples(np.zeros((2, 4)))
