"""Per-feature contributions to the Isolation Forest's anomaly score, defined once.

Method: the Saabas path attribution for tree ensembles (Saabas 2014; ``approximate=True`` in
``shap.TreeExplainer``, which supports scikit-learn's IsolationForest). Each node carries the expected
path length of the training samples that reached it (leaves: depth plus the average path length of the
samples left in them, as ``score_samples`` counts it). Walking a row from the root to its leaf, every
split credits the feature it tests with the change of expected path length from the node to the child
taken. Per tree the credits add up to leaf path length minus root expectation, so over the forest
``baseline_path_length + contributions.sum() == mean path length`` exactly; a negative credit means the
feature isolated the row sooner, i.e. made it more anomalous. It costs one pass over the path the score
already walks (O(depth) per tree), where exact path-dependent TreeSHAP took ~33 ms a row on the default
forest (200 trees of 4096 samples), a hundred times the whole /predict budget.

``to_anomaly_units`` turns path-length credits into shares of the anomaly score: the anomaly score is
the strictly decreasing ``2 ** (-mean path length / c)``, so each row's credits are multiplied by one
negative factor (the secant of that curve between the baseline and the row). Signs flip (positive =
pushed towards BLOCKED), ranking is kept, and the contributions add up to ``anomaly_score -
baseline_anomaly_score``.

``path_contributions`` is the batch path over the fitted scikit-learn forest (training report, tests);
the fraud service computes the same on its compiled forest (``app/services/compiled_forest.py``), tested equal.

A **hybrid** model's score is a ``HistGradientBoostingClassifier``'s fraud probability over the features
plus the forest's anomaly score. Its contributions (``hybrid_contributions``):

1. ``classifier_path_contributions``: the same Saabas path attribution of the classifier's log-odds
   (node expectations: the mean leaf value of the training samples under each node), one credit per
   input, the anomaly score's included.
2. ``fold_anomaly_input``: the anomaly score is no feature an analyst can act on, so its credit is shared
   among the model features by the forest's own contributions for that row: the features that moved the
   anomaly score the way it moved from the forest's baseline (a positive share when the row is more
   anomalous than the baseline, a negative one when less) get it in proportion to their share; the
   features that pulled the other way keep their direct credit only. Where no feature pulled the other
   way this is the chain ("rescale") rule for a model fed by another model's output (DeepLIFT; Chen,
   Lundberg & Lee, "Explaining a series of models by propagating Shapley values", Nat. Commun. 2022):
   credit × share / net move. The plain rescale rule divides by the net move, which is near zero where
   the forest's contributions cancel out: on a simulated month (20,848 rows, the small test hybrid model)
   it multiplied the credits' total size by more than 11 on 1 % of the rows and by 4,600 on the worst,
   offsetting giants on both sides; here every weight lies in [0, 1] and sums to 1.
3. ``to_probability_units``: multiplied by one positive factor per row (the secant of the logistic curve
   between the expected log-odds and the row's), so they add up to ``fraud probability -
   baseline_probability`` (the ``baseline_anomaly_score`` the fraud service reports for a hybrid).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.ensemble._iforest import _average_path_length

METHOD = "saabas_path_attribution"
# A hybrid model: the classifier's Saabas credits, the anomaly score's shared by the forest's (module docstring).
HYBRID_METHOD = "saabas_path_attribution_anomaly_input_shared_by_forest_contributions"


def subtree_means(tree: Any, leaf_path_length: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Per node of a fitted ``tree_``, the mean ``leaf_path_length`` over the training samples that
    reached it (the leaf's own value at a leaf), bottom-up one depth level at a time."""
    samples = tree.n_node_samples.astype(np.float64)
    total = leaf_path_length * samples  # right at leaves; internal nodes are overwritten below
    internal = tree.children_left != -1
    for level in range(int(depth.max()), -1, -1):
        nodes = np.flatnonzero(internal & (depth == level))
        total[nodes] = total[tree.children_left[nodes]] + total[tree.children_right[nodes]]
    return total / samples


def expected_path_lengths(tree: Any) -> np.ndarray:
    """``subtree_means`` with the leaf path length ``score_samples`` uses (root at depth 0)."""
    depth = tree.compute_node_depths().astype(np.float64) - 1.0
    leaf = depth + _average_path_length(tree.n_node_samples)
    return subtree_means(tree, leaf, depth)


