"""``SignalGate``: what a LONG/SHORT signal must pass live to become a paper trade, and its stake.

The gates, in order, each switched by the config:
1. ``cost_gate_enabled``: the move expected over the trade (engine.trading.trade_move: measured on the
   closed signal trades of the symbol's last ``expected_move_window_bars`` bars, per unit of the
   hybrid's edge) must exceed the round-trip cost;
2. ``outcome_gate_enabled``: the outcome model (engine.outcome.manager) must be ready, no worse
   than its base rate lately, and its P(profitable) must reach the threshold in force; the stake
   then scales with it up to ``outcome_size_max``.
A blocked signal is recorded as skipped with the reason (trading_signals.note); the walk-forward
applies the same functions to history (engine.trade_evaluation).
"""
from __future__ import annotations

from typing import Callable, Mapping

from engine.candles import INTERVAL_MS
from engine.outcome.learner import MIN_SAMPLES
from engine.outcome.manager import OutcomeManager
from engine.trading.signals import DIRECTIONS, round_trip_cost_pct, size_multiplier
from engine.trading.trade_move import TradeMove, measure


class SignalGate:
    """``gate(symbol, p_up, side, features) -> {"trade": bool, "note": str | None, "size": float, "held_by":
    "cost" | "outcome" | None}`` for a signal on ``symbol``'s latest bar: the hybrid's P(up), LONG/SHORT, the
    bar's 23 features."""

    def __init__(self, outcome: OutcomeManager, store, config: Callable[[], dict]):
        self.outcome, self.store, self.config = outcome, store, config

    def __call__(self, symbol: str, p_up: float, side: str, features: Mapping[str, float]) -> dict:
        cfg = self.config()
        notes = []
        if cfg["cost_gate_enabled"]:
            cost, edge = round_trip_cost_pct(cfg), abs(2.0 * p_up - 1.0)
            move = self.trade_move(symbol, cfg)
            expected = move.expected_pct(edge)
            if expected is None:
                return _skip("cost", f"cost gate: {move.describe()}")
            if not expected > cost:
                return _skip("cost", f"expected move over the trade {expected:.3f} % does not exceed the round-trip cost "
                             f"{cost:.2f} % (fees + slippage; {move.describe()})")
            notes.append(f"expected move over the trade {expected:.3f} % > cost {cost:.2f} %")
        size = 1.0
        if cfg["outcome_gate_enabled"]:
            judged = self.outcome.judge(features, p_up, DIRECTIONS[side])
            p_win, threshold = judged["p_win"], judged["threshold"]
            if p_win is None:
                return _skip("outcome", f"outcome model not ready: learned {judged['samples_seen']} of the {MIN_SAMPLES} trade "
                             "outcomes it needs")
            if judged["excluded_reason"]:
                return _skip("outcome", judged["excluded_reason"])
            if p_win < threshold:
                return _skip("outcome", f"outcome model: P(profitable) {p_win:.3f} below the threshold {threshold:.2f} "
                             f"({judged['threshold_how']})")
            size = float(size_multiplier(p_win, threshold, cfg["outcome_size_max"]))
            notes.append(f"outcome model: P(profitable) {p_win:.3f} >= threshold {threshold:.2f}; stake x{size:.2f}")
        return {"trade": True, "note": "; ".join(notes) or None, "size": size, "held_by": None}

    def trade_move(self, symbol: str, cfg: dict) -> TradeMove:
        """The move per unit of edge of the symbol's signal trades closed in the last expected_move_window_bars."""
        latest = self.store.latest(symbol, cfg["interval"])
        if latest is None:
            return measure([], [])
        window = max(cfg["expected_move_window_bars"], cfg["max_holding_bars"] + 1) * INTERVAL_MS[cfg["interval"]]
        edges, returns = self.outcome.signal_trades(symbol, cfg["interval"], int(latest["open_time"]) - window)
        return measure(edges, returns + round_trip_cost_pct(cfg))


def _skip(gate: str, note: str) -> dict:
    return {"trade": False, "note": note, "size": 1.0, "held_by": gate}
