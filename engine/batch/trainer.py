"""BatchTrainer: retrain the batch model from scratch on the stored candles, judge it, publish it.

A retrain pools every configured symbol's labelled rows (inputs are scale-free) and fits every
candidate (engine.batch.track: the ridge logistic regression on each window of the ladder, 7, 14, 30,
90 days by default, none longer than ``batch_window_days``, and trees on the longest), on every row
of its window. Then (engine.batch.ladder) the newest stored version's fits are scored on the bars that
closed since they were trained -- their live record -- and the candidate with the best record serves. The new
version becomes active only if that window beat the majority-class baseline on its record; before
there is one, the longest window serves and must beat the baseline on its purged hold-out (see
:mod:`engine.batch.validation`). Only a version that beat its baseline serves predictions
(``serving()``): with none, the hybrid runs on the online models alone and says so. A version that
lost to its baseline cannot be rolled back to either.
"""
from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np

from engine.batch.importance import permutation_importance
from engine.batch.ladder import Rows, decide, fit_candidates, score_previous
from engine.batch.model import BatchModel
from engine.batch.registry import ModelRegistry
from engine.batch.track import Track, candidates, days_of, min_rows
from engine.batch.validation import judge
from engine.candles import INTERVAL_MS
from engine.db import Database
from engine.errors import NotReady
from engine.features import HISTORY_BARS
from engine.features.inputs import build_inputs, reference_candles, spec
from engine.locks import ProcessLock

DAY_MS = 86_400_000
Progress = Callable[[float, str], None]


def _quiet(fraction: float, message: str) -> None:
    """The default progress callback: report nothing."""


