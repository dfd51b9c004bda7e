"""PaperTrader: hybrid predictions become signals and paper trades; closed trades become
training samples for the online models.

Per new closed candle the system calls ``on_candles(symbol)`` (fill trades at the next bar's
open, close them by the exit rules, deliver learning events), then ``on_prediction(...)``
for the prediction made on that candle. All state is in SQLite (see ledger.py), and the exit
of a trade is a pure function of its stored rules and the stored candles, so a restarted
process resumes every open trade where it was.

Learning target: the online models learn "close goes up", so a closed trade teaches what the
right call for up would have been: LONG with PnL after fees > 0 -> 1; LONG with PnL <= 0 -> 0;
SHORT with PnL > 0 -> 0 ("down was right"); SHORT with PnL <= 0 -> 1 ("down was wrong").

The operator can pause trading (``trading_enabled`` off: signals are still recorded, no trade opens;
open trades keep being managed) and force-exit an open trade (:meth:`PaperTrader.force_exit`).
A force exit teaches nothing: its timing is the operator's, not the signal's, so it makes no
learning event.
"""
from __future__ import annotations

import logging
import numbers
import time
from dataclasses import replace
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from engine.config import SYMBOL
from engine.db import Database
from engine.errors import ValidationError
from engine.features.inputs import spec
from engine.online.samples import check_features
from engine.trading.ledger import SUMMARY_COLUMNS, TradeLedger
from engine.trading.signals import DIRECTIONS, LONG, signal_side
from engine.trading.simulator import TradeRules, entry_fill, find_exit, levels, settle
from engine.trading.stats import buy_and_hold_curve, equity_curve, summarize, totals

log = logging.getLogger(__name__)
Learn = Callable[[dict, int, str], Any]
Gate = Callable[[str, float, str, dict], dict]
FORCE_EXIT = "force_exit"
PAUSED_NOTE = "trading paused (trading_enabled is off): no trade opened"


class TradeNotFound(ValidationError):
    """No trade with that id."""

    def __init__(self, trade_id: int):
        super().__init__("trade_id", f"no trade #{trade_id}")


class TradeClosed(ValidationError):
    """The trade is closed already (by its rules or an earlier force exit, in any process); ``trade`` is it."""

    def __init__(self, trade: dict[str, Any]):
        super().__init__("trade_id", f"trade #{trade['id']} is already closed "
                                     f"({str(trade['exit_reason']).replace('_', ' ')})")
        self.trade = trade


def learning_target(side: str, pnl: float) -> int:
    """The "price goes up" label a closed trade teaches (see the module docstring).

    >>> [learning_target(s, p) for s in ("LONG", "SHORT") for p in (5.0, -5.0)]
    [1, 0, 0, 1]
    """
    return int((pnl > 0) == (side == LONG))


def _validate_bar(prediction: Mapping[str, Any]) -> tuple[str, int]:
    symbol, open_time = prediction.get("symbol"), prediction.get("open_time")
    if not isinstance(symbol, str) or not SYMBOL.match(symbol):
        raise ValidationError("symbol", "must be an upper-case symbol like BTCUSDT")
    if isinstance(open_time, bool) or not isinstance(open_time, numbers.Integral) or open_time < 0:
        raise ValidationError("open_time", "must be an epoch time in milliseconds")
    return symbol, int(open_time)


def _settle_at(trade: Mapping[str, Any], price: float) -> dict[str, float]:
    """A filled trade's round trip if it left at ``price`` (before exit slippage), under its own rules."""
    return settle(DIRECTIONS[trade["side"]], trade["entry_price"], price, TradeRules(**trade["rules"]))


