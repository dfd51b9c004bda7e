"""The paper-trading tables: signals, trades and the learning events closed trades produce.

Invariants held by the schema and by transactions (safe across processes and restarts):
one signal per (symbol, interval, bar); at most one trade per signal; a trade is filled once
and closed once (updates check its status inside the transaction); closing a trade writes
its learning event in the same transaction (a force exit writes none); one learning event per
trade, delivered once.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable

from engine.db import Database
from engine.errors import ValidationError

MIGRATIONS = [
    """
    CREATE TABLE trading_signals (
        id INTEGER PRIMARY KEY,
        symbol TEXT NOT NULL,
        interval TEXT NOT NULL,
        open_time INTEGER NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('LONG', 'SHORT')),
        prediction INTEGER NOT NULL,
        confidence REAL NOT NULL,
        threshold REAL NOT NULL,
        features TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('traded', 'skipped')),
        note TEXT,
        created_at INTEGER NOT NULL,
        UNIQUE (symbol, interval, open_time)
    );
    CREATE TABLE trading_trades (
        id INTEGER PRIMARY KEY,
        signal_id INTEGER NOT NULL UNIQUE REFERENCES trading_signals(id),
        symbol TEXT NOT NULL,
        interval TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('LONG', 'SHORT')),
        signal_time INTEGER NOT NULL,
        rules TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
        entry_time INTEGER,
        entry_price REAL,
        take_profit_price REAL,
        stop_loss_price REAL,
        quantity REAL,
        exit_time INTEGER,
        exit_price REAL,
        exit_reason TEXT,
        bars_held INTEGER,
        gross_pnl REAL,
        fees REAL,
        pnl REAL,
        return_pct REAL,
        opened_at INTEGER NOT NULL,
        closed_at INTEGER,
        CHECK (status = 'open' OR (entry_time IS NOT NULL AND exit_time IS NOT NULL AND pnl IS NOT NULL))
    );
    CREATE INDEX trading_trades_symbol_status ON trading_trades (symbol, status);
    CREATE TABLE trading_learning_events (
        id INTEGER PRIMARY KEY,
        trade_id INTEGER NOT NULL UNIQUE REFERENCES trading_trades(id),
        symbol TEXT NOT NULL,
        open_time INTEGER NOT NULL,
        side TEXT NOT NULL,
        pnl REAL NOT NULL,
        target INTEGER NOT NULL CHECK (target IN (0, 1)),
        features TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        error TEXT,
        created_at INTEGER NOT NULL,
        delivered_at INTEGER
    );
    CREATE INDEX trading_learning_events_status ON trading_learning_events (status)
    """,
    # per-symbol reads of the dashboard's every refresh (version, event counts) from indexes alone
    """
    CREATE INDEX trading_trades_symbol_progress ON trading_trades (symbol, entry_time, closed_at);
    CREATE INDEX trading_learning_events_symbol_status ON trading_learning_events (symbol, status)
    """,
    # what held a skipped signal back (HELD_BY), so the page can count them; older rows keep NULL
    """
    ALTER TABLE trading_signals ADD COLUMN held_by TEXT;
    CREATE INDEX trading_signals_symbol_status ON trading_signals (symbol, status, held_by)
    """,
]
HELD_BY = ("paused", "cost", "outcome", "open_trades")  # the pause, the two gates, max_open_trades_per_symbol
_JSON_COLUMNS = ("features", "rules")
SIDES = ("LONG", "SHORT")
EXIT_REASONS = ("take_profit", "stop_loss", "max_holding", "force_exit")
EVENT_STATUSES = ("pending", "delivered", "failed")
# what statistics and charts read of a trade: no JSON columns to parse (10,000 trades in a few ms)
SUMMARY_COLUMNS = ("id", "symbol", "side", "status", "signal_time", "entry_time", "entry_price", "exit_time",
                   "exit_price", "exit_reason", "pnl", "fees", "return_pct")


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, values)) for values in cursor.fetchall()]
    for key in set(_JSON_COLUMNS) & set(names):
        for row in rows:
            if isinstance(row[key], str):
                row[key] = json.loads(row[key])
    return rows


class TradeLedger:
    """Reads and writes of the trading tables; every change is one transaction."""

    def __init__(self, db: Database):
        self.db = db
        db.migrate("trading", MIGRATIONS)

    def _select(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        return _rows(self.db.connect().execute(sql, params))

    def record_signal(self, signal: dict[str, Any], rules: dict[str, Any], max_open: int,
                      now: int, note: str | None = None, held_by: str | None = None) -> tuple[dict[str, Any], bool]:
        """Store a signal and, unless ``held_by`` (one of HELD_BY: the pause or a gate; ``note`` says why) or
        the symbol has ``max_open`` open trades ("open_trades"), its trade; ``note`` is kept with the signal.

        Returns (signal row with ``trade_id``, created); a signal already stored for that bar
        is returned unchanged with created False.
        """
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO trading_signals (symbol, interval, open_time, side, prediction, "
                "confidence, threshold, features, status, note, held_by, created_at) "
                "VALUES (?,?,?,?,?,?,?,?, 'skipped', ?, ?, ?)",
                (signal["symbol"], signal["interval"], signal["open_time"], signal["side"],
                 signal["prediction"], signal["confidence"], signal["threshold"],
                 json.dumps(signal["features"]), note, held_by, now))
            created = cur.rowcount == 1
            if created and held_by is None:
                signal_id = cur.lastrowid
                (n_open,) = conn.execute("SELECT COUNT(*) FROM trading_trades WHERE symbol=? AND status='open'",
                                         (signal["symbol"],)).fetchone()
                if n_open < max_open:
                    conn.execute(
                        "INSERT INTO trading_trades (signal_id, symbol, interval, side, signal_time, rules, "
                        "status, opened_at) VALUES (?,?,?,?,?,?, 'open', ?)",
                        (signal_id, signal["symbol"], signal["interval"], signal["side"],
                         signal["open_time"], json.dumps(rules), now))
                    conn.execute("UPDATE trading_signals SET status='traded' WHERE id=?", (signal_id,))
                else:
                    conn.execute("UPDATE trading_signals SET note=?, held_by='open_trades' WHERE id=?",
                                 (f"{n_open} open trade(s): max_open_trades_per_symbol reached", signal_id))
            row = _rows(conn.execute(
                "SELECT s.*, t.id AS trade_id FROM trading_signals s LEFT JOIN trading_trades t "
                "ON t.signal_id = s.id WHERE s.symbol=? AND s.interval=? AND s.open_time=?",
                (signal["symbol"], signal["interval"], signal["open_time"])))[0]
        return row, created

    def fill(self, trade_id: int, entry_time: int, entry_price: float, take_profit: float,
             stop_loss: float, quantity: float) -> bool:
        """Set the entry of an unfilled open trade; False if it was filled already."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE trading_trades SET entry_time=?, entry_price=?, take_profit_price=?, stop_loss_price=?, "
                "quantity=? WHERE id=? AND status='open' AND entry_time IS NULL",
                (entry_time, entry_price, take_profit, stop_loss, quantity, trade_id))
            return cur.rowcount == 1

    def close(self, trade_id: int, result: dict[str, Any], event: dict[str, Any] | None, now: int) -> bool:
        """Close a filled open trade and write its learning event (none when ``event`` is None), together;
        False if it is not open (closed meanwhile, by any process) or not filled."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE trading_trades SET status='closed', exit_time=?, exit_price=?, exit_reason=?, "
                "bars_held=?, gross_pnl=?, fees=?, pnl=?, return_pct=?, closed_at=? "
                "WHERE id=? AND status='open' AND entry_time IS NOT NULL",
                (result["exit_time"], result["exit_price"], result["exit_reason"], result["bars_held"],
                 result["gross_pnl"], result["fees"], result["pnl"], result["return_pct"], now, trade_id))
            if cur.rowcount != 1:
                return False
            if event is None:
                return True
            conn.execute(
                "INSERT INTO trading_learning_events (trade_id, symbol, open_time, side, pnl, target, "
                "features, status, created_at) VALUES (?,?,?,?,?,?,?, 'pending', ?)",
                (trade_id, event["symbol"], event["open_time"], event["side"], result["pnl"],
                 event["target"], json.dumps(event["features"]), now))
            return True

    def deliver(self, event: dict[str, Any], learn: Callable[[dict, int, str], Any], now: int) -> str:
        """Hand a pending learning event to ``learn(features, target, symbol)`` once.

        The status change and the call share one transaction: if ``learn`` writes through the
        same Database (as the online buffer does) both land or neither does. A ValidationError
        from ``learn`` marks the event failed (kept with its message); other errors leave it
        pending for the next attempt and propagate.
        """
        try:
            with self.db.transaction() as conn:
                cur = conn.execute("UPDATE trading_learning_events SET status='delivered', delivered_at=? "
                                   "WHERE id=? AND status='pending'", (now, event["id"]))
                if cur.rowcount != 1:
                    return "already_done"
                learn(event["features"], event["target"], event["symbol"])
            return "delivered"
        except ValidationError as exc:
            with self.db.transaction() as conn:
                conn.execute("UPDATE trading_learning_events SET status='failed', error=?, delivered_at=? "
                             "WHERE id=? AND status='pending'", (str(exc), now, event["id"]))
            return "failed"

    def open_trades(self, symbol: str, interval: str) -> list[dict[str, Any]]:
        return self._select("SELECT * FROM trading_trades WHERE symbol=? AND interval=? AND status='open' "
                            "ORDER BY id", (symbol, interval))

    def signal_features(self, signal_id: int) -> dict[str, float]:
        return self._select("SELECT features FROM trading_signals WHERE id=?", (signal_id,))[0]["features"]

    def pending_events(self, symbol: str | None = None) -> list[dict[str, Any]]:
        if symbol is None:
            return self._select("SELECT * FROM trading_learning_events WHERE status='pending' ORDER BY id")
        return self._select("SELECT * FROM trading_learning_events WHERE status='pending' AND symbol=? "
                            "ORDER BY id", (symbol,))

    def trade(self, trade_id: int) -> dict[str, Any] | None:
        rows = self._select("SELECT * FROM trading_trades WHERE id=?", (trade_id,))
        return rows[0] if rows else None

    def trades(self, symbol: str | None = None, status: str | None = None, limit: int | None = None,
               offset: int = 0, side: str | None = None, exit_reason: str | None = None,
               columns: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Trades, newest first (as opened: a symbol opens them bar after bar, so "All symbols" interleaves symbols
        as they trade, not by the eras of their bars), filtered (symbol, status open/closed, side, exit reason),
        ``offset`` rows in; ``columns`` (default all) e.g. SUMMARY_COLUMNS."""
        where, params = self._trade_filters(symbol, status, side, exit_reason)
        return self._select(f"SELECT {', '.join(columns or ('*',))} FROM trading_trades{where} "
                            f"ORDER BY id DESC{self._limit(limit, offset)}", params)

    def count_trades(self, symbol: str | None = None, status: str | None = None, side: str | None = None,
                     exit_reason: str | None = None) -> int:
        """How many trades :meth:`trades` pages through with the same filters."""
        where, params = self._trade_filters(symbol, status, side, exit_reason)
        return self.db.connect().execute(f"SELECT COUNT(*) FROM trading_trades{where}", params).fetchone()[0]

    def _trade_filters(self, symbol, status, side, exit_reason) -> tuple[str, tuple]:
        _check_choice("status", status, ("open", "closed"))
        _check_choice("side", side, SIDES)
        _check_choice("exit_reason", exit_reason, EXIT_REASONS)
        return self._where(symbol=symbol, status=status, side=side, exit_reason=exit_reason)

    def signals(self, symbol: str | None = None, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Signals, newest first as recorded, ``offset`` rows in."""
        where, params = self._where(symbol=symbol)
        return self._select(f"SELECT * FROM trading_signals{where} ORDER BY id DESC"
                            f"{self._limit(limit, offset)}", params)

    def signal_counts(self, symbol: str | None = None) -> dict[str, int]:
        """{"traded": n, "held": n, "held_by": {reason: n} for each of HELD_BY (and "other": older rows)}."""
        where, params = self._where(symbol=symbol)
        rows = self.db.connect().execute(f"SELECT status, held_by, COUNT(*) FROM trading_signals{where} "
                                         "GROUP BY status, held_by", params).fetchall()
        held = dict.fromkeys(HELD_BY, 0)
        for status, reason, n in rows:
            if status == "skipped":
                held[reason or "other"] = held.get(reason or "other", 0) + n
        return {"traded": sum(n for status, _, n in rows if status == "traded"), "held": sum(held.values()),
                "held_by": held}

    def learning_events(self, symbol: str | None = None, trade_id: int | None = None, limit: int | None = None,
                        offset: int = 0, status: str | None = None) -> list[dict[str, Any]]:
        """Learning events, newest first, filtered (symbol, trade, status), ``offset`` rows in."""
        _check_choice("status", status, EVENT_STATUSES)
        where, params = self._where(symbol=symbol, trade_id=trade_id, status=status)
        return self._select(f"SELECT * FROM trading_learning_events{where} ORDER BY id DESC"
                            f"{self._limit(limit, offset)}", params)

    def events_of_trades(self, trade_ids: list[int]) -> dict[int, dict[str, Any]]:
        """Learning events by trade id, for the given trades."""
        if not trade_ids:
            return {}
        marks = ",".join("?" for _ in trade_ids)
        rows = self._select(f"SELECT * FROM trading_learning_events WHERE trade_id IN ({marks})", tuple(trade_ids))
        return {row["trade_id"]: row for row in rows}

    def version(self, symbol: str) -> tuple:
        """Changes whenever a trade of ``symbol`` opens, fills or closes or one of its learning events changes
        status (two aggregate reads; for caches of what is computed from them)."""
        conn = self.db.connect()
        trades = conn.execute("SELECT COUNT(*), MAX(id), COUNT(entry_time), COUNT(closed_at), MAX(closed_at) "
                              "FROM trading_trades WHERE symbol=?", (symbol,)).fetchone()
        events = conn.execute("SELECT COUNT(*), SUM(status='delivered'), SUM(status='failed') "
                              "FROM trading_learning_events WHERE symbol=?", (symbol,)).fetchone()
        return trades + events

    def event_counts(self, symbol: str | None = None) -> dict[str, int]:
        """Learning events by status (pending, delivered, failed)."""
        where, params = self._where(symbol=symbol)
        rows = self.db.connect().execute(
            f"SELECT status, COUNT(*) FROM trading_learning_events{where} GROUP BY status", params).fetchall()
        return {"pending": 0, "delivered": 0, "failed": 0} | dict(rows)

    @staticmethod
    def _where(**filters: Any) -> tuple[str, tuple]:
        given = {k: v for k, v in filters.items() if v is not None}
        if not given:
            return "", ()
        return " WHERE " + " AND ".join(f"{k}=?" for k in given), tuple(given.values())

    @staticmethod
    def _limit(limit: int | None, offset: int = 0) -> str:
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValidationError("offset", "must be a whole number, 0 or more")
        if limit is None:
            return f" LIMIT -1 OFFSET {offset}" if offset else ""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError("limit", "must be a positive whole number")
        return f" LIMIT {limit} OFFSET {offset}"


def _check_choice(field: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise ValidationError(field, f"must be one of {', '.join(choices)}")
