"""Learning commands: ``evaluate`` (walk-forward replay of stored history, written as a report).

Per label kind (the configured next-candle direction, and the triple-barrier label of the trading
rules) and per symbol, the report scores the models against their baselines and compares the
trading strategies (engine.trade_evaluation): today's rules, the rules with the cost gate and/or
the outcome model, random entry with the same trade count, always-flat and buy-and-hold, each
statistic with a block-bootstrap interval, and says in words whether the learning pays. With
several symbols it also reports them together, pooled per symbol (engine.evaluation.pool).
"""
from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone

from engine.candles import INTERVAL_MS, SAMPLE_INTERVAL, check_resample, load_sample, resample
from engine.config import INTERVALS, SYMBOL, ConfigStore
from engine.db import Database
from engine.errors import ValidationError
from engine.evaluation import DAY_MS, pool, walk_forward, write_report
from engine.features import WARMUP_BARS
from engine.labels import LABEL_KINDS
from engine.paths import data_dir
from engine.store import CandleStore
from engine.trade_evaluation import verdict

NAMES = {"rules": "today's rules", "rules_cost": "rules + cost gate", "rules_outcome": "rules + outcome model",
         "rules_cost_outcome": "rules + cost gate + outcome model", "always_flat": "always flat",
         "buy_and_hold": "buy and hold"}


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


def _symbols(text: str) -> list[str]:
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not symbols or not all(SYMBOL.match(s) for s in symbols) or len(set(symbols)) != len(symbols):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of symbols like BTCUSDT,ETHUSDT")
    return symbols


def _labels(text: str) -> list[str]:
    labels = [s.strip() for s in text.split(",") if s.strip()]
    if not labels or any(label not in LABEL_KINDS for label in labels):
        raise argparse.ArgumentTypeError(f"{text!r}: labels are {', '.join(LABEL_KINDS)}")
    return labels


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="walk-forward evaluation of the models and the trading rules on stored candles",
                       description="Replay stored candles through the online, batch and hybrid models as they run "
                                   "live (each prediction made before its label is known), score them against "
                                   "baselines, and compare the trading strategies after fees. Writes "
                                   "<out>/walk_forward_<symbols>_<interval>_<time>.json/.csv/.html.")
    p.add_argument("--symbols", "--symbol", dest="symbols", type=_symbols, required=True,
                   help="e.g. BTCUSDT or BTCUSDT,ETHUSDT")
    p.add_argument("--interval", default=SAMPLE_INTERVAL, choices=INTERVALS,
                   help="candle interval; without stored candles of it, built from the 1h ones")
    p.add_argument("--start", type=_day_ms, default=None, help="first evaluated day, YYYY-MM-DD (UTC)")
    p.add_argument("--end", type=_day_ms, default=None, help="last evaluated day, YYYY-MM-DD (UTC, inclusive)")
    p.add_argument("--online-every", type=_positive, default=6, help="online update every N bars")
    p.add_argument("--retrain-every", type=_positive, default=24, help="batch retrain every N bars")
    p.add_argument("--labels", type=_labels, default=list(LABEL_KINDS),
                   help=f"label kinds to report, comma-separated (default: {','.join(LABEL_KINDS)})")
    p.add_argument("--out", default=None, help="report folder (default: <data dir>/reports)")
    p.set_defaults(func=run_evaluate)


