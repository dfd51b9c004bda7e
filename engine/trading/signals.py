"""Predictions to trade directions: LONG when the model says up, SHORT when it says down,
only when its confidence exceeds ``signal_confidence_threshold``; and the gates a signal must
pass to become a trade (the same functions live and in the walk-forward):

- cost gate: the hybrid's expected move |2p - 1| x (recent mean absolute move of its label,
  engine.labels.mean_abs_move) must exceed the round-trip cost, 2 x (fee + slippage). If the
  label's move is up or down with P(up) = p and its size does not depend on the direction, the
  expected signed move in the signal's direction is exactly that.
- outcome gate: the outcome model's P(trade profitable after costs) must reach its threshold;
  the stake may then grow with that probability (:func:`size_multiplier`, bounded).

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


def round_trip_cost_pct(config) -> float:
    """Fees and slippage of entering and leaving a trade, percent of the stake.

    >>> round_trip_cost_pct({"trade_fee_pct": 0.1, "trade_slippage_pct": 0.05})
    0.30000000000000004
    """
    return 2.0 * (float(config["trade_fee_pct"]) + float(config["trade_slippage_pct"]))


def expected_move_pct(prob_up, mean_abs_move):
    """The expected move in the signal's direction, percent: |2p - 1| x mean |move| (a fraction).

    >>> round(float(expected_move_pct(0.6, 0.01)), 6)
    0.2
    """
    return np.abs(2.0 * np.asarray(prob_up, dtype=float) - 1.0) * np.asarray(mean_abs_move, dtype=float) * 100.0


def size_multiplier(p_win, threshold, max_multiple: float):
    """The stake multiple for an outcome probability that cleared ``threshold`` (floats or arrays): 1 at
    the threshold, rising linearly to ``max_multiple`` at P = 1 (bounded to [1, max_multiple]).

    >>> size_multiplier(np.array([0.5, 0.75, 1.0]), 0.5, 2.0).tolist()
    [1.0, 1.5, 2.0]
    """
    room = np.maximum(1.0 - np.asarray(threshold, dtype=float), 1e-9)
    rise = np.clip((np.asarray(p_win, dtype=float) - threshold) / room, 0.0, 1.0)
    return 1.0 + (max_multiple - 1.0) * rise
