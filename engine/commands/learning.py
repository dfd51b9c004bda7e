"""Learning commands: ``evaluate`` (walk-forward replay of stored history, written as a report).

The report also runs the paper-trading rules (engine.trading.backtest, the live rules and config)
over the hybrid's walk-forward predictions, so an operator sees whether the learning pays after fees.
"""
from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone

from engine.candles import INTERVAL_MS, load_sample
from engine.config import INTERVALS, ConfigStore
from engine.db import Database
from engine.errors import ValidationError
from engine.evaluation import DAY_MS, walk_forward, write_report
from engine.features import WARMUP_BARS
from engine.paths import data_dir
from engine.store import CandleStore
from engine.trading import backtest


def _day_ms(text: str) -> int:
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2022-01-31") from None
    return int(day.timestamp() * 1000)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="walk-forward evaluation of the models on stored candles",
                       description="Replay stored candles through the online, batch and hybrid models as they run "
                                   "live (each prediction made before its label is known) and score them against "
                                   "baselines. Writes <out>/walk_forward_<symbol>_<interval>_<time>.json/.csv/.html.")
    p.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
    p.add_argument("--interval", default="1h", choices=INTERVALS)
    p.add_argument("--start", type=_day_ms, default=None, help="first evaluated day, YYYY-MM-DD (UTC)")
    p.add_argument("--end", type=_day_ms, default=None, help="last evaluated day, YYYY-MM-DD (UTC, inclusive)")
    p.add_argument("--online-every", type=_positive, default=6, help="online update every N bars")
    p.add_argument("--retrain-every", type=_positive, default=24, help="batch retrain every N bars")
    p.add_argument("--out", default=None, help="report folder (default: <data dir>/reports)")
    p.set_defaults(func=run_evaluate)


def run_evaluate(args) -> int:
    root = data_dir(args.data_dir)
    config = ConfigStore(root).current()
    store = CandleStore(Database(root / "market.db"))
    symbol, interval = args.symbol.upper(), args.interval
    end_ms = None if args.end is None else args.end + DAY_MS - 1
    try:
        if store.latest(symbol, interval) is None:
            if interval != "1h":
                raise ValidationError("interval", f"no {symbol} {interval} candles stored and the bundled "
                                                  "sample is 1h only")
            try:
                sample = load_sample(symbol)
            except KeyError as exc:
                raise ValidationError("symbol", f"no {symbol} candles stored and {exc.args[0]}") from None
            added = store.upsert(symbol, interval, sample)
            print(f"no {symbol} {interval} candles were stored: loaded the bundled sample ({added} candles)")
        burn_in_ms = config["batch_window_days"] * DAY_MS + WARMUP_BARS * INTERVAL_MS[interval]
        candles = store.range(symbol, interval, None if args.start is None else args.start - burn_in_ms, end_ms)
        print(f"replaying {len(candles)} {symbol} {interval} candles ...", flush=True)
        result = walk_forward(candles, config, args.online_every, args.retrain_every, args.start, end_ms)
    except ValidationError as exc:
        print(f"error: {exc}")
        return 2
    result.report.update(symbol=symbol, interval=interval, trading=paper_trading(candles, result.predictions, config))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    paths = write_report(result, args.out or root / "reports", f"walk_forward_{symbol}_{interval}_{stamp}")
    r = result.report
    print(f"{r['bars_evaluated']} bars evaluated ({r['bars_replayed']} replayed) in {r['seconds']:.1f} s: "
          f"{r['bars_per_second']:.0f} bars/s")
    rows = [*((n, s) for n, s in r["models"].items()), ("hybrid", r["hybrid"]), *r["baselines"].items()]
    print(f"{'model':<18}{'n':>7}{'accuracy':>18}{'balanced acc':>18}{'log loss':>18}{'brier':>18}")
    for name, s in rows:
        cells = "".join(f"{'-':>18}" if s[k] is None else f"{s[k]:>10.4f} ±{s[k + '_se'] or 0:.4f}"
                        for k in ("accuracy", "balanced_accuracy", "log_loss", "brier"))
        print(f"{name:<18}{s['n']:>7}{cells}")
    t = r["trading"]
    if t is not None:
        print(f"paper trading (confidence > {config['signal_confidence_threshold']}, fees and slippage included): "
              f"{t['trades']} trades, win rate {_pct(t['win_rate'])}, PnL {t['pnl_usdt']:+.2f} USDT "
              f"(fees {t['fees_usdt']:.2f}), max drawdown {t['max_drawdown_usdt']:.2f} USDT; "
              f"buy-and-hold {t['buy_and_hold']['pnl_usdt']:+.2f} USDT over the same bars")
    print(json.dumps({kind: str(path) for kind, path in paths.items()}))
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def paper_trading(candles, predictions, config: dict) -> dict | None:
    """The trading rules over the hybrid's walk-forward predictions (None when it made none)."""
    calls = predictions[["open_time", "p_ensemble"]].rename(columns={"p_ensemble": "prob_up"}).dropna()
    if calls.empty:
        return None
    span = candles[candles["open_time"] >= calls["open_time"].iloc[0]]
    return {k: v for k, v in backtest(span, calls, config).items() if k != "trade_list"}
