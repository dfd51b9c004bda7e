"""The yardstick every evaluation reports beside the hybrid: a plain rolling logistic regression.

scikit-learn's LogisticRegression (its defaults: L2, C = 1) on four standardised price inputs
(``INPUTS``: the last bar's return, the 10-bar momentum and the distance to the 20- and 50-bar
means), refitted every ``every`` bars on the labels known from the last ``window_days`` days --
the simple model a sceptical reader would try first. The hybrid should be at least as good.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from engine.features import FEATURE_COLUMNS

INPUTS = ("return_1", "momentum_10", "dist_sma_20", "dist_sma_50")
WINDOW_DAYS = 14
DAY_MS = 86_400_000


def rolling_logistic(X: np.ndarray, y: np.ndarray, valid: np.ndarray, open_time: np.ndarray, bars: range,
                     horizon: int, window_days: float = WINDOW_DAYS) -> np.ndarray:
    """P(up) per bar: at each bar u of ``bars`` a fit on the known labels (bars <= u - horizon) that opened within
    ``window_days`` of the newest known one predicts the bars up to the next fit. X holds FEATURE_COLUMNS first."""
    columns = [FEATURE_COLUMNS.index(name) for name in INPUTS]
    x = X[:, columns]
    labelled = valid & np.isfinite(y)
    p = np.full(len(y), np.nan)
    for u in bars:
        known = max(0, u - horizon + 1)
        rows = np.flatnonzero(labelled[:known] & (open_time[:known] > open_time[max(known - 1, 0)] - window_days * DAY_MS))
        if len(rows) < 30 or not 0 < y[rows].sum() < len(rows):
            continue
        mean, scale = x[rows].mean(axis=0), x[rows].std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        model = LogisticRegression().fit((x[rows] - mean) / scale, y[rows].astype(int))
        ahead = np.flatnonzero(valid[u:u + bars.step]) + u
        if len(ahead):
            p[ahead] = model.predict_proba((x[ahead] - mean) / scale)[:, 1]
    return p