def normaliser(model: Any) -> float:
    """c(max_samples): the anomaly score is 2 ** (-mean path length / c)."""
    return float(_average_path_length(np.array([model.max_samples_]))[0])


def baseline_path_length(model: Any) -> float:
    """Where the contributions start: the trees' expected path lengths, averaged."""
    return float(np.mean([expected_path_lengths(e.tree_)[0] for e in model.estimators_]))


def path_contributions(model: Any, scaled_rows: np.ndarray) -> np.ndarray:
    """(n_rows, n_features) Saabas credits of each row's mean path length, from the fitted forest."""
    X = np.asarray(scaled_rows, dtype=np.float32)
    n_rows, n_features = X.shape
    credits = np.zeros(n_rows * n_features)
    subsample = model._max_features != model.n_features_in_  # as IsolationForest.score_samples does
    for estimator, features in zip(model.estimators_, model.estimators_features_, strict=True):
        tree = estimator.tree_
        expected = expected_path_lengths(tree)
        path = estimator.decision_path(X[:, features] if subsample else X)  # nodes in root-to-leaf order
        row = np.repeat(np.arange(n_rows), np.diff(path.indptr))
        same_row = row[1:] == row[:-1]  # consecutive (parent, child) pairs, not across two rows
        parent, child = path.indices[:-1][same_row], path.indices[1:][same_row]
        tested = tree.feature[parent]
        if subsample:
            tested = np.asarray(features)[tested]
        np.add.at(credits, row[1:][same_row] * n_features + tested, expected[child] - expected[parent])
    return credits.reshape(n_rows, n_features) / len(model.estimators_)


def to_anomaly_units(credits: np.ndarray, baseline: float, c: float) -> np.ndarray:
    """Path-length credits (one row or a matrix) as shares of ``anomaly_score - baseline anomaly``.
    Row by row in scalar arithmetic: one row is the /predict path, where a dozen numpy calls on a
    16-vector cost more than the attribution itself, and both paths then agree to the bit."""
    credits = np.asarray(credits, dtype=np.float64)
    if credits.ndim == 1:
        return credits * _secant_slope(float(credits.sum()), baseline, c)
    slopes = [_secant_slope(float(moved), baseline, c) for moved in credits.sum(axis=1)]
    return credits * np.array(slopes)[:, None]


def _secant_slope(moved: float, baseline: float, c: float) -> float:
    """Slope of 2 ** (-h / c) between the baseline and baseline + moved; its tangent when they coincide."""
    start = math.pow(2.0, -baseline / c)
    if abs(moved) < 1e-12:
        return -math.log(2.0) / c * start
    return (math.pow(2.0, -(baseline + moved) / c) - start) / moved


def baseline_anomaly_score(baseline: float, c: float) -> float:
    return float(2.0 ** (-baseline / c))


def classifier_path_contributions(classifier: Any, rows: np.ndarray) -> tuple[np.ndarray, float]:
    """Saabas credits of a binary ``HistGradientBoostingClassifier``'s log-odds, (n_rows, n_features), and
    the log-odds they start from. As for the forest, each node's expectation is the mean leaf value of the
    training samples under it (by ``count``), which is what shap's ``approximate=True`` uses: scikit-learn's
    own internal ``value`` is a Newton step, not that mean."""
    X = np.asarray(rows, dtype=np.float64)
    n_rows, n_features = X.shape
    credits = np.zeros((n_rows, n_features))
    start = float(np.ravel(classifier._baseline_prediction)[0])
    for (predictor,) in classifier._predictors:
        nodes = predictor.nodes
        leaf = nodes["is_leaf"].astype(bool)
        expected = boosted_node_means(nodes)
        start += expected[0]
        at = np.zeros(n_rows, dtype=np.intp)
        for _ in range(int(nodes["depth"].max())):
            inner = ~leaf[at]
            tested = nodes["feature_idx"][at]
            values = X[np.arange(n_rows), tested]
            missing_left = nodes["missing_go_to_left"][at].astype(bool)
            left = (values <= nodes["num_threshold"][at]) | (np.isnan(values) & missing_left)
            child = np.where(inner, np.where(left, nodes["left"][at], nodes["right"][at]), at).astype(np.intp)
            np.add.at(credits, (np.arange(n_rows)[inner], tested[inner]), (expected[child] - expected[at])[inner])
            at = child
    return credits, start