def candles_for(store: CandleStore, symbol: str, interval: str, start_ms: int | None, end_ms: int | None):
    """Stored ``interval`` candles of ``symbol`` in [start_ms, end_ms], else ones resampled from the stored 1h
    candles; with neither, the bundled sample is stored first (as 1h). Returns (candles, message or None)."""
    message = None
    if store.latest(symbol, interval) is None:
        try:
            check_resample(interval)
        except ValueError as exc:
            raise ValidationError("interval", f"no {symbol} {interval} candles stored and {exc}") from None
        if store.latest(symbol, SAMPLE_INTERVAL) is None:
            try:
                sample = load_sample(symbol)
            except KeyError as exc:
                raise ValidationError("symbol", f"no {symbol} candles stored and {exc.args[0]}") from None
            added = store.upsert(symbol, SAMPLE_INTERVAL, sample)
            message = f"no {symbol} {SAMPLE_INTERVAL} candles were stored: loaded the bundled sample ({added} candles)"
        if interval != SAMPLE_INTERVAL:
            step = INTERVAL_MS[interval]  # whole periods only: a period's first hours are part of its bar
            hours = store.range(symbol, SAMPLE_INTERVAL, None if start_ms is None else start_ms // step * step, end_ms)
            return resample(hours, interval), message
    return store.range(symbol, interval, start_ms, end_ms), message


def run_evaluate(args) -> int:
    root = data_dir(args.data_dir)
    config = ConfigStore(root).current()
    store = CandleStore(Database(root / "market.db"))
    interval = args.interval
    end_ms = None if args.end is None else args.end + DAY_MS - 1
    lead_ms = (config["batch_window_days"] + config["outcome_warmup_days"]) * DAY_MS + WARMUP_BARS * INTERVAL_MS[interval]
    results, report = {}, {"interval": interval, "symbols": args.symbols, "labels": {}}
    try:
        for label in args.labels:
            per_symbol = {}
            for stream, symbol in enumerate(args.symbols):
                candles, message = candles_for(store, symbol, interval, None if args.start is None else
                                               args.start - lead_ms, end_ms)
                if message:
                    print(message)
                print(f"replaying {len(candles)} {symbol} {interval} candles ({label} label) ...", flush=True)
                result = walk_forward(candles, config, args.online_every, args.retrain_every, args.start, end_ms,
                                      label=label, interval=interval, stream=stream)
                result.report.update(symbol=symbol, interval=interval)
                per_symbol[symbol] = results[(symbol, label)] = result
                _print_symbol(result.report, f"{symbol} {interval}, {label} label")
            report["labels"][label] = {"symbols": {s: r.report for s, r in per_symbol.items()}}
            if len(per_symbol) > 1:
                together = report["labels"][label]["together"] = pool(per_symbol, interval)
                _print_together(together, f"{' + '.join(per_symbol)} {interval} together, {label} label")
    except ValidationError as exc:
        print(f"error: {exc}")
        return 2
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    paths = write_report(report, results, args.out or root / "reports",
                         f"walk_forward_{'_'.join(args.symbols)}_{interval}_{stamp}")
    print(json.dumps({kind: str(path) for kind, path in paths.items()}))
    return 0


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M")


def _print_symbol(r: dict, title: str) -> None:
    print(f"\n== {title}: {r['bars_evaluated']} bars {_when(r['first_open_time'])} .. {_when(r['last_open_time'])} "
          f"UTC ({r['bars_replayed']} replayed) in {r['seconds']:.1f} s: {r['bars_per_second']:.0f} bars/s")
    _print_scores(r)
    votes = ", ".join(f"{name} {100 * share:.0f} %" for name, share in r["voting_share"].items() if share)
    print(f"share of bars each voted in the hybrid (a model worse than its baseline gets weight 0): {votes}")
    t = r.get("trading")
    if t is None:
        return
    o, th = t["outcome_model"], t["thresholds"]
    model, base = o["model"], o["baseline"]
    print(f"signals (confidence over the threshold): {t['signals']}; expected move over the round-trip cost "
          f"{t['round_trip_cost_pct']:.2f} %: {t['cost_ok']} (median expected move "
          f"{_num(t['expected_move_pct_median'], '.3f')} %); outcome model judged {t['outcome_judged']}, "
          f"worse than its base rate for {t['outcome_excluded']}, passed {t['outcome_ok']}")
    print(f"outcome model on the reported signals ({o['learned_before_span']} outcomes learned before the span): "
          f"log loss {_num(model['log_loss'], '.4f')} vs base rate {_num(base['log_loss'], '.4f')}, accuracy "
          f"{_num(model['accuracy'], '.3f')} vs {_num(base['accuracy'], '.3f')} (n={model['n']}); threshold "
          f"{'chosen on earlier outcomes' if th['auto'] else 'configured'}: first {_num(th['first'], '.2f')}, "
          f"range {_num(th['min'], '.2f')}..{_num(th['max'], '.2f')}")
    _print_strategies(t)


def _print_together(r: dict, title: str) -> None:
    print(f"\n== {title}: {r['bars_evaluated']} bars, pooled per symbol (no shared time axis)")
    _print_scores(r)
    if "trading" in r:
        _print_strategies(r["trading"])


def _print_scores(r: dict) -> None:
    rows = [*r["models"].items(), ("hybrid", r["hybrid"]), *r["baselines"].items()]
    print(f"{'model':<18}{'n':>7}{'accuracy':>18}{'balanced acc':>18}{'log loss':>18}{'brier':>18}")
    for name, s in rows:
        cells = "".join(f"{'-':>18}" if s[k] is None else f"{s[k]:>10.4f} ±{s[k + '_se'] or 0:.4f}"
                        for k in ("accuracy", "balanced_accuracy", "log_loss", "brier"))
        print(f"{name:<18}{s['n']:>7}{cells}")


def _print_strategies(t: dict) -> None:
    strategies, live = t["strategies"], t["live"]
    print("paper trading after fees and slippage; [95 % block-bootstrap interval]; random entry: mean ± sd over seeds")
    rows = [("strategy", "trades", "win rate", "PnL USDT", "max drawdown USDT", "Sharpe (annualised)")]
    for name, s in strategies.items():
        rows.append((NAMES[name] + (" (live)" if name == live else ""), _cell(s, "trades", ",.0f"),
                     _cell(s, "win_rate", ".1%"), _cell(s, "pnl_usdt", "+,.2f"), _cell(s, "max_drawdown_usdt", ",.2f"),
                     _cell(s, "sharpe", "+.2f")))
        random = s.get("random")
        if random is not None and random["pnl_usdt"]["mean"] is not None:
            rows.append(("  random entry, same trades", _spread(random, "trades", ",.0f"),
                         _spread(random, "win_rate", ".1%"), _spread(random, "pnl_usdt", "+,.2f"),
                         _spread(random, "max_drawdown_usdt", ",.2f"), _spread(random, "sharpe", "+.2f")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    for name in dict.fromkeys([live, "rules"]):
        print(verdict(strategies, name, NAMES[name].capitalize()))


def _num(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _cell(s: dict, stat: str, spec: str) -> str:
    low, high = s[f"{stat}_ci"]
    return f"{_num(s[stat], spec)} [{_num(low, spec)}, {_num(high, spec)}]"


def _spread(random: dict, stat: str, spec: str) -> str:
    r = random[stat]
    return "-" if r["mean"] is None else f"{_num(r['mean'], spec)} ±{_num(r['sd'], spec.lstrip('+'))}"

