"""Which candidate serves: each candidate's live record on the bars that followed its fits.

The candidates (:func:`candidates`): the ridge logistic regression on each window of the ladder
``LADDER_DAYS`` up to ``batch_window_days`` (and that length itself), named "7d", "14d", ...; and
gradient-boosted trees on the longest window, "90d trees". At every retrain the fits of the previous
version predict the bars that closed since it was trained -- predictions made before those labels
existed, as they would have served -- and each candidate's log loss on them (and the majority-class
baseline's on the same rows) is added to its record, older evidence fading with a half-life of
``HALFLIFE_DAYS``. The candidate with the lowest record serves; until every one has ``MIN_SCORED``
scored rows the longest ridge window serves (most data, least noise) and the hold-out of its fit
judges it. So the champion/challenger comparison is made on the latest data, by the same rule live
and in the walk-forward. A candidate is fitted only with at least ``min_rows(interval)`` labelled
rows (1d bars: the 7- and 14-day windows are skipped).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from engine.candles import INTERVAL_MS

LADDER_DAYS = (7, 14, 30, 90, 180, 365)
HALFLIFE_DAYS = 30.0
MIN_SCORED = 168  # rows each window needs in its record before the record chooses
DAY_MS = 86_400_000
LOG_EPS = 1e-15


TREES = " trees"


def candidates(batch_window_days: int) -> tuple[str, ...]:
    """The candidates fitted for a configured longest window.

    >>> candidates(90), candidates(20)
    (('7d', '14d', '30d', '90d', '90d trees'), ('7d', '14d', '20d', '20d trees'))
    """
    days = sorted({d for d in LADDER_DAYS if d < batch_window_days} | {int(batch_window_days)})
    return (*(f"{d}d" for d in days), f"{days[-1]}d{TREES}")


def days_of(name: str) -> int:
    """The candidate's window in days.

    >>> days_of("90d trees"), days_of("14d")
    (90, 14)
    """
    return int(name.split("d")[0])


def is_trees(name: str) -> bool:
    return name.endswith(TREES)


def describe(name: str) -> str:
    """The candidate in words.

    >>> describe("14d"), describe("90d trees")
    ('14-day window', '90-day trees')
    """
    return f"{days_of(name)}-day {'trees' if is_trees(name) else 'window'}"


def min_rows(interval: str) -> int:
    """Labelled rows a fit needs: 100 at 1h (a 7-day window of one symbol holds 168), scaled down for longer
    bars, never below 30.

    >>> min_rows("1h"), min_rows("4h"), min_rows("1d")
    (100, 30, 30)
    """
    return max(30, round(100 * INTERVAL_MS["1h"] / INTERVAL_MS[interval]))


def _log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    q = np.clip(p, LOG_EPS, 1.0 - LOG_EPS)
    return -(y * np.log(q) + (1.0 - y) * np.log(1.0 - q))


@dataclass
class Track:
    """Discounted sums per window: ``loss`` (model), ``base`` (majority class), ``weight`` and ``n`` (rows);
    ``through``: the newest open time scored (ms)."""

    halflife_bars: float
    sums: dict[str, list[float]] = field(default_factory=dict)  # candidate -> [loss, base, weight, n]
    through: int | None = None

    @classmethod
    def for_interval(cls, interval: str) -> "Track":
        return cls(HALFLIFE_DAYS * DAY_MS / INTERVAL_MS[interval])

    def add(self, name: str, y: np.ndarray, p_up: np.ndarray, base_rate: float) -> None:
        """Score one candidate's predictions ``p_up`` of labels ``y`` (oldest first) beside the baseline's
        ``base_rate`` (its training rows' up share)."""
        if not len(y):
            return
        decay = 0.5 ** (1.0 / self.halflife_bars)
        ages = decay ** np.arange(len(y) - 1, -1, -1, dtype=float)
        old = self.sums.get(name, [0.0, 0.0, 0.0, 0])
        fade = decay ** len(y)
        self.sums[name] = [old[0] * fade + float(ages @ _log_loss(y, p_up)),
                           old[1] * fade + float(ages @ _log_loss(y, np.full(len(y), base_rate))),
                           old[2] * fade + float(ages.sum()), old[3] + len(y)]

    def summary(self, name: str) -> dict:
        """{"n", "log_loss", "baseline_log_loss", "beats_baseline"} of a candidate's record (None values: empty)."""
        loss, base, weight, n = self.sums.get(name, [0.0, 0.0, 0.0, 0])
        if not weight:
            return {"n": 0, "log_loss": None, "baseline_log_loss": None, "beats_baseline": None}
        return {"n": int(n), "log_loss": loss / weight, "baseline_log_loss": base / weight,
                "beats_baseline": loss <= base}

    def choose(self, names: tuple[str, ...]) -> str | None:
        """The candidate with the lowest record, or None while any has fewer than MIN_SCORED rows."""
        if not names or any(self.sums.get(d, [0, 0, 0, 0])[3] < MIN_SCORED for d in names):
            return None
        return min(names, key=lambda d: self.sums[d][0] / self.sums[d][2])

    def to_dict(self) -> dict:
        return {"halflife_bars": self.halflife_bars, "through": self.through, "candidates": dict(self.sums)}

    @classmethod
    def from_dict(cls, data: dict | None, interval: str) -> "Track":
        fresh = cls.for_interval(interval)
        if not data or "candidates" not in data or not math.isclose(data.get("halflife_bars", -1), fresh.halflife_bars):
            return fresh
        return cls(data["halflife_bars"], {d: list(s) for d, s in data["candidates"].items()}, data.get("through"))
