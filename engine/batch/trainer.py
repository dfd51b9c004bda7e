"""BatchTrainer: retrain the batch model from scratch on the stored candles, judge it, publish it.

A retrain pools every configured symbol's labeled rows from its last ``batch_window_days``
(features are scale-free), holds out the most recent rows of each symbol (after a purge gap,
see :mod:`engine.batch.validation`), fits on the rest and scores the hold-out. The new version
becomes active only if its **log loss** on that hold-out is no worse than the majority-class
baseline's (``beats_baseline``; never waived, not even for the first version) and no worse than the
active model's on the very same rows (champion/challenger: log loss is the decisive metric because
the ensemble uses the probabilities, not just the direction); see
:func:`engine.batch.validation.judge`. Only a version that beats its baseline serves predictions
(``serving()``): with none, the hybrid runs on the online models alone and says so. A version that
lost to its baseline cannot be rolled back to either.

The served model is the one fitted on the training part: refitting on the hold-out would leave
nothing unseen to compare the next challenger on. Its training data ends before its hold-out,
so the champion never saw a later challenger's hold-out either.
"""
from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np

from engine.batch.importance import permutation_importance
from engine.batch.model import BatchModel, as_matrix, fit_batch_model
from engine.batch.registry import ModelRegistry
from engine.batch.validation import holdout_split, judge, score
from engine.candles import INTERVAL_MS
from engine.db import Database
from engine.errors import NotReady
from engine.features import FEATURE_COLUMNS, HISTORY_BARS, build_dataset
from engine.locks import ProcessLock

DAY_MS = 86_400_000
MIN_TRAIN_ROWS = 250  # labeled rows to fit on (all symbols together)
MIN_HOLDOUT_ROWS = 50  # rows to judge on
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

    def serving(self) -> dict:
        """{"serving": bool, "note": str | None, "below_baseline": bool}: whether the active version serves
        (it beats its hold-out's majority-class baseline) and, if not, why, in words."""
        active = self.registry.active_record()
        if active is not None and _beats_baseline(active):
            return {"serving": True, "note": None, "below_baseline": False}
        versions = self.registry.index()["versions"]
        if not versions:
            return {"serving": False, "below_baseline": False,
                    "note": "no batch model trained yet; predictions use the online models only"}
        newest = versions[-1]
        return {"serving": False, "below_baseline": True,
                "note": f"no batch model beats the majority-class baseline on its hold-out (newest v{newest['version']}: "
                        f"log loss {newest['metrics']['log_loss']:.5f} vs {newest['metrics']['baseline']['log_loss']:.5f})"
                        "; predictions use the online models only"}

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
        """Fit a new version on the configured window and publish it (promoted or not).

        Raises NotReady (nothing changed) when the window holds too few labeled rows, and
        engine.locks.LockBusy when another retrain is running.
        """
        report = progress or _quiet
        started = time.monotonic()
        cfg = self.config()
        with ProcessLock(self.lock_dir, "batch_retrain", timeout=0):
            report(0.0, "loading candles")
            parts = self._load(cfg, report)
            train, test = _pool(parts)
            _check_enough(cfg, parts, train, test)
            report(0.5, f"fitting on {len(train['y'])} rows")
            model = fit_batch_model(train["X"], train["y"])
            report(0.75, f"validating on the {len(test['y'])} most recent rows")
            base_rate = float(train["y"].mean())
            metrics = score(test["y"], model.predict_proba(test["X"])[:, 1], base_rate)
            metrics["beats_baseline"] = metrics["log_loss"] <= metrics["baseline"]["log_loss"]

            def judge_against(champion: dict | None, champion_model: BatchModel | None) -> tuple[bool, dict]:
                report(0.85, "comparing with the baseline and the active model")
                theirs = None if champion_model is None else \
                    score(test["y"], champion_model.predict_proba(test["X"])[:, 1], base_rate)
                promote, decision = judge(metrics, theirs, champion and champion["version"],
                                          champion is not None and _beats_baseline(champion))
                report(0.9, "saving the new version")
                return promote, {"champion_version": champion and champion["version"], "champion_metrics": theirs,
                                 "decision": decision}

            record = {
                "trained_at": int(time.time() * 1000), "trigger": trigger,
                "symbols": [p["symbol"] for p in parts], "interval": cfg["interval"],
                "horizon": cfg["label_horizon"], "window_days": cfg["batch_window_days"],
                "window": _span(np.concatenate([p["open_time"] for p in parts])),
                "train_window": _span(train["open_time"]), "holdout_window": _span(test["open_time"]),
                "rows": len(train["y"]) + len(test["y"]), "rows_train": len(train["y"]),
                "rows_holdout": len(test["y"]), "by_symbol": _by_symbol(parts),
                "metrics": metrics, "duration_s": round(time.monotonic() - started, 3),
                "feature_importance": permutation_importance(model, test["X"], test["y"]),
            }
            entry = self.registry.publish(model, record, judge_against, keep=cfg["batch_keep_versions"])
            report(1.0, f"version {entry['version']} {entry['decision']}")
        return {k: entry[k] for k in ("version", "promoted", "metrics", "champion_metrics", "champion_version",
                                      "decision", "window", "train_window", "holdout_window", "duration_s",
                                      "rows", "rows_train", "rows_holdout", "by_symbol", "trained_at")}

    def _load(self, cfg: dict, report: Progress) -> list[dict]:
        """Per symbol with data: its window's labeled rows (X, y, open_time, label_time), time-sorted."""
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
            report(done + 0.2 / len(symbols), f"computing {symbol} features and labels")
            X, y = build_dataset(candles, horizon)
            times = X.index.to_numpy(dtype=np.int64)
            keep = times >= start
            bar_times = candles["open_time"].to_numpy(dtype=np.int64)
            label_time = bar_times[np.searchsorted(bar_times, times[keep]) + horizon]
            if keep.any():
                parts.append({"symbol": symbol, "X": as_matrix(X[keep]), "y": y.to_numpy()[keep],
                              "open_time": times[keep], "label_time": label_time})
        return parts


