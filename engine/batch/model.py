"""The batch model: a strongly regularised logistic regression, refitted from scratch on each of a
ladder of windows (and trees beside them, engine.batch.trees), serving the candidate whose live record
is best (engine.batch.track).

Why this model: next-bar direction is nearly a coin flip, so what decides accuracy is how little
noise a fit picks up. On the scenario markets and the bundled BTC/ETH candles a ridge-penalised
logistic regression beat the earlier gradient-boosted trees at every window length (and at a
fifth of the time), and a short window only wins after the market changed: so every window is
fitted, and their predictions on the bars that followed decide which one serves.

Pure (no I/O). Inputs are standardised by the training rows' mean and standard deviation,
clipped to +-``CLIP`` (one wild value cannot swing a fit) and a missing input (NaN) counts as its
mean. The fit is Newton's method on the penalised log loss (a few 40 x 40 solves: ~1-2 ms on
2,000 rows), the intercept unpenalised. Models pickle small: a few arrays per window.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.errors import ValidationError
from engine.features import FEATURE_COLUMNS

PENALTY = 1000.0  # ridge strength on the standardised coefficients (sklearn's C = 0.001)
CLIP = 4.0
NEWTON_STEPS = 12


def as_matrix(X, inputs: tuple[str, ...] = FEATURE_COLUMNS, field: str = "X") -> np.ndarray:
    """Inputs as a float64 (n, len(inputs)) array; a DataFrame is read by name (a missing column is NaN), an
    array of the 23 indicators alone stands for the inputs with the other groups missing."""
    if isinstance(X, pd.DataFrame):
        if not set(FEATURE_COLUMNS) & set(X.columns):
            raise ValidationError(field, f"missing feature columns: {', '.join(FEATURE_COLUMNS[:3])}, ...")
        X = X.reindex(columns=list(inputs))
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim == 2 and arr.shape[1] == len(FEATURE_COLUMNS) < len(inputs) and inputs[:len(FEATURE_COLUMNS)] == \
            FEATURE_COLUMNS:
        arr = np.hstack([arr, np.full((len(arr), len(inputs) - len(FEATURE_COLUMNS)), np.nan)])
    if arr.ndim != 2 or arr.shape[1] != len(inputs):
        raise ValidationError(field, f"must have {len(inputs)} input columns, got shape {arr.shape}")
    return arr


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class RidgeLogit:
    """P(up) = sigmoid(intercept + coef . clip((x - mean) / scale, +-CLIP)), NaN inputs at 0 (the mean)."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray, intercept: float, rows: int):
        self.mean, self.scale, self.coef, self.intercept, self.rows = mean, scale, coef, intercept, rows

    def standardise(self, X: np.ndarray) -> np.ndarray:
        Z = np.clip((X - self.mean) / self.scale, -CLIP, CLIP)
        return np.where(np.isnan(Z), 0.0, Z)

    def p_up(self, X: np.ndarray) -> np.ndarray:
        return _sigmoid(self.standardise(X) @ self.coef + self.intercept)


def fit_ridge_logit(X: np.ndarray, y: np.ndarray, penalty: float = PENALTY) -> RidgeLogit:
    """Fit on (n, d) inputs and 0/1 labels (both classes present).

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 3)); y = (X[:, 0] + rng.normal(size=2000) > 0).astype(int)
    >>> m = fit_ridge_logit(X, y)
    >>> bool(m.coef[0] > 5 * abs(m.coef[1]))
    True
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    known = np.isfinite(X)
    count = np.maximum(known.sum(axis=0), 1)
    mean = np.where(known, X, 0.0).sum(axis=0) / count  # a column without any value is centred at 0
    scale = np.sqrt(np.where(known, (X - mean) ** 2, 0.0).sum(axis=0) / count)
    scale = np.where(scale > 1e-12, scale, 1.0)
    model = RidgeLogit(mean, scale, np.zeros(X.shape[1]), 0.0, len(y))
    A = np.hstack([model.standardise(X), np.ones((len(y), 1))])
    ridge = np.full(A.shape[1], float(penalty))
    ridge[-1] = 1e-8
    beta = np.zeros(A.shape[1])
    rate = float(np.clip(y.mean(), 1e-3, 1 - 1e-3))
    beta[-1] = np.log(rate / (1.0 - rate))
    for _ in range(NEWTON_STEPS):
        p = _sigmoid(A @ beta)
        gradient = A.T @ (p - y) + ridge * beta
        hessian = (A * (p * (1.0 - p))[:, None]).T @ A + np.diag(ridge)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-7:
            break
    model.coef, model.intercept = beta[:-1], float(beta[-1])
    return model


class BatchModel:
    """The fits of every candidate (``fits``: name -> a model with ``p_up(X)``, engine.batch.track) over
    ``inputs``; ``choice`` serves.

    ``predict_proba(X)`` is sklearn-shaped, (n, 2), from the serving candidate; ``p_up(name, X)`` any one's.
    """

    def __init__(self, inputs: tuple[str, ...], fits: dict, choice: str):
        if choice not in fits:
            raise ValidationError("choice", f"no fit for {choice!r}")
        self.inputs, self.fits, self.choice = tuple(inputs), dict(fits), choice

    def p_up(self, name: str, X) -> np.ndarray:
        return self.fits[name].p_up(as_matrix(X, self.inputs))

    def predict_proba(self, X) -> np.ndarray:
        up = self.p_up(self.choice, X)
        return np.column_stack([1.0 - up, up])


def fit_batch_model(X, y, inputs: tuple[str, ...] = FEATURE_COLUMNS, penalty: float = PENALTY) -> BatchModel:
    """One window's fit as a BatchModel (the rows given are the window).

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(600, len(FEATURE_COLUMNS)))
    >>> model = fit_batch_model(X, (X[:, 0] > 0).astype(int))
    >>> p = model.predict_proba(X[:3])
    >>> p.shape, bool(np.allclose(p.sum(axis=1), 1.0))
    ((3, 2), True)
    """
    x = as_matrix(X, inputs)
    labels = np.asarray(y)
    if labels.shape != (x.shape[0],):
        raise ValidationError("y", f"must have one label per row ({x.shape[0]}), got shape {labels.shape}")
    if not np.isin(labels, (0, 1)).all() or len(np.unique(labels)) < 2:
        raise ValidationError("y", "labels must be 0/1 and include both classes")
    return BatchModel(inputs, {"all": fit_ridge_logit(x, labels, penalty)}, "all")
