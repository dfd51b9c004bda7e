"""Paper-trading endpoints: the trades (with the learning event each closed one produced), their statistics
per symbol, and the force exit of an open trade."""
from __future__ import annotations

from flask import request

from api.routes import int_arg, route, symbol_arg
from engine.errors import ValidationError
from engine.trading.trader import TradeClosed, TradeNotFound


@route("/ml/trades", summary="Paper trades, newest first, each with the learning event its close produced; "
                             "`total` counts every trade the filters match (for paging)",
       query={"symbol": "configured symbol, case-insensitive (optional)",
              "status": "open or closed (optional; open includes trades awaiting their entry bar)",
              "side": "LONG or SHORT (optional)",
              "exit_reason": "take_profit, stop_loss, max_holding or force_exit (optional)",
              "limit": "at most this many trades, 1-1000 (default 100)",
              "offset": "skip this many trades first, 0 or more (default 0)"})
def trading_trades(system):
    filters = {"symbol": symbol_arg(system, required=False), "status": request.args.get("status") or None,
               "side": request.args.get("side") or None, "exit_reason": request.args.get("exit_reason") or None}
    trades = system.trader.trades(**filters, limit=int_arg("limit", 100, 1, 1000),
                                  offset=int_arg("offset", 0, 0, 10**9), with_learning=True)
    return {"trades": trades, "count": len(trades), "total": system.trader.count_trades(**filters)}


@route("/ml/trades/<trade_id>/exit", "POST",
       summary="Force-exit an open paper trade at the latest stored close (fees and slippage as any exit; reason "
               "force_exit; no learning event). 404 unknown trade, 409 already closed (the trade as it closed)")
def trading_force_exit(system, trade_id):
    if not trade_id.isdigit():
        raise ValidationError("trade_id", f"must be a trade number, got {trade_id!r}")
    try:
        trade = system.trader.force_exit(int(trade_id))
    except TradeNotFound as exc:
        return exc.to_dict(), 404
    except TradeClosed as exc:
        return exc.to_dict() | {"trade": exc.trade}, 409
    return {"status": "closed", "forced": trade.pop("forced"), "trade": trade}


@route("/ml/signals", summary="Trading signals, newest first: side, confidence, traded or held back (held_by: paused, "
                              "cost, outcome or open_trades) and why (note); `counts` by outcome, `total` for paging",
       query={"symbol": "configured symbol, case-insensitive (optional)",
              "limit": "at most this many signals, 1-1000 (default 100)",
              "offset": "skip this many signals first, 0 or more (default 0)"})
def trading_signals(system):
    symbol = symbol_arg(system, required=False)
    counts = system.trader.signal_counts(symbol)
    signals = system.trader.signals(symbol, limit=int_arg("limit", 100, 1, 1000), offset=int_arg("offset", 0, 0, 10**9))
    return {"signals": [{k: v for k, v in s.items() if k != "features"} for s in signals],
            "counts": counts, "total": counts["traded"] + counts["held"]}


@route("/ml/trading/stats", summary="Paper-trading statistics per symbol: trades, win rate, PnL after fees, profit "
                                    "factor, max drawdown, exposure, against buy-and-hold over the same span; "
                                    "learning events by status. Without a symbol: every symbol plus totals",
       query={"symbol": "configured symbol, case-insensitive (optional; default every symbol)"})
def trading_stats(system):
    return {"trading_enabled": system.config.current()["trading_enabled"],
            **system.trader.stats(symbol_arg(system, required=False))}
