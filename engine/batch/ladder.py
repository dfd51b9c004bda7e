"""One retrain of the batch model, pure: fit every window, add the previous fits' live scores to the
record, choose the serving window and judge it -- the same steps live (engine.batch.trainer) and in
the walk-forward (engine.evaluation).

Rows come per symbol (:class:`Rows`, oldest first; symbols are pooled, their inputs are scale-free).
A window of W days holds each symbol's rows that opened within W days of its newest labelled row.
The judgement: with a live record (engine.batch.track) the serving window must have beaten the
majority-class baseline there; before it, the longest window is fitted again without its purged
hold-out (the most recent rows, engine.batch.validation) and must beat the baseline on that.
The served fit always uses every row of its window, so it is never days behind the market.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.batch.model import BatchModel, RidgeLogit, fit_ridge_logit
from engine.batch.track import DAY_MS, Track
from engine.batch.validation import holdout_split, score


@dataclass
class Rows:
    """One symbol's labelled rows: inputs ``X``, labels ``y``, ``open_time`` and ``label_time`` (the open time of
    the bar that decides the label)."""

    symbol: str
    X: np.ndarray
    y: np.ndarray
    open_time: np.ndarray
    label_time: np.ndarray

    def window(self, days: int) -> np.ndarray:
        """Indices of the rows within ``days`` of the newest."""
        if not len(self.open_time):
            return np.arange(0)
        return np.flatnonzero(self.open_time > self.open_time[-1] - days * DAY_MS)

    def after(self, open_time: int | None) -> np.ndarray:
        return np.arange(len(self.y)) if open_time is None else np.flatnonzero(self.open_time > open_time)


def _pooled(parts: list[Rows], pick) -> tuple[np.ndarray, np.ndarray]:
    idx = [pick(p) for p in parts]
    X = np.concatenate([p.X[i] for p, i in zip(parts, idx)]) if parts else np.empty((0, 0))
    y = np.concatenate([p.y[i] for p, i in zip(parts, idx)]) if parts else np.empty(0)
    return X, y


def fit_windows(parts: list[Rows], days: tuple[int, ...], min_rows: int) -> dict[int, RidgeLogit]:
    """A fit per window holding at least ``min_rows`` rows of both classes."""
    fits = {}
    for d in days:
        X, y = _pooled(parts, lambda p: p.window(d))
        if len(y) >= min_rows and 0 < y.sum() < len(y):
            fits[d] = fit_ridge_logit(X, y)
    return fits


def score_previous(track: Track, previous: BatchModel, parts: list[Rows], trained_through: dict[str, int],
                   base_rate: float) -> int:
    """Add the live scores of ``previous`` (its fits, trained on rows up to ``trained_through[symbol]``) on the
    rows that came after to ``track``; returns how many rows were scored."""
    new = [(p, p.after(trained_through.get(p.symbol))) for p in parts]
    rows = [(p.open_time[i], p.X[i], p.y[i]) for p, i in new if len(i)]
    if not rows:
        return 0
    order = np.argsort(np.concatenate([t for t, _, _ in rows]), kind="stable")  # symbols pooled in time order
    X, y = np.concatenate([x for _, x, _ in rows])[order], np.concatenate([v for _, _, v in rows])[order]
    for d, fit in previous.fits.items():
        track.add(d, y, fit.p_up(X), base_rate)
    track.through = int(max(t.max() for t, _, _ in rows))
    return len(y)


@dataclass
class Decision:
    """The serving ``window_days``, the ``evidence`` ("live" or "hold-out"), its ``metrics`` (scores with the
    baseline's beside them and ``beats_baseline``) and, for the hold-out, its rows and each symbol's training
    and hold-out spans (``by_symbol``: symbols may replay unrelated eras, so spans are never pooled)."""

    window_days: int
    evidence: str
    metrics: dict
    holdout: dict | None = None


def decide(track: Track, fits: dict[int, RidgeLogit], parts: list[Rows], min_holdout: int) -> Decision:
    """Choose the serving window (the live record, else the longest) and judge it (live, else its hold-out)."""
    chosen = track.choose(tuple(fits))
    if chosen is not None:
        live = track.summary(chosen)
        baseline = {"log_loss": live["baseline_log_loss"]}
        return Decision(chosen, "live", {"n": live["n"], "log_loss": live["log_loss"], "baseline": baseline,
                                         "beats_baseline": bool(live["beats_baseline"])})
    longest = max(fits)
    train_idx, test_idx = {}, {}
    for p in parts:
        w = p.window(longest)
        train, test = holdout_split(p.open_time[w], p.label_time[w])
        train_idx[p.symbol], test_idx[p.symbol] = w[train], w[test]
    X_train, y_train = _pooled(parts, lambda p: train_idx[p.symbol])
    X_test, y_test = _pooled(parts, lambda p: test_idx[p.symbol])
    if len(y_test) < min_holdout or not 0 < y_train.sum() < len(y_train):
        metrics = {"n": len(y_test), "log_loss": None, "baseline": {"log_loss": None}, "beats_baseline": False}
        return Decision(longest, "hold-out", metrics, {"rows_train": len(y_train), "rows_holdout": len(y_test)})
    fit = fit_ridge_logit(X_train, y_train)
    metrics = score(y_test, fit.p_up(X_test), float(y_train.mean()))
    metrics["beats_baseline"] = metrics["log_loss"] <= metrics["baseline"]["log_loss"]
    spans = {"rows_train": len(y_train), "rows_holdout": len(y_test),
             "by_symbol": {p.symbol: {"train_window": _span(p.open_time[train_idx[p.symbol]]),
                                      "holdout_window": _span(p.open_time[test_idx[p.symbol]])} for p in parts}}
    return Decision(longest, "hold-out", metrics, spans)


def _span(times: np.ndarray) -> list[int] | None:
    return [int(times.min()), int(times.max())] if len(times) else None
