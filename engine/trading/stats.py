"""Scores for a set of paper trades: win rate, PnL after fees, max drawdown, exposure, and the
same stake bought and held over the same span as the baseline.

Trades are dicts as stored by the ledger (``status``, ``side``, ``entry_time``, ``exit_time``,
``pnl``, ``fees``, ``exit_reason``, ``symbol``). Capital is one stake per symbol: returns and
drawdown percentages are relative to it, and buy-and-hold invests one stake per symbol.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from engine.trading.simulator import TradeRules, entry_fill, settle

CLOSED_FIELDS = {"id": np.int64, "exit_time": np.int64, "pnl": float, "fees": float, "return_pct": float,
                 "side": str, "exit_reason": str}
OPEN_END = np.iinfo(np.int64).max  # an open trade's exit: after every bar


def closed_trades(trades: Iterable[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """The closed trades' fields statistics use, as arrays ordered by exit time (then id)."""
    done = [t for t in trades if t["status"] == "closed"]
    cols = {key: np.array([t[key] for t in done], dtype=kind) for key, kind in CLOSED_FIELDS.items()}
    order = np.lexsort((cols["id"], cols["exit_time"]))
    return {key: values[order] for key, values in cols.items()}


def equity_curve(trades: Iterable[Mapping[str, Any]], capital: float) -> pd.DataFrame:
    """Realised equity after each closed trade: columns time (exit bar), pnl, equity, drawdown (USDT below
    the peak so far), drawdown_pct (of that peak), win_rate (cumulative)."""
    return _curve(closed_trades(trades), capital)


def _curve(done: Mapping[str, np.ndarray], capital: float) -> pd.DataFrame:
    pnl = done["pnl"]
    equity = capital + np.cumsum(pnl)
    peak = np.maximum.accumulate(np.concatenate(([capital], equity)))[1:]
    return pd.DataFrame({
        "time": done["exit_time"],
        "pnl": pnl,
        "equity": equity,
        "drawdown": peak - equity,
        "drawdown_pct": (peak - equity) / peak * 100.0,
        "win_rate": np.cumsum(pnl > 0) / np.arange(1, len(pnl) + 1),
    })


def buy_and_hold_curve(candles: pd.DataFrame, rules: TradeRules) -> pd.DataFrame:
    """Value of one stake bought at the first open (fees, slippage) and marked to each close:
    columns open_time, pnl (as if sold at that close)."""
    if candles.empty:
        return pd.DataFrame({"open_time": np.array([], dtype=np.int64), "pnl": np.array([], dtype=float)})
    entry = entry_fill(1, float(candles["open"].iloc[0]), rules)
    return pd.DataFrame({"open_time": candles["open_time"].to_numpy(np.int64),
                         "pnl": settle(1, entry, candles["close"].to_numpy(float), rules)["pnl"]})


def exposure(trades: Iterable[Mapping[str, Any]], bar_times: np.ndarray) -> float | None:
    """Share of the bars (open times, ascending) spent in at least one filled position."""
    if len(bar_times) == 0:
        return None
    filled = [t for t in trades if t.get("entry_time") is not None]
    starts = np.searchsorted(bar_times, np.array([t["entry_time"] for t in filled], dtype=np.int64), side="left")
    exits = np.array([t["exit_time"] if t["status"] == "closed" else OPEN_END for t in filled], dtype=np.int64)
    ends = np.searchsorted(bar_times, exits, side="right")
    depth = np.zeros(len(bar_times) + 1, dtype=np.int64)  # positions held per bar, as a running sum of +1/-1
    np.add.at(depth, starts, 1)
    np.add.at(depth, ends, -1)
    return float((np.cumsum(depth[:-1]) > 0).mean())


