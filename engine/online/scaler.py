"""Incremental feature scaling that follows a drifting market: exponentially weighted mean/variance."""
from __future__ import annotations

import numpy as np

WINSOR = 8.0


class EWMScaler:
    """Standardise features with exponentially weighted statistics (half-life in samples).

    A batch update is exact and vectorised; until the first update it is the identity. Early on
    (few samples) it is the plain mean/std; a feature without spread is only centred. Robust to
    bad rows: a missing value (NaN) counts as the current mean, and once ``settled`` rows were seen
    a value is winsorised to mean +- ``WINSOR`` x scale before it updates the statistics, so one
    absurd sample cannot drag the scale the models depend on.

    >>> s = EWMScaler(halflife=100)
    >>> s = s.partial_fit(np.array([[1.0], [3.0]]))
    >>> s.mean_.round(2), s.scale_.round(2)
    (array([2.]), array([1.]))
    """

    settled = 50  # (scalers saved before winsorising existed get it from here)

    def __init__(self, halflife: float = 500.0, min_std: float = 1e-6, settled: int = 50):
        self.halflife = float(halflife)
        self.settled = settled
        self.min_std = min_std  # relative to 1 + |mean|
        self._decay = 0.5 ** (1.0 / self.halflife)
        self._w = 0.0
        self.mean_: np.ndarray | None = None
        self.var_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def partial_fit(self, X: np.ndarray) -> "EWMScaler":
        """Blend in a batch (oldest row first): the batch's weighted mean/variance are merged with the
        decayed old ones (Chan et al.'s pairwise update, stable for large means)."""
        X = np.asarray(X, dtype=float)
        n = len(X)
        if n == 0:
            return self
        X = self._robust(X)
        weights = self._decay ** np.arange(n - 1, -1, -1, dtype=float)  # newest row weighs 1
        w_batch = float(weights.sum())
        mean_batch = weights @ X / w_batch
        var_batch = weights @ (X - mean_batch) ** 2 / w_batch
        if self.mean_ is None:
            self._w, self.mean_, self.var_ = w_batch, mean_batch, var_batch
        else:
            w_old = self._w * self._decay ** n
            total = w_old + w_batch
            mean = (w_old * self.mean_ + w_batch * mean_batch) / total
            self.var_ = (w_old * (self.var_ + (self.mean_ - mean) ** 2)
                         + w_batch * (var_batch + (mean_batch - mean) ** 2)) / total
            self._w, self.mean_ = total, mean
        std = np.sqrt(self.var_)
        self.scale_ = np.where(std > self.min_std * (1.0 + np.abs(self.mean_)), std, 1.0)
        return self

    def _robust(self, X: np.ndarray) -> np.ndarray:
        """X with NaN at the current mean and, once settled, extreme values winsorised."""
        if self.mean_ is None:
            known = np.isfinite(X)
            centre = np.where(known, X, 0.0).sum(axis=0) / np.maximum(known.sum(axis=0), 1)
            return np.where(np.isnan(X), centre, X)
        X = np.where(np.isnan(X), self.mean_, X)
        if self._w >= self.settled:
            X = np.clip(X, self.mean_ - WINSOR * self.scale_, self.mean_ + WINSOR * self.scale_)
        return X

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if self.mean_ is None:
            return X
        return (X - self.mean_) / self.scale_