class BatchTrainer:
    """Retrains, versions and serves the batch model (state: files under ``model_dir/batch``).

    ``db`` is accepted for the components' common signature; this component keeps no tables.
    ``config`` is a callable returning the current config (read on each retrain).
    """

    def __init__(self, db: Database, store, model_dir: str | os.PathLike, lock_dir: str | os.PathLike,
                 config: Callable[[], dict]):
        self.store = store
        self.lock_dir = lock_dir
        self.config = config
        self.registry = ModelRegistry(model_dir, lock_dir)

    # ---- serving ----
    def predict_proba(self, X) -> np.ndarray | None:
        """P(up) per row from the active model (re-read if another process promoted one); None when no
        version serves (see :meth:`serving`)."""
        if not self.serving()["serving"]:
            return None
        return self.registry.active_model().predict_proba(X)[:, 1]

    def inputs(self) -> tuple[str, ...] | None:
        """The input names the serving model reads (None when none serves)."""
        return self.registry.active_model().inputs if self.serving()["serving"] else None

    def serving(self) -> dict:
        """{"serving": bool, "note": str | None, "below_baseline": bool}: whether the active version serves
        (it beat the majority-class baseline on its evidence) and, if not, why, in words."""
        active = self.registry.active_record()
        if active is not None and _beats_baseline(active):
            if self.registry.active_model() is not None:
                return {"serving": True, "note": None, "below_baseline": False}
            return {"serving": False, "below_baseline": False,
                    "note": f"the active batch model v{active['version']} was made by an earlier release and cannot "
                            "serve; the next retrain replaces it (predictions use the online models only)"}
        versions = self.registry.index()["versions"]
        if not versions:
            return {"serving": False, "below_baseline": False,
                    "note": "no batch model trained yet; predictions use the online models only"}
        newest = versions[-1]
        return {"serving": False, "below_baseline": True,
                "note": f"no batch model beats the majority-class baseline (newest v{newest['version']}: "
                        f"{_evidence_text(newest)}); predictions use the online models only"}

    def active(self) -> dict | None:
        """The active version's record (version, trained_at, window, metrics, rows, duration_s, ...)."""
        record = self.registry.active_record()
        return None if record is None else {**record, "active": True}

    def versions(self) -> list[dict]:
        """Every recorded version, newest first; ``available`` says if its model file is kept."""
        active = self.registry.index()["active"]
        return [{**r, "active": r["version"] == active} for r in reversed(self.registry.index()["versions"])]

    def rollback(self, version: int | None = None) -> dict:
        """Activate ``version`` or, by default, the previously active one that beats its baseline;
        ValidationError if impossible (a version that lost to its baseline cannot serve)."""
        self.registry.rollback(version, eligible=_beats_baseline)
        return self.active()

    # ---- training ----
    def retrain(self, progress: Progress | None = None, trigger: str = "api") -> dict:
        """Fit a new version on every window and publish it (promoted or not).

        Raises NotReady (nothing changed) when the longest window holds too few labeled rows, and
        engine.locks.LockBusy when another retrain is running.
        """
        report = progress or _quiet
        started = time.monotonic()
        cfg = self.config()
        inputs = spec(cfg)
        with ProcessLock(self.lock_dir, "batch_retrain", timeout=0):
            report(0.0, "loading candles")
            parts = self._load(cfg, inputs, report)
            needed = min_rows(cfg["interval"])
            _check_enough(cfg, parts, needed)
            names = candidates(cfg["batch_window_days"])
            report(0.5, f"fitting {', '.join(names)}")
            track, scored, previous = self._track(cfg, inputs, parts)
            fits = fit_candidates(parts, names, needed, previous)
            report(0.7, f"choosing on {scored} newly scored rows" if scored else "judging on the hold-out")
            decision = decide(track, fits, parts, max(10, needed // 5))
            model = BatchModel(inputs.names, fits, decision.choice)
            promote, text = judge(decision.metrics, decision.evidence, decision.choice,
                                  {name: track.summary(name) for name in fits})
            y_all = np.concatenate([p.y for p in parts])
            days = days_of(decision.choice)
            recent = [(p, p.window(days)[-max(1, len(p.window(days)) // 5):]) for p in parts]
            report(0.85, "measuring feature importance")
            record = {
                "trained_at": int(time.time() * 1000), "trigger": trigger,
                "symbols": [p.symbol for p in parts], "interval": cfg["interval"], "horizon": cfg["label_horizon"],
                "inputs": list(inputs.names), "choice": decision.choice, "window_days": days,
                "candidates": {name: {"rows": int(sum(len(p.window(days_of(name))) for p in parts)),
                                      **track.summary(name)} for name in fits},
                "evidence": decision.evidence, "track": track.to_dict(),
                "trained_through": {p.symbol: int(p.open_time[-1]) for p in parts},
                "up_rate": float(y_all.mean()),
                "rows": int(sum(len(p.window(days)) for p in parts)),
                **{k: v for k, v in (decision.holdout or {}).items() if k != "by_symbol"},
                "by_symbol": _by_symbol(parts, days, (decision.holdout or {}).get("by_symbol", {})),
                "metrics": decision.metrics, "duration_s": round(time.monotonic() - started, 3),
                "feature_importance": permutation_importance(
                    model, np.concatenate([p.X[i] for p, i in recent]), np.concatenate([p.y[i] for p, i in recent])),
            }

            def judged(champion: dict | None, champion_model: BatchModel | None) -> tuple[bool, dict]:
                report(0.9, "saving the new version")
                return promote, {"champion_version": champion and champion["version"], "decision": text}

            entry = self.registry.publish(model, record, judged, keep=cfg["batch_keep_versions"])
            report(1.0, f"version {entry['version']} {entry['decision']}")
        return {k: entry.get(k) for k in ("version", "promoted", "metrics", "champion_version", "decision", "choice",
                                          "window_days", "candidates", "evidence", "duration_s", "rows", "rows_train",
                                          "rows_holdout", "by_symbol", "trained_at")}

    def _track(self, cfg: dict, inputs, parts: list[Rows]) -> tuple[Track, int, BatchModel | None]:
        """The newest version's live record, with its fits scored on the rows that came after its training (a
        fresh record when the interval, horizon or inputs changed since), the rows scored, and that version."""
        versions = self.registry.index()["versions"]
        newest = versions[-1] if versions else None
        same = newest is not None and newest.get("interval") == cfg["interval"] and \
            newest.get("horizon") == cfg["label_horizon"] and newest.get("inputs") == list(inputs.names)
        if not same or not newest.get("available"):
            return Track.for_interval(cfg["interval"]), 0, None
        track = Track.from_dict(newest.get("track"), cfg["interval"])
        previous = self.registry.model(newest["version"])
        if previous is None:
            return Track.for_interval(cfg["interval"]), 0, None
        scored = score_previous(track, previous, parts, newest["trained_through"], newest["up_rate"])
        return track, scored, previous

    def _load(self, cfg: dict, inputs, report: Progress) -> list[Rows]:
        """Per symbol with data: the longest window's labelled rows, time-sorted."""
        interval, horizon = cfg["interval"], cfg["label_horizon"]
        step = INTERVAL_MS[interval]
        parts = []
        symbols = cfg["symbols"]
        for i, symbol in enumerate(symbols):
            done = 0.05 + 0.4 * i / len(symbols)
            report(done, f"loading {symbol} {interval} candles")
            latest = self.store.latest(symbol, interval)
            if latest is None:
                continue
            end = int(latest["open_time"])
            start = end - cfg["batch_window_days"] * DAY_MS + step
            candles = self.store.range(symbol, interval, start - HISTORY_BARS * step, end)
            if len(candles) <= horizon:
                continue
            report(done + 0.2 / len(symbols), f"computing {symbol} inputs and labels")
            reference = reference_candles(self.store, cfg, symbol, start - HISTORY_BARS * step, end) \
                if inputs.needs_reference else None
            X, y = build_inputs(candles, horizon, inputs, reference)
            times = X.index.to_numpy(dtype=np.int64)
            keep = times >= start
            bar_times = candles["open_time"].to_numpy(dtype=np.int64)
            label_time = bar_times[np.searchsorted(bar_times, times[keep]) + horizon]
            if keep.any():
                parts.append(Rows(symbol, X.to_numpy(dtype=np.float64)[keep], y.to_numpy()[keep], times[keep],
                                  label_time))
        return parts


def _beats_baseline(record: dict) -> bool:
    """Whether a version beat its majority-class baseline (on its live record or its hold-out)."""
    return bool(record["metrics"].get("beats_baseline"))


def _evidence_text(record: dict) -> str:
    """A version's evidence in words: "live log loss 0.69310 vs 0.69301 over 512 rows" (or hold-out)."""
    m = record["metrics"]
    if m.get("log_loss") is None:
        return f"{record.get('evidence', 'hold-out')}: too few rows to judge"
    return (f"{record.get('evidence', 'hold-out')} log loss {m['log_loss']:.5f} vs {m['baseline']['log_loss']:.5f} "
            f"over {m['n']} rows")


def _by_symbol(parts: list[Rows], days: int, holdout: dict[str, dict]) -> dict[str, dict]:
    """Each symbol's rows in the serving window, their span and (hold-out evidence) its training and hold-out
    spans (open times, ms; never pooled: symbols may replay unrelated eras)."""
    return {p.symbol: {"rows": len(p.window(days)), "window": _span(p.open_time[p.window(days)]),
                       **holdout.get(p.symbol, {})} for p in parts}


def _check_enough(cfg: dict, parts: list[Rows], needed: int) -> None:
    y = np.concatenate([p.y for p in parts]) if parts else np.empty(0)
    if len(y) >= needed and 0 < y.sum() < len(y):
        return
    rows = {p.symbol: len(p.y) for p in parts}
    have = ", ".join(f"{symbol}: {rows.get(symbol, 0)}" for symbol in cfg["symbols"])
    raise NotReady(
        f"batch model needs at least {needed} labeled rows with both up and down bars in the last "
        f"{cfg['batch_window_days']} days of {', '.join(cfg['symbols'])} ({cfg['interval']}); have {len(y)} ({have})")


def _span(times: np.ndarray) -> list[int] | None:
    return [int(times.min()), int(times.max())] if len(times) else None