def profit_factor(pnl: np.ndarray) -> float | None:
    """Gross profit over gross loss (PnL after fees); None without a losing trade (undefined).

    >>> profit_factor(np.array([30.0, -10.0, -5.0])), profit_factor(np.array([5.0]))
    (2.0, None)
    """
    loss = -pnl[pnl < 0].sum()
    return float(pnl[pnl > 0].sum() / loss) if loss > 0 else None


def summarize(trades: list[Mapping[str, Any]], candles_by_symbol: Mapping[str, pd.DataFrame],
              rules: TradeRules) -> dict[str, Any]:
    """Statistics of ``trades`` against buying and holding each symbol over its given candles
    (the caller chooses the span, e.g. from the first entry to the latest bar)."""
    done = closed_trades(trades)
    capital = rules.stake * max(len(candles_by_symbol), 1)
    curve = _curve(done, capital)
    pnl = done["pnl"]
    n = len(pnl)
    wins = int((pnl > 0).sum())
    reasons, counts = np.unique(done["exit_reason"], return_counts=True)
    bh = [buy_and_hold_curve(c, rules)["pnl"].iloc[-1] for c in candles_by_symbol.values() if not c.empty]
    bh_pnl = float(sum(bh)) if bh else None
    exposures = [exposure([t for t in trades if t["symbol"] == s], c["open_time"].to_numpy(np.int64))
                 for s, c in candles_by_symbol.items() if not c.empty]
    spans = [(int(c["open_time"].iloc[0]), int(c["open_time"].iloc[-1]))
             for c in candles_by_symbol.values() if not c.empty]
    total = float(pnl.sum())
    return {
        "trades": n,
        "open_trades": sum(1 for t in trades if t["status"] == "open"),
        "long_trades": int((done["side"] == "LONG").sum()),
        "short_trades": int((done["side"] == "SHORT").sum()),
        "wins": wins,
        "losses": n - wins,
        "win_rate": wins / n if n else None,
        "pnl_usdt": total,
        "gross_profit_usdt": float(pnl[pnl > 0].sum()),
        "gross_loss_usdt": float(-pnl[pnl < 0].sum()),
        "profit_factor": profit_factor(pnl),
        "fees_usdt": float(done["fees"].sum()),
        "return_pct": total / capital * 100.0,
        "avg_trade_return_pct": float(done["return_pct"].mean()) if n else None,
        "max_drawdown_usdt": float(curve["drawdown"].max()) if n else 0.0,
        "max_drawdown_pct": float(curve["drawdown_pct"].max()) if n else 0.0,
        "exposure": float(np.mean(exposures)) if exposures else None,
        "exit_reasons": {str(r): int(c) for r, c in zip(reasons, counts)},
        "capital_usdt": capital,
        "span": [min(s for s, _ in spans), max(e for _, e in spans)] if spans else None,
        "buy_and_hold": {"pnl_usdt": bh_pnl,
                         "return_pct": None if bh_pnl is None else bh_pnl / capital * 100.0},
        "excess_pnl_usdt": None if bh_pnl is None else total - bh_pnl,
    }


TOTAL_KEYS = ("trades", "open_trades", "long_trades", "short_trades", "wins", "losses", "pnl_usdt", "fees_usdt",
              "gross_profit_usdt", "gross_loss_usdt")


def totals(per_symbol: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What adds up across symbols (counts, PnL and fees, win rate and profit factor of all trades);
    drawdown, exposure and buy-and-hold stay per symbol: each symbol's trades live in its own period."""
    out: dict[str, Any] = {key: sum(s[key] for s in per_symbol.values()) for key in TOTAL_KEYS}
    out["win_rate"] = out["wins"] / out["trades"] if out["trades"] else None
    loss = out["gross_loss_usdt"]
    out["profit_factor"] = out["gross_profit_usdt"] / loss if loss > 0 else None
    learning = [s["learning_events"] for s in per_symbol.values() if "learning_events" in s]
    if learning:
        out["learning_events"] = {k: sum(e[k] for e in learning) for k in learning[0]}
    return out