def boosted_node_means(nodes: np.ndarray) -> np.ndarray:
    """Per node of a fitted boosting predictor's ``nodes``, the mean leaf value of the training samples
    under it (by ``count``), bottom-up one depth level at a time (children sit one level below)."""
    leaf = nodes["is_leaf"].astype(bool)
    total = np.where(leaf, nodes["value"] * nodes["count"], 0.0)
    for level in range(int(nodes["depth"].max()), -1, -1):
        inner = np.flatnonzero(~leaf & (nodes["depth"] == level))
        total[inner] = total[nodes["left"][inner]] + total[nodes["right"][inner]]
    return total / nodes["count"]


def anomaly_contributions(model: Any, scaled_rows: np.ndarray) -> np.ndarray:
    """(n_rows, n_features) shares of each row's anomaly score above the baseline (batch path)."""
    credits = path_contributions(model, scaled_rows)
    return to_anomaly_units(credits, baseline_path_length(model), normaliser(model))


def fold_anomaly_input(credits: np.ndarray, forest_shares: np.ndarray) -> np.ndarray:
    """A hybrid classifier's credits (one row or a matrix; the anomaly score's last) over the model
    features only: the anomaly score's credit shared by the forest's contributions ``forest_shares`` of
    the same rows (see the module docstring). Each row's total is kept. The same element-wise operations
    and per-row sums for one row (a handful of numpy calls: the /predict path) and a matrix, so both agree
    to the bit."""
    credits = np.asarray(credits, dtype=np.float64)
    shares = np.asarray(forest_shares, dtype=np.float64)
    net = shares.sum(axis=-1, keepdims=True)  # the anomaly score's move from the forest's baseline
    movers = shares * (shares * net > 0)  # the features that moved it that way (the others: 0)
    moved = movers.sum(axis=-1, keepdims=True)
    if not moved.all():  # no net move: every share 0, or they cancel exactly; then by size, else evenly
        size = np.abs(shares)
        size[~(size.sum(axis=-1) > 0)] = 1.0
        movers = np.where(moved != 0, movers, size)
        moved = movers.sum(axis=-1, keepdims=True)
    return credits[..., :-1] + credits[..., -1:] * (movers / moved)


def to_probability_units(credits: np.ndarray, start: float) -> np.ndarray:
    """Log-odds credits (one row or a matrix) as shares of ``fraud probability - baseline_probability``:
    each row times the secant of the logistic curve between ``start`` and ``start + its total``
    (positive: signs and ranking kept). Row by row in scalar arithmetic, as ``to_anomaly_units``."""
    credits = np.asarray(credits, dtype=np.float64)
    if credits.ndim == 1:
        return credits * _logistic_secant(float(credits.sum()), start)
    return credits * np.array([_logistic_secant(float(moved), start) for moved in credits.sum(axis=1)])[:, None]


def _logistic_secant(moved: float, start: float) -> float:
    if abs(moved) < 1e-12:
        return _logistic(start) * (1.0 - _logistic(start))
    return (_logistic(start + moved) - _logistic(start)) / moved


def _logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def baseline_probability(start: float) -> float:
    """Where a hybrid model's contributions start: the logistic of the classifier's expected log-odds."""
    return _logistic(start)


def hybrid_contributions(credits: np.ndarray, start: float, forest_shares: np.ndarray) -> np.ndarray:
    """A hybrid model's contributions over the model features: its classifier's log-odds ``credits``
    (anomaly score's last) from ``start``, folded by the forest's ``forest_shares``, in probability units."""
    return to_probability_units(fold_anomaly_input(credits, forest_shares), start)


def model_contributions(loaded: Any, features: np.ndarray) -> tuple[np.ndarray, float]:
    """The reference batch path, either model kind (an ``ml_model.artifacts.LoadedModel``, rows of raw
    features in ``loaded.feature_columns`` order): (n_rows, n_features) contributions and the baseline
    they start from, with scikit-learn's own trees."""
    model = loaded.model
    scaled = loaded.scaler.transform(np.asarray(features, dtype=np.float64))
    shares = anomaly_contributions(model, scaled)
    if loaded.classifier is None:
        return shares, baseline_anomaly_score(baseline_path_length(model), normaliser(model))
    anomaly = -model.score_samples(scaled)
    credits, start = classifier_path_contributions(loaded.classifier, np.column_stack([features, anomaly]))
    return hybrid_contributions(credits, start, shares), baseline_probability(start)
