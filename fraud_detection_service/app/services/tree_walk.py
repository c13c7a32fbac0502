"""Traversal of trees flattened into arrays (the compiled forest and the compiled classifier).

Every tree's nodes sit in one set of flat arrays: the column tested, the threshold (go left iff
``x <= threshold``), the children as global node indices, with leaves pointing at themselves and a
``+inf`` threshold, so walking ``max_depth`` rounds leaves every row on its leaf in every tree.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np


def leaves(X: np.ndarray, *, roots: np.ndarray, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray,
           right: np.ndarray, missing_left: np.ndarray, max_depth: int) -> np.ndarray:
    """(n_rows, n_trees) leaf node of each row in each tree; NaN follows each node's ``missing_left``."""
    rounds = walk(X, roots=roots, feature=feature, threshold=threshold, left=left, right=right,
                  missing_left=missing_left, max_depth=max_depth)
    return deque(rounds, maxlen=1)[0]  # only the last round's nodes are kept


def walk(X: np.ndarray, *, roots: np.ndarray, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray,
         right: np.ndarray, missing_left: np.ndarray, max_depth: int) -> Iterator[np.ndarray]:
    """The (n_rows, n_trees) nodes at the roots, then after each of the ``max_depth`` rounds (the path
    attribution needs every step, the score only the last)."""
    row_index = np.arange(X.shape[0])[:, None]
    nodes = np.broadcast_to(roots, (X.shape[0], roots.size))
    yield nodes
    for _ in range(max_depth):
        values = X[row_index, feature[nodes]]
        go_left = (values <= threshold[nodes]) | (np.isnan(values) & missing_left[nodes])
        nodes = np.where(go_left, left[nodes], right[nodes])
        yield nodes


def leaves_one(x: np.ndarray, *, slots: SlotArrays, max_depth: int) -> np.ndarray:
    """(n_trees,) leaf node of one row without NaN: each round is a handful of numpy calls on the vector
    of the trees' current nodes, each held as its first child slot 2i (``SlotArrays``). "Go right" is
    ``x > threshold`` (the negation of ``x <= threshold`` for every non-NaN value, ±inf included)."""
    at, feature, threshold, children = slots
    for _ in range(max_depth):
        at = children[at + (x[feature[at]] > threshold[at])]
    return at >> 1


class SlotArrays(NamedTuple):
    """A forest's arrays indexed by child slot (node i at 2i and 2i + 1) for ``leaves_one``: walking slots
    rather than nodes saves the ``2 * nodes`` of every round (one numpy call in six)."""

    roots: np.ndarray  # 2 * each tree's root
    feature: np.ndarray  # feature[2i] = feature[2i + 1] = node i's
    threshold: np.ndarray
    children: np.ndarray  # 2 * left child of i at 2i, 2 * right child at 2i + 1

    @classmethod
    def of(cls, *, roots: np.ndarray, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray,
           right: np.ndarray) -> SlotArrays:
        return cls(2 * roots, np.repeat(feature, 2), np.repeat(threshold, 2), 2 * interleaved_children(left, right))


def interleaved_children(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.column_stack([left, right]).reshape(-1)
