"""Model health beside the baselines, and the one verdict rule every view uses.

The verdict (:func:`verdict`) compares a model's log loss with the majority-class baseline's on the same
rows, pairwise: the mean per-row difference and its standard error. "beats baseline" only when the model
is better by more than 2 SE, "worse than baseline" when it is worse by more than 2 SE, otherwise "no
better than baseline"; fewer than ``min_samples`` rows: "too few". The status, the API, the dashboard and
``evaluate`` all say it this way.

Live health is read from the prediction log per symbol (:meth:`engine.predictions.PredictionLog.scored`),
over the newest ``window`` scored bars (config ``online_health_window``: the same window the hybrid's fixed
mode judges its models on). Each model is scored on the rows it answered, and the baselines on the very same
rows: majority class (the up-share of the outcomes known before each bar) and reversal (the opposite of the
last known move). Beside each model, the share it had in the newest prediction (``weight``).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from engine.metrics import baseline_probabilities, sample_log_loss, summarize

WINDOW = 500  # scored predictions per symbol the health is measured over (online_health_window's default)
MIN_SAMPLES = 30  # rows a verdict needs
VERDICTS = {"beats": "beats baseline", "no_better": "no better than baseline", "worse": "worse than baseline",
            "too_few": "too few to judge"}


def paired_gap(y, p, base) -> tuple[float | None, float | None, int]:
    """(mean of model log loss - baseline log loss per row, its standard error, rows) where all three are known."""
    y, p, base = (np.asarray(a, dtype=float) for a in (y, p, base))
    keep = np.isfinite(y) & np.isfinite(p) & np.isfinite(base)
    n = int(keep.sum())
    if n < 2:
        return None, None, n
    d = sample_log_loss(y[keep], p[keep]) - sample_log_loss(y[keep], base[keep])
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(n)), n


def verdict(gap: float | None, se: float | None, n: int, min_samples: int = MIN_SAMPLES) -> str:
    """"beats", "worse", "no_better" or "too_few" (see the module docstring).

    >>> verdict(-0.003, 0.001, 500), verdict(-0.001, 0.001, 500), verdict(0.004, 0.001, 500), verdict(-0.1, 0.01, 5)
    ('beats', 'no_better', 'worse', 'too_few')
    """
    if gap is None or n < min_samples:
        return "too_few"
    return "beats" if gap < -2.0 * se else "worse" if gap > 2.0 * se else "no_better"
MODELS = {"ensemble": "hybrid", "batch": "batch", "sgd": "sgd", "passive_aggressive": "passive_aggressive",
          "mlp_online": "mlp_online"}  # prediction-log column -> name shown
BASELINES = ("majority_class", "reversal")
KEYS = ("n", "accuracy", "accuracy_se", "log_loss", "log_loss_se")


def _round(value):
    return round(value, 6) if isinstance(value, float) else value


def _scores(y: np.ndarray, p: np.ndarray) -> dict:
    """n, accuracy and log loss with their standard errors, to 6 decimals (what the API shows)."""
    s = summarize(y, p)
    return {k: _round(s[k]) for k in KEYS}


def judged(y, p, base, min_samples: int = MIN_SAMPLES) -> dict:
    """{"verdict", "gap", "gap_se", "beats_baseline"} of P(up) ``p`` against the baseline's ``base`` on labels ``y``."""
    gap, se, n = paired_gap(y, p, base)
    said = verdict(gap, se, n, min_samples)
    return {"verdict": said, "gap": _round(gap), "gap_se": _round(se),
            "beats_baseline": None if said == "too_few" else said == "beats"}


def symbol_health(scored: pd.DataFrame, horizon: int, window: int = WINDOW, min_samples: int = MIN_SAMPLES,
                  weights: dict | None = None) -> dict:
    """Health of every model over the newest ``window`` rows of ``scored`` (PredictionLog.scored shape);
    ``weights``: each model's share in the newest prediction (None: not recorded).

    Returns ``{"n", "window", "models": {name: {n, accuracy, accuracy_se, log_loss, log_loss_se,
    "baselines": {majority_class: {...same keys}, reversal: {...}}, "verdict", "gap", "gap_se",
    "beats_baseline": bool | None, "weight": float | None}}}``.

    >>> rows = pd.DataFrame({"open_time": range(40), "outcome": [1, 0] * 20, "ensemble": [0.9, 0.1] * 20})
    >>> h = symbol_health(rows, horizon=1)
    >>> h["models"]["hybrid"]["accuracy"], h["models"]["hybrid"]["baselines"]["reversal"]["accuracy"]
    (1.0, 1.0)
    >>> h["models"]["hybrid"]["verdict"], h["models"]["hybrid"]["beats_baseline"]
    ('beats', True)
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
        entry |= judged(y[answered], p[answered], base_all["majority_class"][tail][answered], min_samples)
        entry["weight"] = None if weights is None or name == "hybrid" else weights.get(column)
        models[name] = entry
    return {"n": int(len(y)), "window": window, "models": models}


def model_health(log, symbols: Iterable[str], interval: str, horizon: int, window: int = WINDOW) -> dict:
    """``{"window", "min_samples", "symbols": {symbol: symbol_health(...)}}`` from a PredictionLog; the
    baselines get twice the window of history so the majority class is known from the window's start."""
    out = {}
    for s in symbols:
        shares = log.weights(s, interval, 1)
        weights = None if shares.empty else {k: float(v) for k, v in shares.iloc[-1].items()
                                             if k != "open_time" and np.isfinite(v)}
        out[s] = symbol_health(log.scored(s, interval, 2 * window), horizon, window, weights=weights)
    return {"window": window, "min_samples": MIN_SAMPLES, "symbols": out}


def below_baseline_alerts(health: dict, now: int) -> list[dict]:
    """One alert per symbol naming the models (the hybrid first) whose log loss is worse than the majority-class
    baseline's by more than 2 SE over their last scored predictions (kind "below_baseline")."""
    alerts = []
    for symbol, h in (health.get("symbols") or {}).items():
        losing = [(name, m) for name, m in h["models"].items() if m["verdict"] == "worse"]
        if not losing:
            continue
        parts = [f"{name} log loss {m['log_loss']:.4f} vs {m['baselines']['majority_class']['log_loss']:.4f}"
                 for name, m in losing]
        alerts.append({"level": "danger" if losing[0][0] == "hybrid" else "warning", "kind": "below_baseline",
                       "time": now, "symbol": symbol,
                       "message": f"{symbol}: {', '.join(parts)} (majority-class baseline) over the last "
                                  f"{h['n']} scored predictions — worse than the baseline by more than 2 SE"})
    return alerts


def excluded_alerts(health: dict, now: int) -> list[dict]:
    """One alert per symbol and model that answered the newest prediction with weight 0 while others voted (the
    fixed mode's exclusion; kind "model_excluded")."""
    alerts = []
    for symbol, h in (health.get("symbols") or {}).items():
        weighted = {name: m["weight"] for name, m in h["models"].items() if m.get("weight") is not None}
        if not any(weighted.values()):
            continue
        for name, weight in weighted.items():
            if weight == 0:
                alerts.append({"level": "warning", "kind": "model_excluded", "time": now, "symbol": symbol,
                               "message": f"{symbol}: {name} had weight 0 in the newest prediction (its log loss "
                                          f"over the last {h['models'][name]['n']} scored predictions was worse "
                                          "than the majority-class baseline's)"})
    return alerts
