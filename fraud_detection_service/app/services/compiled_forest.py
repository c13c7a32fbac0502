"""A fitted IsolationForest flattened into numpy arrays, scored by a vectorised tree traversal.

scikit-learn's ``score_samples`` walks every tree through ``tree.apply`` with joblib and input
validation around it: milliseconds for one row, which would dominate /predict. Here every tree's nodes
sit in one set of flat arrays (children as global node indices, leaves pointing at themselves), so
scoring n rows is ``max_depth`` rounds of fancy indexing over an (n, n_trees) matrix of node indices.

The result equals ``IsolationForest.score_samples`` (the test suite checks |diff| < 1e-9): inputs are
rounded to float32 as scikit-learn does, NaN follows each node's ``missing_go_to_left``, and each leaf
carries its depth plus the average path length of the samples left in it, minus one.

The same traversal explains a score: ``explain_one`` / ``explain_samples`` also return each feature's
credit in the row's mean path length by the Saabas path attribution of ``ml_model.attribution`` (what
``shap.TreeExplainer(forest).shap_values(x, approximate=True)`` computes; tested to 1e-9).

A path's credits depend on its leaf only, so they are tabled per leaf (``_leaf_credits``): explaining a
row is one lookup per tree once its leaves are known, added tree after tree on both paths, which therefore
agree to the bit. Many rows at once (/predict/batch) find their leaves with each tree's own compiled
``apply`` (one C loop per tree; the numpy rounds above cost three times as much over a matrix).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from sklearn.ensemble import IsolationForest

from app.services.tree_walk import SlotArrays, interleaved_children, leaves, leaves_one
from ml_model.attribution import subtree_means


def average_path_length(n_samples: np.ndarray) -> np.ndarray:
    """Expected path length of an unsuccessful search in a binary search tree of n samples
    (the correction for leaves that still hold several training samples)."""
    n = np.asarray(n_samples, dtype=np.float64)
    result = np.zeros_like(n)
    result[n == 2] = 1.0
    many = n > 2
    result[many] = 2.0 * (np.log(n[many] - 1.0) + np.euler_gamma) - 2.0 * (n[many] - 1.0) / n[many]
    return result


@dataclass(frozen=True)
class CompiledForest:
    feature: np.ndarray  # (n_nodes,) column of the input row tested at each node (0 at leaves)
    threshold: np.ndarray  # (n_nodes,) go left when x <= threshold
    left: np.ndarray  # (n_nodes,) global index of the left child (the node itself at leaves)
    right: np.ndarray
    missing_left: np.ndarray  # (n_nodes,) bool: NaN goes left
    leaf_path_length: np.ndarray  # (n_nodes,) depth + average_path_length(leaf size) - 1 at leaves
    # (n_nodes,) mean leaf_path_length of the training samples under each node (the leaf's own at a leaf)
    expected_path_length: np.ndarray
    roots: np.ndarray  # (n_trees,) global index of each tree's root
    max_depth: int
    denominator: float  # n_trees * average_path_length(max_samples)
    n_features: int
    # Each tree's scikit-learn ``Tree`` and the input columns it sees (None: all), for ``apply`` on many rows.
    trees: tuple[tuple[object, np.ndarray | None], ...] = ()

    @classmethod
    def from_sklearn(cls, forest: IsolationForest) -> CompiledForest:
        # Mirrors IsolationForest: trees see the feature subset only when max_features < n_features.
        subsample = forest._max_features != forest.n_features_in_
        parts: dict[str, list[np.ndarray]] = {k: [] for k in cls._node_fields()}
        roots, offset, max_depth = [], 0, 0
        for estimator, features in zip(forest.estimators_, forest.estimators_features_, strict=True):
            tree = estimator.tree_
            n = tree.node_count
            is_leaf = tree.children_left == -1
            own = np.arange(n)
            depth = tree.compute_node_depths().astype(np.float64)
            local_feature = np.where(is_leaf, 0, tree.feature)
            parts["feature"].append(np.asarray(features)[local_feature] if subsample else local_feature)
            parts["threshold"].append(np.where(is_leaf, np.inf, tree.threshold))
            parts["left"].append(np.where(is_leaf, own, tree.children_left) + offset)
            parts["right"].append(np.where(is_leaf, own, tree.children_right) + offset)
            parts["missing_left"].append(np.asarray(tree.missing_go_to_left, dtype=bool))
            leaf_path_length = depth + average_path_length(tree.n_node_samples) - 1.0
            parts["leaf_path_length"].append(leaf_path_length)
            parts["expected_path_length"].append(subtree_means(tree, leaf_path_length, depth))
            roots.append(offset)
            offset += n
            max_depth = max(max_depth, int(depth.max()) - 1)
        arrays = {k: np.concatenate(v) for k, v in parts.items()}
        denominator = len(forest.estimators_) * float(average_path_length(np.array([forest.max_samples_]))[0])
        compiled = cls(
            feature=arrays["feature"].astype(np.intp),
            threshold=arrays["threshold"].astype(np.float64),
            left=arrays["left"].astype(np.intp),
            right=arrays["right"].astype(np.intp),
            missing_left=arrays["missing_left"],
            leaf_path_length=arrays["leaf_path_length"],
            expected_path_length=arrays["expected_path_length"],
            roots=np.asarray(roots, dtype=np.intp),
            max_depth=max_depth,
            denominator=denominator,
            n_features=int(forest.n_features_in_),
            trees=tuple((estimator.tree_, np.asarray(features) if subsample else None)
                        for estimator, features in zip(forest.estimators_, forest.estimators_features_, strict=True)),
        )
        compiled._leaf_credits  # noqa: B018 - tabled at load (~0.1 s for the default forest), not on a request
        return compiled

    @staticmethod
    def _node_fields() -> tuple[str, ...]:
        return ("feature", "threshold", "left", "right", "missing_left", "leaf_path_length", "expected_path_length")

    def score_samples(self, rows: np.ndarray) -> np.ndarray:
        """Same as ``IsolationForest.score_samples``: the lower, the more abnormal."""
        return self._score(self._leaves(self._rounded(rows)))

    def explain_samples(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``score_samples(rows)`` and the (n_rows, n_features) path attribution of each row's mean path
        length (see the module docstring), equal to the bit to ``explain_one`` of each row."""
        reached = self._leaves(self._rounded(rows))
        credits, leaf_row = self._leaf_credits
        by_tree = leaf_row[reached].T.copy()  # (trees, rows): each tree's leaf rows, contiguous
        total = np.zeros((reached.shape[0], self.n_features))
        taken = np.empty_like(total)
        for rows_of_tree in by_tree:  # tree after tree, as explain_one's sum(axis=0) adds them
            np.take(credits, rows_of_tree, axis=0, out=taken)
            total += taken
        return self._score(reached), total

    @property
    def expected_mean_path_length(self) -> float:
        """Where the contributions start from: the trees' expected path lengths, averaged."""
        return float(self.expected_path_length[self.roots].mean())

    def _rounded(self, rows: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # values beyond float32 become ±inf, as in scikit-learn
            X = np.asarray(rows, dtype=np.float32).astype(np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected rows of {self.n_features} features, got shape {X.shape}")
        return X

    def _leaves(self, X: np.ndarray) -> np.ndarray:
        """The (n_rows, n_trees) leaf each row reaches in each tree (rows already rounded by ``_rounded``)."""
        if not self.trees or np.isnan(X).any():  # NaN routing: the numpy rounds follow missing_left themselves
            return leaves(X, roots=self.roots, feature=self.feature, threshold=self.threshold, left=self.left,
                          right=self.right, missing_left=self.missing_left, max_depth=self.max_depth)
        X32 = np.ascontiguousarray(X, dtype=np.float32)  # exact: X holds float32 values
        reached = np.empty((X.shape[0], len(self.trees)), dtype=np.intp)
        for t, (tree, columns) in enumerate(self.trees):
            reached[:, t] = tree.apply(X32 if columns is None else np.ascontiguousarray(X32[:, columns]))  # type: ignore[attr-defined]
        reached += self.roots
        return reached

    def _score(self, leaves: np.ndarray) -> np.ndarray:
        depths = self.leaf_path_length[leaves].sum(axis=1)
        if self.denominator == 0:  # a forest fitted on one sample: scikit-learn defines the score as -1
            return -np.ones(leaves.shape[0])
        return -(2.0 ** (-depths / self.denominator))

    def score_one(self, row: np.ndarray) -> float:
        """``score_samples`` of one row. Without NaN, each round is a handful of numpy calls on the
        (n_trees,) node vector: "go right" is ``x > threshold`` (the negation of ``x <= threshold``
        for every non-NaN value, ±inf included) and picks from the interleaved children array."""
        with np.errstate(over="ignore"):
            x = np.asarray(row, dtype=np.float32).astype(np.float64).reshape(-1)
        if x.shape[0] != self.n_features or np.isnan(x).any():
            return float(self.score_samples(x.reshape(1, -1))[0])  # NaN routing and width errors
        if self.denominator == 0:
            return -1.0
        return self._score_one(leaves_one(x, slots=self._slots, max_depth=self.max_depth))

    def explain_one(self, row: np.ndarray) -> tuple[float, np.ndarray]:
        """``explain_samples`` of one row on ``score_one``'s traversal (the /predict path): the leaves'
        credits, read from ``_leaf_credits`` and added tree after tree."""
        with np.errstate(over="ignore"):
            x = np.asarray(row, dtype=np.float32).astype(np.float64).reshape(-1)
        if x.shape[0] != self.n_features or np.isnan(x).any() or self.denominator == 0:
            scores, contributions = self.explain_samples(x.reshape(1, -1))
            return float(scores[0]), contributions[0]
        nodes = leaves_one(x, slots=self._slots, max_depth=self.max_depth)
        credits, leaf_row = self._leaf_credits
        # take(axis=0) gathers the 200 leaves' rows in a quarter of fancy indexing's time, and einsum adds
        # them tree after tree (each column in row order, as sum(axis=0) and explain_samples do) in half
        # sum's time: 17 -> 5 µs on the default forest.
        return self._score_one(nodes), np.einsum("ij->j", credits.take(leaf_row.take(nodes), axis=0))

    def _score_one(self, nodes: np.ndarray) -> float:
        # Kept as a one-element array: numpy's power, like score_samples, so both paths agree to the bit
        # (Python's float ** differs in the last place now and then).
        depths = self.leaf_path_length.take(nodes).sum(keepdims=True)
        return float(-(2.0 ** (-depths / self.denominator))[0])

    @cached_property
    def _step_gain(self) -> np.ndarray:
        """Change of expected path length going from node i to its left (2i) or right (2i+1) child, over
        the number of trees (the credits are a mean over the forest); 0 at leaves, their own children."""
        gain = self.expected_path_length[self._children] - np.repeat(self.expected_path_length, 2)
        return gain / self.roots.size

    @cached_property
    def _leaf_credits(self) -> tuple[np.ndarray, np.ndarray]:
        """Per leaf, the credits of its tree's path from the root down to it (each step's ``_step_gain`` to
        the feature its parent tests, added root first): an (n_leaves, n_features) table, and each node's
        row in it (-1 for internal nodes). A row's credits are then one lookup per tree, whatever the depth."""
        n_nodes = self.left.size
        own = np.arange(n_nodes)
        credits = np.zeros((n_nodes, self.n_features))
        level = self.roots
        for _ in range(self.max_depth):  # top-down: a child's credits are its parent's plus the step to it
            inner = level[self.left[level] != level]
            for child, went_right in ((self.left[inner], 0), (self.right[inner], 1)):
                credits[child] = credits[inner]
                credits[child, self.feature[inner]] += self._step_gain[2 * inner + went_right]
            level = np.concatenate([self.left[inner], self.right[inner]])
        is_leaf = self.left == own
        leaf_row = np.full(n_nodes, -1, dtype=np.intp)
        leaf_row[is_leaf] = np.arange(int(is_leaf.sum()))
        return credits[is_leaf], leaf_row

    @cached_property
    def _slots(self) -> SlotArrays:
        return SlotArrays.of(roots=self.roots, feature=self.feature, threshold=self.threshold, left=self.left,
                             right=self.right)

    @cached_property
    def _children(self) -> np.ndarray:
        """Left and right child of node i at 2i and 2i+1."""
        return interleaved_children(self.left, self.right)