def _beats_baseline(record: dict) -> bool:
    """Whether a version's hold-out log loss is no worse than its majority-class baseline's."""
    return bool(record["metrics"].get("beats_baseline"))


def _pool(parts: list[dict]) -> tuple[dict, dict]:
    """Split each symbol in time (purged hold-out, indices kept in the part), then pool the
    training rows and the hold-out rows of all symbols."""
    keys = ("X", "y", "open_time")
    train, test = {k: [] for k in keys}, {k: [] for k in keys}
    for part in parts:
        part["train"], part["holdout"] = holdout_split(part["open_time"], part["label_time"])
        for out, idx in ((train, part["train"]), (test, part["holdout"])):
            for key in keys:
                out[key].append(part[key][idx])
    empty = {"X": np.empty((0, len(FEATURE_COLUMNS))), "y": np.empty(0, np.int64), "open_time": np.empty(0, np.int64)}
    return tuple({k: np.concatenate(v) if v else empty[k] for k, v in out.items()} for out in (train, test))


def _by_symbol(parts: list[dict]) -> dict[str, dict]:
    """Each symbol's rows and its window, training span and hold-out span (open times, ms)."""
    return {p["symbol"]: {"rows": len(p["y"]), "window": _span(p["open_time"]),
                          "train_window": _span(p["open_time"][p["train"]]),
                          "holdout_window": _span(p["open_time"][p["holdout"]])} for p in parts}


def _check_enough(cfg: dict, parts: list[dict], train: dict, test: dict) -> None:
    if len(train["y"]) >= MIN_TRAIN_ROWS and len(test["y"]) >= MIN_HOLDOUT_ROWS and len(set(train["y"])) == 2:
        return
    rows = {p["symbol"]: len(p["y"]) for p in parts}
    have = ", ".join(f"{symbol}: {rows.get(symbol, 0)}" for symbol in cfg["symbols"])
    raise NotReady(
        f"batch model needs at least {MIN_TRAIN_ROWS} training and {MIN_HOLDOUT_ROWS} hold-out labeled rows "
        f"with both up and down bars in the last {cfg['batch_window_days']} days of "
        f"{', '.join(cfg['symbols'])} ({cfg['interval']}); have {len(train['y'])} + {len(test['y'])} ({have})")


def _span(times: np.ndarray) -> list[int] | None:
    return [int(times.min()), int(times.max())] if len(times) else None
