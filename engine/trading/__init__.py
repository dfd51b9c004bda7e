"""Paper trading: signals from predictions, simulated trades, and learning from their outcomes."""
from engine.trading.backtest import backtest, simulate
from engine.trading.ledger import TradeLedger
from engine.trading.signals import LONG, SHORT, directions, signal_side
from engine.trading.simulator import Exit, TradeRules, find_exit, settle
from engine.trading.stats import summarize
from engine.trading.trader import PaperTrader, learning_target

__all__ = ["LONG", "SHORT", "Exit", "PaperTrader", "TradeLedger", "TradeRules", "backtest", "directions",
           "find_exit", "learning_target", "settle", "signal_side", "simulate", "summarize"]
