"""Which window serves: each window's live record on the bars that followed its fits.

At every retrain the fits of the previous version predict the bars that closed since it was
trained -- predictions made before those labels existed, as they would have served -- and each
window's log loss on them (and the majority-class baseline's on the same rows) is added to its
record, older evidence fading with a half-life of ``HALFLIFE_DAYS``. The window with the lowest
record serves; until every window has ``MIN_SCORED`` scored rows the longest serves (most data,
least noise) and the hold-out of its fit judges it. So the champion/challenger comparison is made
on the latest data, by the same rule live and in the walk-forward.

Windows: the ladder ``LADDER_DAYS`` up to ``batch_window_days``, and that length itself; a window
is fitted only with at least ``min_rows(interval)`` labelled rows (1d bars: the 7- and 14-day
windows are skipped).
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


def windows(batch_window_days: int) -> tuple[int, ...]:
    """The window lengths fitted for a configured longest window.

    >>> windows(90), windows(20)
    ((7, 14, 30, 90), (7, 14, 20))
    """
    return tuple(sorted({d for d in LADDER_DAYS if d < batch_window_days} | {int(batch_window_days)}))


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
    sums: dict[int, list[float]] = field(default_factory=dict)  # days -> [loss, base, weight, n]
    through: int | None = None

    @classmethod
    def for_interval(cls, interval: str) -> "Track":
        return cls(HALFLIFE_DAYS * DAY_MS / INTERVAL_MS[interval])

    def add(self, days: int, y: np.ndarray, p_up: np.ndarray, base_rate: float) -> None:
        """Score one window's predictions ``p_up`` of labels ``y`` (oldest first) beside the baseline's
        ``base_rate`` (its training rows' up share)."""
        if not len(y):
            return
        decay = 0.5 ** (1.0 / self.halflife_bars)
        ages = decay ** np.arange(len(y) - 1, -1, -1, dtype=float)
        old = self.sums.get(days, [0.0, 0.0, 0.0, 0])
        fade = decay ** len(y)
        self.sums[days] = [old[0] * fade + float(ages @ _log_loss(y, p_up)),
                           old[1] * fade + float(ages @ _log_loss(y, np.full(len(y), base_rate))),
                           old[2] * fade + float(ages.sum()), old[3] + len(y)]

    def summary(self, days: int) -> dict:
        """{"n", "log_loss", "baseline_log_loss", "beats_baseline"} of a window's record (None values: empty)."""
        loss, base, weight, n = self.sums.get(days, [0.0, 0.0, 0.0, 0])
        if not weight:
            return {"n": 0, "log_loss": None, "baseline_log_loss": None, "beats_baseline": None}
        return {"n": int(n), "log_loss": loss / weight, "baseline_log_loss": base / weight,
                "beats_baseline": loss <= base}

    def choose(self, candidates: tuple[int, ...]) -> int | None:
        """The candidate with the lowest record, or None while any has fewer than MIN_SCORED rows."""
        if not candidates or any(self.sums.get(d, [0, 0, 0, 0])[3] < MIN_SCORED for d in candidates):
            return None
        return min(candidates, key=lambda d: self.sums[d][0] / self.sums[d][2])

    def to_dict(self) -> dict:
        return {"halflife_bars": self.halflife_bars, "through": self.through,
                "windows": {str(d): s for d, s in self.sums.items()}}

    @classmethod
    def from_dict(cls, data: dict | None, interval: str) -> "Track":
        if not data or not math.isclose(data.get("halflife_bars", -1), cls.for_interval(interval).halflife_bars):
            return cls.for_interval(interval)
        return cls(data["halflife_bars"], {int(d): list(s) for d, s in data["windows"].items()}, data.get("through"))
