"""What happens after new candles arrive for a symbol, in this order:

1. trading: open paper trades are filled/closed on the new bars (closed trades become online
   samples through the trader's ``learn`` callback); the outcome model (if given) collects what
   the recorded signals earned (closed trades, and the simulated trades of skipped signals) and
   learns it, test-then-train, before it judges the next signal;
2. labelled samples: every bar whose label is now known (``label_horizon`` bars later) goes into
   the online buffer (deduplicated by open time, so re-running is harmless); nothing is learnt
   here, the online update job scores each batch before learning it;
3. prediction: the hybrid prediction for the newest closed candle is stored in the prediction
   log (scored by the evaluation job once its outcome candle arrives);
4. trading: a confident prediction becomes a paper signal.
"""
from __future__ import annotations

from typing import Callable

from engine.features import HISTORY_BARS
from engine.features.inputs import build_inputs, reference_candles, spec


class Pipeline:
    """Runs the steps above; collaborators follow the DESIGN.md contracts (trader may be None)."""

    def __init__(self, store, online, hybrid, trader, config: Callable[[], dict], outcome=None):
        self.store, self.online, self.hybrid, self.trader, self.config = store, online, hybrid, trader, config
        self.outcome = outcome

    def after_candles(self, new_rows: dict[str, int]) -> dict:
        """Process every symbol with new candles; returns a per-symbol summary for the job log."""
        return {symbol: self.process(symbol, n) for symbol, n in new_rows.items() if n > 0}

    def process(self, symbol: str, new_rows: int) -> dict:
        cfg = self.config()
        closed = self.trader.on_candles(symbol) if self.trader is not None else []
        if self.outcome is not None:
            self.outcome.learn(self.store)
        samples = self.add_samples(symbol, new_rows, cfg)
        prediction = self.hybrid.predict(symbol, store_prediction=True)
        signal = None
        if self.trader is not None and prediction["status"] != "not_ready":
            signal = self.trader.on_prediction(prediction, prediction["features"])
        return {"new_candles": new_rows, "samples_added": samples, "trades_closed": len(closed),
                "prediction": {"open_time": prediction["open_time"], "status": prediction["status"],
                               "ensemble_prediction": prediction["ensemble_prediction"],
                               "ensemble_confidence": prediction["ensemble_confidence"]},
                "signal": None if signal is None else signal.get("side")}

    def add_samples(self, symbol: str, new_rows: int, cfg: dict) -> int:
        """Queue the samples whose label the new bars made known (at most a buffer's worth)."""
        horizon = cfg["label_horizon"]
        fresh = min(new_rows, cfg["buffer_size"]) + horizon
        # HISTORY_BARS of lead-in so the recursive indicators match the full-history values the models see
        candles = self.store.tail(symbol, cfg["interval"], fresh + HISTORY_BARS + horizon)
        inputs = spec(cfg)
        reference = None
        if inputs.needs_reference and len(candles):
            reference = reference_candles(self.store, cfg, symbol, int(candles["open_time"].iat[0]),
                                          int(candles["open_time"].iat[-1]))
        X, y = build_inputs(candles, horizon, inputs, reference)
        X, y = X.tail(fresh), y.tail(fresh)
        if X.empty:
            return 0
        return self.online.add_samples(X, y, symbol, "candle", X.index.to_numpy())
