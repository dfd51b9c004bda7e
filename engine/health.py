"""Live model health: each model and the hybrid over its last scored predictions, beside the baselines.

Read from the prediction log per symbol (:meth:`engine.predictions.PredictionLog.scored`), over the newest
``window`` scored bars. Each model is scored on the rows it answered, and the baselines on the very same
rows: majority class (the up-share of the outcomes known before each bar) and reversal (the opposite of the
last known move). A model *beats the baseline* when its log loss is below the majority-class baseline's
(log loss is what the ensemble's probabilities are judged by, as for the batch champion rule). Fewer than
``min_samples`` rows say nothing yet: no verdict, no alert.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from engine.metrics import baseline_probabilities, summarize

WINDOW = 200  # scored predictions per symbol the health is measured over
MIN_SAMPLES = 30  # rows a verdict needs
MODELS = {"ensemble": "hybrid", "batch": "batch", "sgd": "sgd", "passive_aggressive": "passive_aggressive",
          "mlp_online": "mlp_online"}  # prediction-log column -> name shown
BASELINES = ("majority_class", "reversal")
KEYS = ("n", "accuracy", "accuracy_se", "log_loss", "log_loss_se")


def _scores(y: np.ndarray, p: np.ndarray) -> dict:
    """n, accuracy and log loss with their standard errors, to 6 decimals (what the API shows)."""
    s = summarize(y, p)
    return {k: round(s[k], 6) if isinstance(s[k], float) else s[k] for k in KEYS}


def symbol_health(scored: pd.DataFrame, horizon: int, window: int = WINDOW,
                  min_samples: int = MIN_SAMPLES) -> dict:
    """Health of every model over the newest ``window`` rows of ``scored`` (PredictionLog.scored shape).

    Returns ``{"n", "window", "models": {name: {n, accuracy, accuracy_se, log_loss, log_loss_se,
    "baselines": {majority_class: {...same keys}, reversal: {...}}, "beats_baseline": bool | None}}}``.

    >>> rows = pd.DataFrame({"open_time": range(40), "outcome": [1, 0] * 20, "ensemble": [0.9, 0.1] * 20})
    >>> h = symbol_health(rows, horizon=1)
    >>> h["models"]["hybrid"]["accuracy"], h["models"]["hybrid"]["baselines"]["reversal"]["accuracy"]
    (1.0, 1.0)
    >>> h["models"]["hybrid"]["beats_baseline"]
    True
    """
    y_all = scored["outcome"].to_numpy(dtype=np.float64)
    base_all = baseline_probabilities(y_all, horizon)  # known-before over the whole fetched history
    tail = slice(max(0, len(y_all) - window), None)
    y = y_all[tail]
    models = {}
    for column, name in MODELS.items():
        if column not in scored:
            continue
        p = scored[column].to_numpy(dtype=np.float64)[tail]
        answered = np.isfinite(p)
        if not answered.any():
            continue
        entry = _scores(y[answered], p[answered])
        entry["baselines"] = {b: _scores(y[answered], base_all[b][tail][answered]) for b in BASELINES}
        base = entry["baselines"]["majority_class"]["log_loss"]
        entry["beats_baseline"] = (None if entry["n"] < min_samples or entry["log_loss"] is None
                                   else entry["log_loss"] < base)
        models[name] = entry
    return {"n": int(len(y)), "window": window, "models": models}


def model_health(log, symbols: Iterable[str], interval: str, horizon: int, window: int = WINDOW) -> dict:
    """``{"window", "min_samples", "symbols": {symbol: symbol_health(...)}}`` from a PredictionLog; the
    baselines get twice the window of history so the majority class is known from the window's start."""
    return {"window": window, "min_samples": MIN_SAMPLES,
            "symbols": {s: symbol_health(log.scored(s, interval, 2 * window), horizon, window) for s in symbols}}


def below_baseline_alerts(health: dict, now: int) -> list[dict]:
    """One alert per symbol naming the models (the hybrid first) that do not beat the majority-class
    baseline over their last scored predictions (kind "below_baseline")."""
    alerts = []
    for symbol, h in (health.get("symbols") or {}).items():
        losing = [(name, m) for name, m in h["models"].items() if m["beats_baseline"] is False]
        if not losing:
            continue
        parts = [f"{name} log loss {m['log_loss']:.4f} vs {m['baselines']['majority_class']['log_loss']:.4f}"
                 for name, m in losing]
        alerts.append({"level": "danger" if losing[0][0] == "hybrid" else "warning", "kind": "below_baseline",
                       "time": now, "symbol": symbol,
                       "message": f"{symbol}: {', '.join(parts)} (majority-class baseline) over the last "
                                  f"{h['n']} scored predictions — not better than the baseline"})
    return alerts
