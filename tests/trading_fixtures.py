"""Helpers for the trading tests: hand-written candles, a feature vector, a config."""
from __future__ import annotations

import pandas as pd

from engine.candles import CANDLE_COLUMNS
from engine.config import validate
from engine.features import FEATURE_COLUMNS

HOUR = 3_600_000
NO_GATES = {"HLS_COST_GATE_ENABLED": "false", "HLS_OUTCOME_GATE_ENABLED": "false"}  # every confident call trades
T0 = 1_600_000_000_000 - 1_600_000_000_000 % HOUR
FEATURES = {name: 0.01 * (i + 1) for i, name in enumerate(FEATURE_COLUMNS)} | {"williams_r": -15.0}  # plausible values


def bars(rows: list[tuple[float, float, float, float]], start: int = T0, step: int = HOUR) -> pd.DataFrame:
    """Candles from (open, high, low, close) rows, one per ``step`` from ``start``."""
    times = [start + i * step for i in range(len(rows))]
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], dtype=float)
    frame.insert(0, "open_time", pd.Series(times, dtype="int64"))
    frame["volume"] = 1.0
    frame["close_time"] = frame["open_time"] + step - 1
    frame["quote_volume"] = frame["close"]
    frame["trades"] = 1
    frame["taker_buy_base"] = 0.5
    frame["taker_buy_quote"] = frame["close"] / 2
    return frame[list(CANDLE_COLUMNS)]


def config(**changes) -> dict:
    """A validated config with cost-free trading unless changed (TP 2 %, SL 1 %, 3 bars)."""
    base = {"trade_fee_pct": 0.0, "trade_slippage_pct": 0.0, "take_profit_pct": 2.0, "stop_loss_pct": 1.0,
            "max_holding_bars": 3, "trade_stake_usdt": 1000.0, "signal_confidence_threshold": 0.6,
            "symbols": ["BTCUSDT"], "interval": "1h"}
    return validate(base | changes)
