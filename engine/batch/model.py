"""The batch model: a small, regularised gradient-boosted tree ensemble, fit from scratch.

Pure (no I/O). :func:`fit_batch_model` fits scikit-learn's HistGradientBoostingClassifier
with settings chosen on the bundled candles (see bench/batch_retrain.py): few shallow trees,
a small learning rate and L2 so probabilities stay close to the base rate unless the data
says otherwise (hourly direction is nearly a coin flip; calibration matters more than
accuracy). The fitted trees are copied into flat numpy arrays (:class:`BatchModel`), so
prediction costs tens of microseconds instead of sklearn's ~300 µs per call and the saved
model does not depend on sklearn's pickle format.
"""
from __future__ import annotations

import os
import threading
from functools import cache

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import ThreadpoolController

from engine.errors import ValidationError
from engine.features import FEATURE_COLUMNS

HGB_PARAMS = dict(
    max_iter=15, learning_rate=0.07, max_leaf_nodes=6, min_samples_leaf=100,
    l2_regularization=5.0, max_bins=16, early_stopping=False, random_state=0,
)


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


def as_matrix(X, field: str = "X") -> np.ndarray:
    """Features as a float64 (n, 23) array; a DataFrame is read by FEATURE_COLUMNS names."""
    if isinstance(X, pd.DataFrame):
        missing = [c for c in FEATURE_COLUMNS if c not in X.columns]
        if missing:
            raise ValidationError(field, f"missing feature column(s): {', '.join(missing)}")
        X = X[list(FEATURE_COLUMNS)]
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != len(FEATURE_COLUMNS):
        raise ValidationError(field, f"must have {len(FEATURE_COLUMNS)} feature columns, got shape {arr.shape}")
    return arr


class BatchModel:
    """Fitted boosted trees as flat arrays; ``predict_proba(X)`` like sklearn's, shape (n, 2).

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(600, len(FEATURE_COLUMNS)))
    >>> model = fit_batch_model(X, (X[:, 0] > 0).astype(int))
    >>> p = model.predict_proba(X[:3])
    >>> p.shape, bool(np.allclose(p.sum(axis=1), 1.0))
    ((3, 2), True)
    """

    def __init__(self, baseline: float, roots: np.ndarray, feature: np.ndarray, threshold: np.ndarray,
                 nan_right: np.ndarray, children: np.ndarray, value: np.ndarray, depth: int):
        # All trees' nodes in one flat numbering; node i's children are children[2i] (left) and
        # children[2i + 1] (right); a leaf's children are itself, so extra steps stay put.
        self.baseline = baseline  # raw score (log-odds) before the first tree
        self.roots, self.feature, self.threshold, self.nan_right = roots, feature, threshold, nan_right
        self.children, self.value, self.depth = children, value, depth

    @classmethod
    def from_estimator(cls, est: HistGradientBoostingClassifier) -> "BatchModel":
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

    def predict_proba(self, X) -> np.ndarray:
        x = as_matrix(X)
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
        up = 1.0 / (1.0 + np.exp(-(self.baseline + self.value.take(node).sum(axis=1))))
        return np.column_stack([1.0 - up, up])


def fit_batch_model(X, y) -> BatchModel:
    """Fit the batch model on features X (n, 23) and 0/1 labels y.

    Runs on one OpenMP thread (faster than several on data this small, and leaves the other core
    free): ~20-40 ms on 2,160 rows on the reference 2-core machine.
    """
    x = as_matrix(X)
    labels = np.asarray(y)
    if labels.shape != (x.shape[0],):
        raise ValidationError("y", f"must have one label per row ({x.shape[0]}), got shape {labels.shape}")
    if not np.isin(labels, (0, 1)).all() or len(np.unique(labels)) < 2:
        raise ValidationError("y", "labels must be 0/1 and include both classes")
    with _FIT_LOCK, _threadpools().limit(limits=1, user_api="openmp"):
        est = HistGradientBoostingClassifier(**HGB_PARAMS).fit(x, labels.astype(np.int64))
    return BatchModel.from_estimator(est)
