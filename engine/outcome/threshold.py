"""The outcome gate's threshold, chosen on past outcomes only.

With ``outcome_threshold_auto`` the threshold is the value of GRID that would have earned the most
over the newest TUNING_SAMPLES scored outcomes (each scored test-then-train, before the model
learned it): the sum of the trade returns after costs of the outcomes whose P(win) reached it,
among thresholds that let at least MIN_TRADES through (ties go to the higher threshold). If no
threshold would have earned anything, it is 1.0: no trade until one would have. Before MIN_SCORED
outcomes are scored, and without auto, the configured ``outcome_threshold`` applies. Live this
runs after each outcome update; in the walk-forward after each learning step, so a threshold in
force at bar t never saw an outcome that closed after t.
"""
from __future__ import annotations

import numpy as np

GRID = np.round(np.arange(0.0, 1.0, 0.01), 2)
NO_TRADE = 1.0  # P(win) never reaches it
TUNING_SAMPLES = 1000
MIN_SCORED = 100
MIN_TRADES = 20


def choose_threshold(p_win: np.ndarray, returns: np.ndarray, fallback: float, auto: bool = True) -> tuple[float, str]:
    """(threshold, how it was chosen, in words) from scored outcomes (oldest first): their P(win) at
    scoring and their trade returns after costs (percent); NaN P(win) (scored untrained) are ignored.

    >>> p = np.r_[np.full(50, 0.6), np.full(50, 0.4), np.full(20, 0.2)]
    >>> r = np.r_[np.full(50, 1.0), np.full(50, -0.5), np.full(20, -3.0)]  # only the 0.6s win
    >>> choose_threshold(p, r, fallback=0.5)
    (0.6, 'chosen on the last 120 scored outcomes (50 would have traded, +50.0 % summed returns)')
    >>> choose_threshold(p, -np.abs(r), fallback=0.5)[0], choose_threshold(p[:99], r[:99], fallback=0.5)[0]
    (1.0, 0.5)
    """
    p_win, returns = np.asarray(p_win, dtype=float), np.asarray(returns, dtype=float)
    keep = np.isfinite(p_win)
    p_win, returns = p_win[keep][-TUNING_SAMPLES:], returns[keep][-TUNING_SAMPLES:]
    if not auto:
        return fallback, "outcome_threshold (configured)"
    if len(p_win) < MIN_SCORED:
        return fallback, f"outcome_threshold (configured) until {MIN_SCORED} outcomes are scored ({len(p_win)} so far)"
    order = np.argsort(-p_win, kind="stable")
    gains = np.concatenate([[0.0], np.cumsum(returns[order])])
    taken = len(p_win) - np.searchsorted(np.sort(p_win), GRID, side="left")  # outcomes with P(win) >= t
    value = np.where(taken >= MIN_TRADES, gains[taken], -np.inf)
    best = len(GRID) - 1 - int(np.argmax(value[::-1]))  # the highest threshold among the best
    if value[best] <= 0:
        return NO_TRADE, f"no threshold would have earned anything on the last {len(p_win)} scored outcomes: no trade"
    return float(GRID[best]), (f"chosen on the last {len(p_win)} scored outcomes ({int(taken[best])} would have "
                               f"traded, {gains[taken[best]]:+.1f} % summed returns)")
