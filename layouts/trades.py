"""The "Trades" tab (paper trading): the pause switch, performance per symbol, equity and drawdown and PnL per
trade on a market-time axis, open trades (with a force exit each), closed trades and learning events (paged,
filtered); pure render functions for its tables, as markup (layouts.widgets.table_markup): each table is one
element on the page, filled from its "<id>-html" store by assets/dashboard.js."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import dash_bootstrap_components as dbc
from dash import dcc, html

from layouts.format import DASH, number, percent, utc_time
from layouts.market import GRAPH_CONFIG
from layouts.widgets import Markup, badge, badge_markup, card, markup, table_markup

CLOSED_PAGE, EVENTS_PAGE, SIGNALS_PAGE = 20, 15, 15  # rows per page
MARKUP_TABLES = ("trades-performance", "open-trades", "closed-trades", "learning-events", "signals")  # element ids
ANY = "any"  # a filter's "no filter" choice
SIDE_FILTER = ((ANY, "All sides"), ("LONG", "LONG"), ("SHORT", "SHORT"))
EXIT_FILTER = ((ANY, "All exits"), ("take_profit", "take profit"), ("stop_loss", "stop loss"),
               ("max_holding", "max holding"), ("force_exit", "force exit"))
EVENT_FILTER = ((ANY, "All statuses"), ("delivered", "delivered"), ("pending", "pending"), ("failed", "failed"))
TARGETS = {1: "▲ up", 0: "▼ down"}
EVENT_COLORS = {"delivered": "success", "pending": "warning", "failed": "danger"}
HELD_BY = {"cost": "cost gate", "outcome": "outcome model", "paused": "trading paused",  # engine.trading.ledger
           "open_trades": "an open trade", "other": "not recorded"}
PAUSED = ("Paused: new signals are recorded but open no trade; open trades are still managed "
          "(take-profit, stop-loss, max holding, force exit).")
RUNNING = "On: a confident signal that passes the gates opens a paper trade at the next bar's open."


def _filter(id: str, choices: Sequence[tuple[str, str]]) -> dbc.Select:
    return dbc.Select(id=id, options=[{"label": label, "value": v} for v, label in choices], value=ANY, size="sm",
                      className="hls-filter")


def _pager(id: str) -> html.Div:
    return html.Div([html.Span(id=f"{id}-text", className="small text-muted"),
                     dbc.Pagination(id=id, max_value=1, active_page=1, fully_expanded=False, first_last=True,
                                    previous_next=True, size="sm", className="mb-0")],
                    className="d-flex justify-content-between align-items-center mt-2")


def layout(config: dict) -> html.Div:
    switch = dbc.Switch(id="trading-enabled", label="Trading", value=bool(config["trading_enabled"]),
                        className="mb-0 hls-trading-switch")
    return html.Div([
        card("Paper trading per symbol", [
            html.Div(id="trading-notice", children=trading_notice(bool(config["trading_enabled"]))),
            html.Div(id="trading-message"),
            html.Div(id="trades-message"),
            html.Div(id="trades-performance", className="mt-2"),
        ], header_extra=switch),
        *[dcc.Store(id=f"{table}-html") for table in MARKUP_TABLES],
        dcc.Store(id="trades-tables-drawn"),  # the markup copier's output (nothing to keep)
        dbc.Row([
            dbc.Col(card("Equity and drawdown (USDT after fees, market time)",
                         dcc.Graph(id="trades-equity-graph", config=GRAPH_CONFIG, className="hls-graph")), xl=7),
            dbc.Col(card("PnL per closed trade and running win rate",
                         dcc.Graph(id="trades-pnl-graph", config=GRAPH_CONFIG, className="hls-graph")), xl=5),
        ], className="g-3 mt-0"),
        card("Open trades", html.Div(id="open-trades", className="hls-scroll"), className="mt-3"),
        card("Closed trades", [html.Div(id="closed-trades"), _pager("closed-pager")], className="mt-3",
             header_extra=html.Div([_filter("closed-side", SIDE_FILTER), _filter("closed-exit", EXIT_FILTER)],
                                   className="d-flex gap-2")),
        card("Signals: what became a trade, what the gates held back and why", [
            html.Div(id="signals-summary", className="mb-2"), html.Div(id="signals"), _pager("signals-pager")],
            className="mt-3"),
        card("Learning events (closed trades → online samples)", [html.Div(id="learning-events"),
                                                                  _pager("events-pager")],
             className="mt-3", header_extra=_filter("events-status", EVENT_FILTER)),
        dcc.Store(id="trading-known", data=bool(config["trading_enabled"])),  # the setting the switch last showed
        dcc.Store(id="force-exit-request"),  # {"trade": id} from an Exit button (assets/dashboard.js)
        dcc.Store(id="trades-action"),  # bumped by a force exit: the tab redraws
        dcc.Store(id="trades-zoom"),  # the zoom sync's output (nothing to keep)
    ])


def trading_notice(enabled: bool) -> html.Div:
    """What the pause switch means, in one line."""
    return html.Div([badge("trading on" if enabled else "paused", "success" if enabled else "warning",
                           id="trading-state"), " ", html.Span(RUNNING if enabled else PAUSED, className="small")])


def pager_text(total: int, page: int, size: int, what: str) -> str:
    """ "21–40 of 312 closed trades" for page 2 of 20-row pages.

    >>> pager_text(312, 2, 20, "closed trades"), pager_text(0, 1, 20, "closed trades")
    ('21–40 of 312 closed trades', '0 closed trades')
    """
    if not total:
        return f"0 {what}"
    first = (page - 1) * size + 1
    return f"{first}–{min(total, page * size)} of {number(total)} {what}"


def pages(total: int, size: int) -> int:
    """Pages needed for ``total`` rows (at least one).

    >>> pages(0, 20), pages(20, 20), pages(21, 20)
    (1, 1, 2)
    """
    return max(1, -(-total // size))


def _side(side: str) -> Markup:
    return badge_markup(f"▲ {side}" if side == "LONG" else f"▼ {side}", "success" if side == "LONG" else "danger")


def _pnl(pnl: float | None) -> Any:
    return DASH if pnl is None else badge_markup(f"{pnl:+,.2f}", "success" if pnl > 0 else "danger")


def _when(ms: int | None) -> str:
    return utc_time(ms, suffix=False)


def _price(value: float | None) -> str:
    return number(value, 2)


def _muted(text: str, tone: str = "muted") -> Markup:
    return Markup(f'<span class="small text-{tone}">{markup(text)}</span>')


def performance_table(stats: Mapping[str, Mapping], totals: Mapping | None = None, note: str | None = None) -> Markup:
    """One row per symbol (PaperTrader.report stats): its trading period, trades, win rate, PnL after fees,
    profit factor, max drawdown, buy-and-hold over the same span; with ``totals``, a row of what adds up
    across symbols (drawdown and buy-and-hold stay per symbol: each symbol trades in its own period); the
    replay ``note`` above."""
    def row(name: str, s: Mapping, per_symbol: bool) -> tuple:
        bh = (s.get("buy_and_hold") or {}).get("pnl_usdt")
        span = s.get("span")
        return (Markup(f"<strong>{markup(name)}</strong>"),
                f"{_when(span[0])} → {_when(span[1])}" if per_symbol and span else DASH,
                number(s["trades"]), number(s["open_trades"]), percent(s["win_rate"]),
                _pnl(s["pnl_usdt"] if s["trades"] else None), _profit_factor(s),
                f"{number(s['max_drawdown_pct'], 2)}%" if per_symbol else "per symbol",
                _pnl(bh) if per_symbol else "per symbol",
                _pnl(s.get("excess_pnl_usdt") if s["trades"] else None) if per_symbol else DASH,
                f"{number(s['learning_events']['delivered'])} / {number(s['learning_events']['failed'])}")
    rows = [row(symbol, s, True) for symbol, s in stats.items()]
    if totals is not None:
        rows.append(row("All symbols", totals, False))
    head = Markup(f'<div class="small text-muted hls-replay-note mb-1">{markup(note)}</div>') if note else ""
    return Markup(head + table_markup(
        ("symbol", "trading period (UTC)", "closed", "open", "win rate", "PnL after fees", "profit factor",
         "max drawdown", "buy & hold", "vs buy & hold", "learned / failed"), rows, id="performance-table"))


def _profit_factor(stats: Mapping) -> str:
    if stats["profit_factor"] is not None:
        return number(stats["profit_factor"], 2)
    return "no loss yet" if stats["trades"] else DASH


def _force_exit_button(trade: Mapping) -> Markup:
    """A plain button carrying its trade: assets/dashboard.js asks to confirm and hands the id to the
    "force-exit-request" store, whose callback closes it."""
    if trade["entry_time"] is None:
        return _muted("enters next bar")
    confirm = (f"Force-exit paper trade #{trade['id']} ({trade['side']} {trade['symbol']}) at the latest close "
               f"({_price(trade['mark_price'])})? Fees and slippage apply; the models learn nothing from it.")
    return Markup(f'<button class="btn btn-sm btn-outline-danger py-0 hls-exit-button" data-trade="{trade["id"]}" '
                  f'data-confirm="{markup(confirm)}">Exit</button>')


def open_trades_table(trades: Sequence[Mapping]) -> Markup:
    """Open trades (PaperTrader.open_positions) with their levels, the latest close, PnL if exited there, and a
    force-exit button."""
    rows = [(f"#{t['id']}", t["symbol"], _side(t["side"]), _when(t["signal_time"]),
             _when(t["entry_time"]) if t["entry_time"] else badge_markup("awaiting next bar", "info"),
             _price(t["entry_price"]), _price(t["take_profit_price"]), _price(t["stop_loss_price"]),
             _price(t["mark_price"]), _pnl(t["unrealised_pnl"]), _force_exit_button(t)) for t in trades]
    return table_markup(("#", "symbol", "side", "signal bar (UTC)", "entry bar (UTC)", "entry", "take profit",
                         "stop loss", "last close", "PnL if exited", ""), rows, empty="No open trades.",
                        id="open-trades-table")


def _learned(trade: Mapping) -> Any:
    event = trade.get("learning_event")
    if trade["exit_reason"] == "force_exit":
        return _muted("nothing (force exit)")
    if not event:
        return DASH
    return badge_markup(f"{TARGETS[event['target']]} · {event['status']}", EVENT_COLORS[event["status"]])


def closed_trades_table(trades: Sequence[Mapping]) -> Markup:
    """Closed trades (newest first) with their exit, PnL after fees and what each taught the online models."""
    rows = [(f"#{t['id']}", t["symbol"], _side(t["side"]), _when(t["entry_time"]), _when(t["exit_time"]),
             t["exit_reason"].replace("_", " "), number(t["bars_held"]), _price(t["entry_price"]),
             _price(t["exit_price"]), _pnl(t["pnl"]), _learned(t)) for t in trades]
    return table_markup(("#", "symbol", "side", "entry bar (UTC)", "exit bar (UTC)", "exit", "bars", "entry",
                         "exit price", "PnL", "taught"), rows, id="closed-trades-table",
                        empty="No closed trades match: they close on take-profit, stop-loss, max holding or a "
                              "force exit.")


def learning_events_table(events: Sequence[Mapping]) -> Markup:
    """Learning events (newest first): the trade and its signal bar (market time), its PnL, the target it
    teaches ("price went up") and whether the online buffer received it."""
    rows = [(f"#{e['trade_id']}", e["symbol"], _side(e["side"]), _when(e["open_time"]), _pnl(e["pnl"]),
             TARGETS[e["target"]], badge_markup(e["status"], EVENT_COLORS[e["status"]]),
             _muted(e.get("error") or "", "danger")) for e in events]
    return table_markup(("trade", "symbol", "side", "signal bar (UTC)", "PnL", "target", "status", "error"), rows,
                        empty="No learning events match: each closed trade (but a force exit) adds one.",
                        id="learning-events-table")


def signals_summary(counts: Mapping, outcome: Mapping) -> html.Div:
    """How many signals traded and what held the others back (SignalCounts), and the outcome model's state
    (OutcomeManager.stats) in a sentence: learned outcomes, recent log loss beside its base rate, threshold."""
    held = [f"{number(n)} by the {HELD_BY[reason]}" if reason in ("cost", "outcome") else
            f"{number(n)}: {HELD_BY[reason]}" for reason, n in counts["held_by"].items() if n]
    lines = [html.Div([html.Strong(f"{number(counts['traded'] + counts['held'])} signals: "),
                       f"{number(counts['traded'])} traded",
                       f" · {number(counts['held'])} held back ({'; '.join(held)})" if held else ""],
                      id="signals-counts")]
    recent = outcome.get("recent") or {}
    if outcome.get("samples_seen"):
        state = (outcome.get("excluded_reason") if outcome.get("excluded") else
                 f"threshold {outcome['threshold']:.2f} ({outcome['threshold_how']})"
                 if outcome.get("threshold") is not None else "threshold not chosen yet")
        scores = (f"log loss {recent['log_loss']:.4f} over its last {number(recent['n'])} outcomes vs "
                  f"{recent['baseline_log_loss']:.4f} for the base rate (wins {percent(outcome.get('win_share'))})"
                  if recent.get("log_loss") is not None else "not scored yet")
        lines.append(html.Div(f"Outcome model: learned {number(outcome['samples_seen'])} outcomes; {scores}; "
                              f"{state}.", className="small text-muted", id="signals-outcome"))
    return html.Div(lines)


def signals_table(signals: Sequence[Mapping]) -> Markup:
    """Signals, newest first: the bar, side, confidence, traded or what held it back, and the note why."""
    def outcome(s: Mapping) -> Markup:
        if s["status"] == "traded":
            return badge_markup("traded", "success")
        return badge_markup(f"held: {HELD_BY[s.get('held_by') or 'other']}", "secondary")
    rows = [(_when(s["open_time"]), s["symbol"], _side(s["side"]), percent(s["confidence"]), outcome(s),
             _muted(s.get("note") or "")) for s in signals]
    return table_markup(("signal bar (UTC)", "symbol", "side", "confidence", "outcome", "why"), rows,
                        empty="No signals yet: a prediction becomes one when its confidence exceeds "
                              "signal_confidence_threshold.", id="signals-table")


def force_exit_result(trade: Mapping | None = None, error: str | None = None) -> dbc.Alert:
    """What a force exit did, as a dismissable line."""
    if error:
        return dbc.Alert(error, color="warning", className="py-2 mt-2 mb-0", dismissable=True, id="force-exit-result")
    text = (f"Trade #{trade['id']} ({trade['side']} {trade['symbol']}) force-exited at {_price(trade['exit_price'])}: "
            f"PnL {trade['pnl']:+,.2f} USDT after fees." if trade["forced"] else
            f"Trade #{trade['id']} had already reached its {trade['exit_reason'].replace('_', ' ')} "
            f"(PnL {trade['pnl']:+,.2f} USDT); that exit stands.")
    return dbc.Alert(text, color="info", className="py-2 mt-2 mb-0", dismissable=True, id="force-exit-result")
