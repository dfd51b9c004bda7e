"""Paper-trading endpoints: the trades (with the learning event each closed one produced) and their statistics."""
from __future__ import annotations

from flask import request

from api.routes import int_arg, route, symbol_arg


@route("/ml/trades", summary="Paper trades, newest first, each with the learning event its close produced",
       query={"symbol": "configured symbol, case-insensitive (optional)",
              "status": "open or closed (optional; open includes trades awaiting their entry bar)",
              "limit": "at most this many trades, 1-1000 (default 100)"})
def trading_trades(system):
    trades = system.trader.trades(symbol_arg(system, required=False), request.args.get("status") or None,
                                  int_arg("limit", 100, 1, 1000), with_learning=True)
    return {"trades": trades, "count": len(trades)}


@route("/ml/trading/stats", summary="Paper-trading statistics: trades, win rate, PnL after fees, max drawdown, "
                                    "exposure, against buy-and-hold over the same span; learning events by status",
       query={"symbol": "configured symbol, case-insensitive (optional; default all)"})
def trading_stats(system):
    return system.trader.stats(symbol_arg(system, required=False))
