"""The batch model's nonlinear candidate: a small, regularised gradient-boosted tree ensemble on the 23
indicators, fitted from scratch.

It competes on its live record beside the ridge windows (engine.batch.track) and serves when it predicts
best: on the bundled BTC candles it did for most of 2018-2022 (the interactions a linear model cannot
draw, e.g. the reversal that depends on volatility), on the scenario markets it rarely did. Settings
chosen on the bundled candles: few shallow trees, a small learning rate and L2, so probabilities stay
close to the base rate unless the data says otherwise. The fitted trees are copied into flat numpy arrays
(:class:`FlatTrees`): prediction costs tens of microseconds, and the saved model does not depend on
sklearn's pickle format. Pure (no I/O).
"""
from __future__ import annotations

import os
import threading
from functools import cache

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import ThreadpoolController

from engine.features import FEATURE_COLUMNS

HGB_PARAMS = dict(
    max_iter=15, learning_rate=0.07, max_leaf_nodes=6, min_samples_leaf=100,
    l2_regularization=5.0, max_bins=16, early_stopping=False, random_state=0,
)
WIDTH = len(FEATURE_COLUMNS)  # the trees read the indicators: the first columns of every input set

_FIT_LOCK = threading.Lock()  # the OpenMP limit is process-wide: one fit at a time sets and restores it


def _new_fit_lock() -> None:
    """In a forked child (a background-callback retrain): a fit that another thread of the parent was running
    at the fork (e.g. the scheduler's outcome warm-up) left the lock held by a thread that does not exist
    here, and the child's own fit would wait for it forever."""
    global _FIT_LOCK
    _FIT_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_new_fit_lock)


@cache
def _threadpools() -> ThreadpoolController:
    return ThreadpoolController()


class FlatTrees:
    """Fitted boosted trees as flat arrays; ``p_up(X)`` reads the first WIDTH columns of X (NaN allowed).

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(600, WIDTH + 2))
    >>> model = fit_trees(X, (X[:, 0] > 0).astype(int))
    >>> p = model.p_up(X[:200])
    >>> bool(((p > 0) & (p < 1)).all()), bool(np.mean((p >= 0.5) == (X[:200, 0] > 0)) > 0.8)
    (True, True)
    """

    def __init__(self, baseline: float, roots: np.ndarray, feature: np.ndarray, threshold: np.ndarray,
                 nan_right: np.ndarray, children: np.ndarray, value: np.ndarray, depth: int):
        # All trees' nodes in one flat numbering; node i's children are children[2i] (left) and
        # children[2i + 1] (right); a leaf's children are itself, so extra steps stay put.
        self.baseline = baseline  # raw score (log-odds) before the first tree
        self.roots, self.feature, self.threshold, self.nan_right = roots, feature, threshold, nan_right
        self.children, self.value, self.depth = children, value, depth

    @classmethod
    def from_estimator(cls, est: HistGradientBoostingClassifier) -> "FlatTrees":
        """Copy a fitted binary HistGradientBoostingClassifier (numeric features only)."""
        trees = [p[0].nodes for p in est._predictors]
        sizes = np.array([len(nodes) for nodes in trees])
        roots = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nodes = np.concatenate(trees)
        offset = np.repeat(roots, sizes)
        leaf = nodes["is_leaf"].astype(bool)
        own = np.arange(len(nodes))
        left = np.where(leaf, own, nodes["left"] + offset)
        right = np.where(leaf, own, nodes["right"] + offset)
        return cls(
            baseline=float(np.ravel(est._baseline_prediction)[0]), roots=roots,
            feature=nodes["feature_idx"].astype(np.int64), threshold=nodes["num_threshold"].astype(np.float64),
            nan_right=~nodes["missing_go_to_left"].astype(bool), children=np.column_stack([left, right]).ravel(),
            value=np.where(leaf, nodes["value"], 0.0), depth=int(nodes["depth"].max()),
        )

    def p_up(self, X: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(X, dtype=np.float64)[:, :WIDTH])
        has_nan = bool(np.isnan(x).any())
        row_start = (np.arange(x.shape[0]) * x.shape[1])[:, None]
        flat_x = x.ravel()
        node = self.roots[None, :]
        for _ in range(self.depth):
            v = flat_x.take(row_start + self.feature.take(node))
            go_right = v > self.threshold.take(node)
            if has_nan:
                go_right = np.where(np.isnan(v), self.nan_right.take(node), go_right)
            node = self.children.take(2 * node + go_right)
        return 1.0 / (1.0 + np.exp(-(self.baseline + self.value.take(node).sum(axis=1))))


def fit_trees(X: np.ndarray, y: np.ndarray) -> FlatTrees:
    """Fit on the first WIDTH columns of X (the indicators) and 0/1 labels y, on one OpenMP thread (faster than
    several on data this small, and it leaves the other core free): ~15 ms on 2,000 rows."""
    x = np.asarray(X, dtype=np.float64)[:, :WIDTH]
    with _FIT_LOCK, _threadpools().limit(limits=1, user_api="openmp"):
        est = HistGradientBoostingClassifier(**HGB_PARAMS).fit(x, np.asarray(y).astype(np.int64))
    return FlatTrees.from_estimator(est)
