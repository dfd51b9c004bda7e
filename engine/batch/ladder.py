"""One retrain of the batch model, pure: fit every candidate, add the previous fits' live scores to the
record, choose the serving candidate and judge it -- the same steps live (engine.batch.trainer) and in
the walk-forward (engine.evaluation).

Rows come per symbol (:class:`Rows`, oldest first; symbols are pooled, their inputs are scale-free).
A window of W days holds each symbol's rows that opened within W days of its newest labelled row.
The judgement: with a live record (engine.batch.track) the serving candidate must have beaten the
majority-class baseline there; before it, the longest ridge window is fitted again without its purged
hold-out (the most recent rows, engine.batch.validation) and must beat the baseline on that.
The served fit always uses every row of its window, so it is never days behind the market.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.batch.model import BatchModel, fit_ridge_logit
from engine.batch.track import DAY_MS, Track, days_of, is_trees
from engine.batch.trees import WIDTH, fit_trees
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


TREES_REFIT_DAYS = 2  # the trees are refitted every other day (their 90-day window moves little; a fit costs 10x a ridge fit)


def fit_candidates(parts: list[Rows], names: tuple[str, ...], min_rows: int,
                   previous: BatchModel | None = None) -> dict:
    """A fit per candidate whose window holds at least ``min_rows`` rows of both classes (the trees: rows whose
    indicators are all known). The trees of ``previous`` are kept while their data is less than TREES_REFIT_DAYS
    older than the newest row (each fit records the newest open time it saw, ``through``)."""
    newest = max((int(p.open_time[-1]) for p in parts if len(p.open_time)), default=0)
    fits = {}
    for name in names:
        kept = previous.fits.get(name) if previous is not None and is_trees(name) else None
        if kept is not None and newest - getattr(kept, "through", 0) < TREES_REFIT_DAYS * DAY_MS:
            fits[name] = kept
            continue
        X, y = _pooled(parts, lambda p: p.window(days_of(name)))
        if is_trees(name):
            known = np.isfinite(X[:, :WIDTH]).all(axis=1) if len(X) else np.zeros(0, bool)
            X, y = X[known], y[known]
        if len(y) >= min_rows and 0 < y.sum() < len(y):
            fits[name] = fit_trees(X, y) if is_trees(name) else fit_ridge_logit(X, y)
            fits[name].through = newest
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
    for name, fit in previous.fits.items():
        track.add(name, y, fit.p_up(X), base_rate)
    track.through = int(max(t.max() for t, _, _ in rows))
    return len(y)


@dataclass
class Decision:
    """The serving candidate (``choice``), the ``evidence`` ("live" or "hold-out"), its ``metrics`` (scores with
    the baseline's beside them and ``beats_baseline``) and, for the hold-out, its rows and each symbol's training
    and hold-out spans (``by_symbol``: symbols may replay unrelated eras, so spans are never pooled)."""

    choice: str
    evidence: str
    metrics: dict
    holdout: dict | None = None


def decide(track: Track, fits: dict, parts: list[Rows], min_holdout: int) -> Decision:
    """Choose the serving candidate (the live record, else the longest ridge window) and judge it (live, else its
    hold-out)."""
    chosen = track.choose(tuple(fits))
    if chosen is not None:
        live = track.summary(chosen)
        baseline = {"log_loss": live["baseline_log_loss"]}
        return Decision(chosen, "live", {"n": live["n"], "log_loss": live["log_loss"], "baseline": baseline,
                                         "beats_baseline": bool(live["beats_baseline"])})
    longest = max((name for name in fits if not is_trees(name)), key=days_of)
    train_idx, test_idx = {}, {}
    for p in parts:
        w = p.window(days_of(longest))
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