class PaperTrader:
    """Signals, paper trades and learning from their outcomes (no real orders, no keys).

    ``store`` needs ``range(symbol, interval, start_ms=None, end_ms=None) -> DataFrame``;
    ``learn(features, target, symbol)`` receives each closed trade's sample (the system passes
    one that calls ``online.add_training_data(..., source="trade")`` on the same Database,
    which makes delivery exactly-once); ``clock()`` returns epoch ms for record stamps;
    ``gate(symbol, p_up, side, features) -> {"trade", "note", "size", "held_by"}`` decides whether a signal
    becomes a trade and scales its stake (engine.outcome.gate.SignalGate; None: every signal trades).
    """

    def __init__(self, db: Database, store: Any, config: Callable[[], dict], learn: Learn | None = None,
                 clock: Callable[[], int] | None = None, gate: Gate | None = None):
        self.ledger = TradeLedger(db)
        self.store = store
        self.config = config
        self.learn = learn
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.gate = gate
        self._reports: dict[str, tuple[tuple, dict[str, Any]]] = {}  # symbol -> (what it was computed from, report)

    def on_prediction(self, prediction: Mapping[str, Any], features: Mapping[str, Any] | None = None
                      ) -> dict[str, Any] | None:
        """Record a LONG/SHORT signal (and its trade, if the gate passes it and the symbol has room) for
        a confident prediction; None when there is no signal. Calling again for the same bar changes
        nothing."""
        if prediction.get("status") == "not_ready" or prediction.get("ensemble_prediction") is None:
            return None
        cfg = self.config()
        threshold = cfg["signal_confidence_threshold"]
        side = signal_side(prediction["ensemble_prediction"], prediction["ensemble_confidence"], threshold)
        if side is None:
            return None
        symbol, open_time = _validate_bar(prediction)
        values = check_features(prediction.get("features") if features is None else features, spec(cfg).names)
        signal = {"symbol": symbol, "interval": cfg["interval"], "open_time": open_time, "side": side,
                  "prediction": int(prediction["ensemble_prediction"]),
                  "confidence": float(prediction["ensemble_confidence"]), "threshold": threshold,
                  "features": values}
        rules = TradeRules.from_config(cfg)
        decision = {"trade": True, "note": None, "size": 1.0, "held_by": None}
        if not cfg["trading_enabled"]:  # paused by the operator: the signal is kept, no trade opens
            decision = {"trade": False, "note": PAUSED_NOTE, "size": 1.0, "held_by": "paused"}
        elif self.gate is not None:
            p_up = signal["confidence"] if signal["prediction"] == 1 else 1.0 - signal["confidence"]
            decision = self.gate(symbol, p_up, side, values)
        rules = replace(rules, stake=rules.stake * decision["size"])
        row, created = self.ledger.record_signal(signal, rules.as_dict(), cfg["max_open_trades_per_symbol"],
                                                 self.clock(), note=decision["note"],
                                                 held_by=None if decision["trade"] else decision["held_by"])
        return row | {"created": created}

    def on_candles(self, symbol: str) -> list[dict[str, Any]]:
        """Fill and close ``symbol``'s open trades on the stored candles; returns the trades closed now."""
        interval = self.config()["interval"]
        closed = []
        for trade in self.ledger.open_trades(symbol, interval):
            start = trade["entry_time"] if trade["entry_time"] is not None else trade["signal_time"] + 1
            candles = self.store.range(symbol, interval, start_ms=start)
            if candles.empty:
                continue
            done = self._advance(trade, candles)
            if done is not None:
                closed.append(done)
        self.deliver_learning(symbol)
        return closed

    def _advance(self, trade: dict[str, Any], candles: pd.DataFrame) -> dict[str, Any] | None:
        rules = TradeRules(**trade["rules"])
        direction = DIRECTIONS[trade["side"]]
        times = candles["open_time"].to_numpy(np.int64)
        opens, highs, lows, closes = (candles[c].to_numpy(float) for c in ("open", "high", "low", "close"))
        if trade["entry_time"] is None:
            entry = entry_fill(direction, float(opens[0]), rules)
            tp, sl = levels(direction, entry, rules)
            if not self.ledger.fill(trade["id"], int(times[0]), entry, tp, sl, rules.stake / entry):
                return None  # filled meanwhile by another process: next call continues from its row
            trade |= {"entry_time": int(times[0]), "entry_price": entry, "take_profit_price": tp,
                      "stop_loss_price": sl, "quantity": rules.stake / entry}
        exit_ = find_exit(direction, trade["entry_price"], opens, highs, lows, closes, rules)
        if exit_ is None:
            return None
        result = settle(direction, trade["entry_price"], exit_.price, rules) | {
            "exit_time": int(times[exit_.offset]), "exit_reason": exit_.reason, "bars_held": exit_.offset + 1}
        event = {"symbol": trade["symbol"], "open_time": trade["signal_time"], "side": trade["side"],
                 "target": learning_target(trade["side"], result["pnl"]),
                 "features": self.ledger.signal_features(trade["signal_id"])}
        now = self.clock()
        if not self.ledger.close(trade["id"], result, event, now):
            return None
        return trade | result | {"status": "closed", "closed_at": now}

    def force_exit(self, trade_id: int) -> dict[str, Any]:
        """Close open trade ``trade_id`` now at the latest stored close (slippage and fees as for any exit),
        reason "force_exit", in one transaction: exactly once, whichever process asks first. Its exit rules
        run over the stored bars first, so an exit they reached already stands (``forced`` False).

        Returns the closed trade with ``forced``. Raises TradeNotFound, TradeClosed, or
        ValidationError("trade_id") while the trade waits for its entry bar.
        """
        trade = self.ledger.trade(trade_id)
        if trade is None:
            raise TradeNotFound(trade_id)
        if trade["status"] == "closed":
            raise TradeClosed(trade)
        start = trade["entry_time"] if trade["entry_time"] is not None else trade["signal_time"] + 1
        candles = self.store.range(trade["symbol"], trade["interval"], start_ms=start)
        if candles.empty:
            raise ValidationError("trade_id", f"trade #{trade_id} has not entered yet: it fills at the open of "
                                              "the bar after its signal")
        by_rules = self._advance(trade, candles)
        if by_rules is not None:
            self.deliver_learning(trade["symbol"])
            return by_rules | {"forced": False}
        trade = self.ledger.trade(trade_id)  # as filled now, or as another process left it
        last = candles.iloc[-1]
        result = _settle_at(trade, float(last["close"])) | {
            "exit_time": int(last["open_time"]), "exit_reason": FORCE_EXIT,
            "bars_held": int((candles["open_time"] >= trade["entry_time"]).sum())}
        if trade["status"] == "closed" or not self.ledger.close(trade_id, result, None, self.clock()):
            raise TradeClosed(self.ledger.trade(trade_id))
        return self.ledger.trade(trade_id) | {"forced": True}

    def open_positions(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Open trades, newest first, each marked to its symbol's latest stored close: ``mark_time``,
        ``mark_price`` and ``unrealised_pnl`` (what a force exit now would give, exit slippage and both fees
        paid); the marks are None while a trade waits for its entry bar."""
        latest: dict[str, dict | None] = {}
        out = []
        for trade in self.ledger.trades(symbol=symbol, status="open"):
            if trade["symbol"] not in latest:
                latest[trade["symbol"]] = self.store.latest(trade["symbol"], trade["interval"])
            bar = latest[trade["symbol"]]
            marked = trade["entry_time"] is not None and bar is not None
            out.append(trade | {"mark_time": int(bar["open_time"]) if marked else None,
                                "mark_price": float(bar["close"]) if marked else None,
                                "unrealised_pnl": _settle_at(trade, float(bar["close"]))["pnl"] if marked else None})
        return out

    def deliver_learning(self, symbol: str | None = None) -> dict[str, int]:
        """Pass pending learning events to ``learn``; returns counts by outcome. Events stay
        pending while no ``learn`` is set or it fails for a reason other than bad input."""
        counts = {"delivered": 0, "failed": 0, "pending": 0}
        for event in self.ledger.pending_events(symbol):
            if self.learn is None:
                counts["pending"] += 1
                continue
            try:
                outcome = self.ledger.deliver(event, self.learn, self.clock())
            except Exception as exc:  # the online buffer is busy or down: retried on the next candle
                log.warning("learning event %s not delivered: %s", event["id"], exc)
                counts["pending"] += 1
                continue
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    def trades(self, symbol: str | None = None, status: str | None = None, limit: int | None = None,
               with_learning: bool = False, offset: int = 0, side: str | None = None,
               exit_reason: str | None = None) -> list[dict[str, Any]]:
        """Trades, newest first, ``offset`` rows in; ``status`` 'open' (includes ones awaiting their entry bar)
        or 'closed', ``side`` LONG/SHORT, ``exit_reason``. ``with_learning`` adds each trade's
        ``learning_event`` (None while open, and for a force exit)."""
        rows = self.ledger.trades(symbol=symbol, status=status, limit=limit, offset=offset, side=side,
                                  exit_reason=exit_reason)
        if with_learning:
            events = self.ledger.events_of_trades([t["id"] for t in rows])
            rows = [t | {"learning_event": events.get(t["id"])} for t in rows]
        return rows

    def count_trades(self, symbol: str | None = None, status: str | None = None, side: str | None = None,
                     exit_reason: str | None = None) -> int:
        return self.ledger.count_trades(symbol=symbol, status=status, side=side, exit_reason=exit_reason)

    def signals(self, symbol: str | None = None, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        return self.ledger.signals(symbol=symbol, limit=limit, offset=offset)

    def signal_counts(self, symbol: str | None = None) -> dict[str, Any]:
        return self.ledger.signal_counts(symbol)

    def learning_events(self, symbol: str | None = None, trade_id: int | None = None, limit: int | None = None,
                        offset: int = 0, status: str | None = None) -> list[dict[str, Any]]:
        return self.ledger.learning_events(symbol=symbol, trade_id=trade_id, limit=limit, offset=offset,
                                           status=status)

    def event_counts(self, symbol: str | None = None) -> dict[str, int]:
        return self.ledger.event_counts(symbol)

    def symbols(self) -> list[str]:
        """The configured symbols, then any other symbol that has trades (e.g. removed from the config)."""
        configured = list(self.config()["symbols"])
        traded = self.ledger.db.connect().execute("SELECT DISTINCT symbol FROM trading_trades").fetchall()
        return configured + sorted({s for (s,) in traded} - set(configured))

    def stats(self, symbol: str | None = None) -> dict[str, Any]:
        """One symbol's statistics (see :meth:`report`); without a symbol, per symbol ({"symbols": {symbol:
        stats}}) and ``totals`` of what adds up across symbols (never one buy-and-hold or drawdown across
        symbols: each symbol trades in its own period)."""
        if symbol is not None:
            return self.report(symbol)["stats"]
        per_symbol = {s: self.report(s)["stats"] for s in self.symbols()}
        return {"symbols": per_symbol, "totals": totals(per_symbol)}

    def report(self, symbol: str) -> dict[str, Any]:
        """``stats``: win rate, PnL, profit factor, drawdown, exposure and buy-and-hold from the symbol's
        first entry to its latest bar (stats.summarize), ``learning_events`` by status; ``trades`` (newest
        first, ledger.SUMMARY_COLUMNS); for charts,
        ``equity`` (realised, per closed trade: equity, drawdown, drawdown_pct, cumulative win rate) and
        ``buy_and_hold`` (PnL of one stake marked at each close) over the same span, on market time.
        Kept per symbol until a trade, a learning event, the stored candles or the rules change (read from
        disk on each call: other processes' changes count); callers must not change the frames or lists."""
        cfg = self.config()
        rules, interval = TradeRules.from_config(cfg), cfg["interval"]
        key = (self.ledger.version(symbol), self.store.bounds(symbol, interval), rules, interval)
        cached = self._reports.get(symbol)
        if cached is None or cached[0] != key:  # recomputed only when a trade, an event or the candles changed
            trades = self.ledger.trades(symbol=symbol, columns=SUMMARY_COLUMNS)
            entries = [t["entry_time"] for t in trades if t["entry_time"] is not None]
            span = {symbol: self.store.range(symbol, interval, start_ms=min(entries))} if entries else {}
            cached = key, {
                "stats": summarize(trades, span, rules) | {"symbol": symbol,
                                                           "learning_events": self.ledger.event_counts(symbol)},
                "trades": trades, "equity": equity_curve(trades, rules.stake),
                "buy_and_hold": buy_and_hold_curve(span.get(symbol, pd.DataFrame()), rules)}
            self._reports[symbol] = cached
        return cached[1] | {"stats": dict(cached[1]["stats"])}
