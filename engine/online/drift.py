"""Drift detection on a stream of 0/1 errors: an ADWIN-style adaptive window (Bifet & Gavaldà 2007)."""
from __future__ import annotations

import math

import numpy as np


class ADWIN:
    """Keeps a window of recent values and drops its older part when the two halves of some split
    differ by more than the ADWIN bound (Hoeffding/Bernstein with variance, confidence ``delta``).

    Fed a model's test-then-train errors (1 = wrong), ``drift_detected`` is True after an update
    that cut the window because the recent error rate rose (``degradation_only``; a cut caused by
    an improvement only shrinks the window). ``update_many`` checks once per batch.

    >>> d = ADWIN()
    >>> d.update_many([0] * 300).drift_detected, d.update_many([1] * 100).drift_detected
    (False, True)
    """

    def __init__(self, delta: float = 0.002, min_side: int = 30, max_window: int = 2000,
                 degradation_only: bool = True):
        self.delta, self.min_side, self.max_window = delta, min_side, max_window
        self.degradation_only = degradation_only
        self.window = np.empty(0)
        self.drift_detected = False

    @property
    def width(self) -> int:
        return len(self.window)

    @property
    def estimation(self) -> float:
        """Mean of the current window (the recent error rate); NaN when empty."""
        return float(self.window.mean()) if len(self.window) else math.nan

    def reset(self) -> None:
        self.window = np.empty(0)
        self.drift_detected = False

    def update(self, x: float) -> "ADWIN":
        return self.update_many([x])

    def update_many(self, xs) -> "ADWIN":
        self.window = np.concatenate([self.window, np.asarray(xs, dtype=float)])[-self.max_window:]
        self.drift_detected = False
        while (cut := self._find_cut()) is not None:
            k, rose = cut
            self.window = self.window[k:]
            self.drift_detected |= rose or not self.degradation_only
        return self

    def _find_cut(self) -> tuple[int, bool] | None:
        """(split index to keep from, whether the newer part's mean is higher) or None."""
        w = self.window
        n = len(w)
        if n < 2 * self.min_side:
            return None
        cumulative = np.cumsum(w)
        k = np.arange(self.min_side, n - self.min_side + 1, dtype=float)  # size of the older part
        rest = n - k
        older_sum = cumulative[self.min_side - 1:n - self.min_side]  # cumulative[k - 1]
        older_mean = older_sum / k
        newer_mean = (cumulative[-1] - older_sum) / rest
        harmonic = 1.0 / k + 1.0 / rest
        dd = math.log(2.0 * math.log(n) / self.delta)
        bound = np.sqrt(2.0 * harmonic * w.var() * dd) + (2.0 / 3.0) * harmonic * dd
        excess = np.abs(newer_mean - older_mean) - bound
        best = int(np.argmax(excess))
        if excess[best] <= 0:
            return None
        return int(k[best]), bool(newer_mean[best] > older_mean[best])
