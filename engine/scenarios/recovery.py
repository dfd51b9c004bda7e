"""How fast each model gets its edge back after a scenario market's law changes.

Scored on the oracle, not on the noisy labels: on each bar a call is worth the oracle's probability
of being right (its P(up) for an up call, 1 - P(up) for a down call), so a model's edge on a bar is
that minus 1/2, and the oracle's own edge is |P(up) - 1/2|. A model's **captured share** over a span
is its summed edge over the oracle's: 1 means every call the oracle would make, 0 a coin. For each
switch: the share over the ``before_days`` before it, then the trailing share over ``trailing_days``
bar by bar after it; the model has recovered on the first bar where that reaches ``target`` (90 %) of
its share before the switch -- the days it took are reported, None if it never did before the next
switch. A model with no edge before (share <= 0) is not judged at that switch.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.scenarios.market import DAY_BARS, ScenarioMarket

TARGET = 0.9


def _share(edge: np.ndarray, oracle: np.ndarray) -> float | None:
    total = float(np.nansum(oracle))
    return float(np.nansum(edge)) / total if total > 0 else None


def recovery(market: ScenarioMarket, predictions: pd.DataFrame, models: tuple[str, ...],
             before_days: float = 14, trailing_days: float = 3, target: float = TARGET) -> dict:
    """``{"switches": [{"time", "law", "models": {model: {"before", "days"}}}], "summary": {model: {"switches",
    "recovered", "median_days", "within_7_days"}}}`` for the columns ``p_<model>`` of ``predictions`` (open_time,
    aligned with the market's bars by open time)."""
    times = market.candles["open_time"].to_numpy(np.int64)
    at = np.searchsorted(times, predictions["open_time"].to_numpy(np.int64))
    oracle = np.full(len(times), np.nan)
    oracle[at] = np.abs(market.p_oracle[at] - 0.5)
    edges = {}
    for model in models:
        p = np.full(len(times), np.nan)
        p[at] = predictions[f"p_{model}"].to_numpy(float)
        right = np.where(p >= 0.5, market.p_oracle, 1.0 - market.p_oracle)
        edges[model] = np.where(np.isfinite(p), right - 0.5, np.nan)
    before, trailing = int(before_days * DAY_BARS), int(trailing_days * DAY_BARS)
    bounds = list(market.switches) + [len(times)]
    switches = []
    for k, start in enumerate(bounds[:-1]):
        end = bounds[k + 1]
        if start - before < 0 or not np.isfinite(oracle[start - before:start]).any():
            continue  # no predictions before it: nothing to recover to
        entry = {"time": int(times[start]), "law": market.periods[int(market.period[start]) % len(market.periods)],
                 "models": {}}
        for model, edge in edges.items():
            share = _share(edge[start - before:start], oracle[start - before:start])
            days = None
            if share is not None and share > 0:
                ok_edge, ok_oracle = np.where(np.isfinite(edge), edge, 0.0), np.where(np.isfinite(oracle), oracle, 0.0)
                e_sum = np.convolve(ok_edge[start:end], np.ones(trailing))[trailing - 1:end - start]
                o_sum = np.convolve(ok_oracle[start:end], np.ones(trailing))[trailing - 1:end - start]
                with np.errstate(invalid="ignore", divide="ignore"):
                    recovered = np.flatnonzero(e_sum >= target * share * o_sum)
                recovered = recovered[o_sum[recovered] > 0]
                days = None if not len(recovered) else round(float(recovered[0] + trailing) / DAY_BARS, 1)
            entry["models"][model] = {"before": None if share is None else round(share, 3), "days": days}
        switches.append(entry)
    summary = {}
    for model in models:
        judged = [s["models"][model] for s in switches if (s["models"][model]["before"] or 0) > 0]
        days = [j["days"] for j in judged if j["days"] is not None]
        summary[model] = {"switches": len(judged), "recovered": len(days),
                          "median_days": float(np.median(days)) if days else None,
                          "within_7_days": int(sum(d <= 7 for d in days))}
    return {"target": target, "before_days": before_days, "trailing_days": trailing_days, "switches": switches,
            "summary": summary}
