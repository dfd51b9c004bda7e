"""Warming the live outcome model: simulated trades over the stored history.

When the outcome model has learned nothing yet (a new instance, or its file was removed), the
``outcome_warmup`` job replays each configured symbol's stored candles through the walk-forward
(engine.evaluation: online, batch and hybrid exactly as they run live, each call made before its
label is known) over the last ``outcome_warmup_days``, turns the hybrid's calls into the signals
the trader would have recorded, settles the trade each would have opened (fees and slippage
included), stores those outcomes as ``replay`` samples and learns them test-then-train. The
outcome gate then starts with hundreds of lessons instead of waiting weeks for paper trades.
"""
from __future__ import annotations

import numpy as np

from engine.candles import INTERVAL_MS
from engine.errors import NotReady, ValidationError
from engine.evaluation import DAY_MS, walk_forward
from engine.features import WARMUP_BARS, compute_features
from engine.outcome.manager import OutcomeManager
from engine.outcome.walk import signal_outcomes


def warm_up(manager: OutcomeManager, store, config: dict) -> dict:
    """Replay and learn (see the module docstring). Raises NotReady when the model has samples already or
    no symbol has enough stored candles. Returns ``{"samples": {symbol: n}, "update": manager.update()}``."""
    if manager.stats()["samples_seen"] or manager.pending_count():
        raise NotReady("the outcome model has learned trade outcomes already; no warm-up needed")
    interval, added = config["interval"], {}
    for symbol in config["symbols"]:
        bounds = store.bounds(symbol, interval)
        if bounds is None:
            continue
        start = bounds[1] - config["outcome_warmup_days"] * DAY_MS
        lead = config["batch_window_days"] * DAY_MS + WARMUP_BARS * INTERVAL_MS[interval]
        candles = store.range(symbol, interval, start - lead)
        try:
            predictions = walk_forward(candles, config, start_ms=start, trading=False, interval=interval).predictions
        except ValidationError:
            continue  # not one full feature row yet
        first = len(candles) - len(predictions)
        prob_up = np.r_[np.full(first, np.nan), predictions["p_ensemble"].to_numpy()]
        signals = signal_outcomes(candles, prob_up, config, first)
        closed = signals["exit_bar"] >= 0
        times = candles["open_time"].to_numpy(np.int64)
        features = compute_features(candles).to_numpy()[signals["bar"][closed]]
        added[symbol] = manager.add([
            (symbol, interval, times[bar], side, p, f, r, pnl, "replay", times[x]) for bar, side, p, f, r, pnl, x in
            zip(signals["bar"][closed], signals["side"][closed], signals["p_up"][closed], features,
                signals["return_pct"][closed], signals["pnl"][closed], signals["exit_bar"][closed])])
    if not sum(added.values()):
        raise NotReady(f"no signal in the stored history of {', '.join(config['symbols'])} ({interval}) to learn from")
    return {"samples": added, "update": manager.update()}
