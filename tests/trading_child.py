"""A paper-trading process for the restart test: signal, fill, close, learn, announcing each step.

Usage: python tests/trading_child.py DB_PATH. With TRADING_STOP_AT=<step> it blocks after
printing that step until it is killed. Steps: signal, filled, in_learn (inside the learning
delivery transaction, after the sample was written), closed. Finally it prints
``done <trades closed by this run>``. Every step is idempotent, so a rerun resumes.
"""
from __future__ import annotations

import os
import sys

from engine.db import Database
from engine.store import CandleStore
from engine.trading import PaperTrader
from trading_fixtures import FEATURES, HOUR, T0, bars, config

STOP_AT = os.environ.get("TRADING_STOP_AT")


def step(name: str) -> None:
    print(name, flush=True)
    if name == STOP_AT:
        sys.stdin.read()  # the parent keeps the pipe open: wait here until SIGKILLed


def main(path: str) -> None:
    db = Database(path)
    db.connect().execute("CREATE TABLE IF NOT EXISTS learned (symbol TEXT, target INTEGER, features TEXT)")

    def learn(features, target, symbol):
        db.connect().execute("INSERT INTO learned VALUES (?, ?, ?)", (symbol, target, repr(features)))
        step("in_learn")

    store = CandleStore(db)
    cfg = config()
    trader = PaperTrader(db, store, lambda: cfg, learn=learn)
    store.upsert("BTCUSDT", "1h", bars([(100, 100.5, 99.5, 100)]))
    trader.on_prediction({"symbol": "BTCUSDT", "open_time": T0, "ensemble_prediction": 1,
                          "ensemble_confidence": 0.8, "status": "ok", "features": FEATURES})
    step("signal")
    store.upsert("BTCUSDT", "1h", bars([(100, 100.8, 99.6, 100.5)], start=T0 + HOUR))
    closed = trader.on_candles("BTCUSDT")
    step("filled")
    store.upsert("BTCUSDT", "1h", bars([(100.5, 102.6, 100.2, 102.2)], start=T0 + 2 * HOUR))
    closed += trader.on_candles("BTCUSDT")
    step("closed")
    print(f"done {len(closed)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
