"""Predictions to trade directions: LONG when the model says up, SHORT when it says down,
only when its confidence exceeds ``signal_confidence_threshold``.

Directions are ints: +1 LONG, -1 SHORT, 0 no signal.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from engine.errors import ValidationError

LONG, SHORT = "LONG", "SHORT"
SIDES = {1: LONG, -1: SHORT}
DIRECTIONS = {LONG: 1, SHORT: -1}


def directions(prob_up: np.ndarray, threshold: float) -> np.ndarray:
    """Vectorised rule over P(up): +1 where P(up) > threshold, -1 where P(down) > threshold, else 0.

    >>> directions(np.array([0.7, 0.5, 0.2, float("nan")]), 0.6).tolist()
    [1, 0, -1, 0]
    """
    p = np.asarray(prob_up, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(p > threshold, 1, np.where(1.0 - p > threshold, -1, 0)).astype(np.int8)


def signal_side(prediction: int, confidence: float, threshold: float) -> str | None:
    """LONG/SHORT for a hybrid prediction (1 up / 0 down) whose confidence (in the predicted
    direction) exceeds the threshold; None otherwise.

    >>> signal_side(0, 0.61, 0.6), signal_side(1, 0.6, 0.6)
    ('SHORT', None)
    """
    if prediction not in (0, 1) or isinstance(prediction, bool):
        raise ValidationError("ensemble_prediction", "must be 1 (up) or 0 (down)")
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) \
            or not math.isfinite(confidence) or not 0.0 <= confidence <= 1.0:
        raise ValidationError("ensemble_confidence", "must be a number between 0 and 1")
    if confidence <= threshold:
        return None
    return LONG if prediction == 1 else SHORT
