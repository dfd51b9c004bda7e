"""Margin -> probability: an online Platt (sigmoid) fit on a model's own recent margins."""
from __future__ import annotations

import numpy as np

EPS = 1e-6  # probabilities stay inside (0, 1)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))  # overflow-free logistic


class PlattCalibrator:
    """P(y=1 | margin) = sigmoid(a * margin + b), refit on the last ``memory`` (margin, label) pairs
    (a few Newton steps from the previous fit per update).

    Fed test-then-train: the margins are those the model gave *before* learning the labels.
    Platt's smoothed targets and a small ridge pull towards (a=1, b=0) keep the fit stable on
    few or separable points; ``a`` is kept >= ``min_slope`` so the map is increasing in the margin.

    >>> c = PlattCalibrator()
    >>> bool(c.predict(np.array([-1.0]))[0] < 0.5 < c.predict(np.array([1.0]))[0])
    True
    """

    def __init__(self, memory: int = 500, ridge: float = 1.0, min_slope: float = 1e-3, iterations: int = 3):
        self.memory, self.ridge, self.min_slope, self.iterations = memory, ridge, min_slope, iterations
        self.a, self.b = 1.0, 0.0
        self._margins = np.empty(0)
        self._labels = np.empty(0)

    def predict(self, margins: np.ndarray) -> np.ndarray:
        return np.clip(sigmoid(self.a * np.asarray(margins, dtype=float) + self.b), EPS, 1.0 - EPS)

    def update(self, margins: np.ndarray, labels: np.ndarray) -> "PlattCalibrator":
        self._margins = np.concatenate([self._margins, np.asarray(margins, dtype=float)])[-self.memory:]
        self._labels = np.concatenate([self._labels, np.asarray(labels, dtype=float)])[-self.memory:]
        self._fit()
        return self

    def _fit(self) -> None:
        """Newton steps on the ridge-penalised log loss; the 2x2 system is solved in closed form."""
        m, y = self._margins, self._labels
        positives = y.sum()
        negatives = len(y) - positives
        target = np.where(y > 0.5, (positives + 1) / (positives + 2), 1 / (negatives + 2))
        a, b = self.a, self.b
        for _ in range(self.iterations):
            p = sigmoid(a * m + b)
            residual, w = p - target, p * (1 - p)
            wm = w * m
            g_a, g_b = residual @ m + self.ridge * (a - 1.0), residual.sum() + self.ridge * b
            h_aa, h_ab, h_bb = wm @ m + self.ridge, wm.sum(), w.sum() + self.ridge
            det = h_aa * h_bb - h_ab * h_ab  # > 0: the ridge makes the Hessian positive definite
            a, b = a - (h_bb * g_a - h_ab * g_b) / det, b - (h_aa * g_b - h_ab * g_a) / det
        self.a, self.b = max(float(a), self.min_slope), float(b)
