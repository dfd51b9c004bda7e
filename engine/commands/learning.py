"""Learning commands: ``evaluate`` (walk-forward replay of stored history or of a scenario market, written
as a report) and ``scenario`` (a scenario market's candles as a kline file to import).

Per label kind (the configured next-candle direction, and the triple-barrier label of the trading
rules) and per symbol, the report scores the models against their baselines and the rolling
reference (engine.reference) and compares the trading strategies (engine.trade_evaluation): today's
rules, the rules with the cost gate and/or the outcome model, random entry with the same trade count,
always-flat and buy-and-hold, each statistic with a block-bootstrap interval, and says in words
whether the learning pays (engine.report). With several symbols it also reports them together,
pooled per symbol (engine.evaluation.pool). A scenario market (``--scenario``) is evaluated exactly
like stored candles, and its report adds the oracle and the recovery after each change of law;
``--ablation`` adds each input group's effect on the hybrid, with standard errors.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
from datetime import datetime, timezone

from engine.candles import INTERVAL_MS, SAMPLE_INTERVAL, check_resample, load_sample, resample
from engine.config import INTERVALS, SYMBOL, ConfigStore, validate
from engine.db import Database
from engine.errors import ValidationError
from engine.evaluation import DAY_MS, pool, walk_forward
from engine.report import verdict_lines, write_report
from engine.features import WARMUP_BARS
from engine.features.inputs import OPTIONAL_GROUPS, reference_candles, spec
from engine.health import paired_gap
from engine.labels import LABEL_KINDS
from engine.metrics import paired_accuracy
from engine.scenarios import SCENARIOS, scenario
from engine.scenarios.oracle import oracle_report
from engine.scenarios.recovery import recovery
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


def _scenarios(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if not names or unknown or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: scenarios are {', '.join(SCENARIOS)}")
    return names


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = -1
    if not 30 <= days <= 36500:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days between 30 and 36500")
    return days


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
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--symbols", "--symbol", dest="symbols", type=_symbols, help="e.g. BTCUSDT or BTCUSDT,ETHUSDT")
    source.add_argument("--scenario", "--scenarios", dest="scenarios", type=_scenarios,
                        help=f"scenario markets instead of stored candles: {', '.join(SCENARIOS)}")
    p.add_argument("--seed", type=int, default=1, help="scenario markets: the random seed")
    p.add_argument("--days", type=_days, default=None, help="scenario markets: days of 1h candles (default 640)")
    p.add_argument("--ablation", action="store_true",
                   help="also replay with each input group alone beside the indicators and report its effect")
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
    p = sub.add_parser("scenario", help="write a scenario market's 1h candles as a kline CSV (import-archive reads it)",
                       description="Generate a synthetic market with known, changing edges (engine.scenarios) and "
                                   "write its candles in Binance's 12-column kline layout; prints what the oracle "
                                   "makes of it. " + "; ".join(f"{s.name}: {s.summary}" for s in SCENARIOS.values()))
    p.add_argument("name", choices=list(SCENARIOS))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--days", type=_days, default=None, help="days of 1h candles (default 640)")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.set_defaults(func=run_scenario)


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


def _sources(args, store: CandleStore, config: dict, interval: str, end_ms: int | None) -> list[tuple]:
    """(name, candles, scenario market or None, the cross group's reference candles or None) per source."""
    if args.scenarios:
        if interval != SAMPLE_INTERVAL:
            raise ValidationError("interval", "scenario markets are 1h candles")
        out = []
        for name in args.scenarios:
            market = scenario(name).generate(args.seed, **({"days": args.days} if args.days else {}))
            out.append((f"scenario:{name}", market.candles, market, None))
        return out
    lead_ms = (config["batch_window_days"] + config["outcome_warmup_days"]) * DAY_MS + WARMUP_BARS * INTERVAL_MS[interval]
    out = []
    for symbol in args.symbols:
        candles, message = candles_for(store, symbol, interval, None if args.start is None else args.start - lead_ms,
                                       end_ms)
        if message:
            print(message)
        reference = None
        if spec(config).needs_reference and len(candles):
            reference = reference_candles(store, {**config, "interval": interval}, symbol,
                                          int(candles["open_time"].iat[0]), int(candles["open_time"].iat[-1]))
        out.append((symbol, candles, None, reference))
    return out


def run_evaluate(args) -> int:
    root = data_dir(args.data_dir)
    config = ConfigStore(root).current()
    store = CandleStore(Database(root / "market.db"))
    interval = args.interval
    end_ms = None if args.end is None else args.end + DAY_MS - 1
    names = args.symbols or [f"scenario:{n}" for n in args.scenarios]
    results, report = {}, {"interval": interval, "symbols": names, "labels": {}}
    try:
        sources = _sources(args, store, config, interval, end_ms)
        for label in args.labels:
            per_symbol = {}
            for stream, (name, candles, market, reference) in enumerate(sources):
                print(f"replaying {len(candles)} {name} {interval} candles ({label} label) ...", flush=True)
                result = walk_forward(candles, config, args.online_every, args.retrain_every, args.start, end_ms,
                                      label=label, interval=interval, stream=stream, reference=reference)
                result.report.update(symbol=name, interval=interval)
                if market is not None and label == "direction":
                    r = result.report
                    r["oracle"] = oracle_report(market, config, r["first_open_time"], r["last_open_time"], interval)
                    r["recovery"] = recovery(market, result.predictions, ("sgd", "passive_aggressive", "mlp_online",
                                                                          "batch", "ensemble"))
                per_symbol[name] = results[(name, label)] = result
                _print_symbol(result.report, f"{name} {interval}, {label} label")
            report["labels"][label] = {"symbols": {s: r.report for s, r in per_symbol.items()}}
            if len(per_symbol) > 1:
                together = report["labels"][label]["together"] = pool(per_symbol, interval)
                _print_together(together, f"{' + '.join(per_symbol)} {interval} together, {label} label")
        if args.ablation:
            report["ablation"] = {name: _ablation(name, candles, reference, config, args, interval, end_ms)
                                  for name, candles, _, reference in sources}
    except ValidationError as exc:
        print(f"error: {exc}")
        return 2
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    tag = "_".join(n.replace("scenario:", "scenario-") for n in names)
    paths = write_report(report, results, args.out or root / "reports", f"walk_forward_{tag}_{interval}_{stamp}")
    print(json.dumps({kind: str(path) for kind, path in paths.items()}))
    return 0


def _ablation(name: str, candles, reference, config: dict, args, interval: str, end_ms: int | None) -> dict:
    """The hybrid with the 23 indicators alone, then with each optional input group (and the operator's module,
    when configured) added: each variant's accuracy and log loss difference against the indicators alone, paired
    on the same bars, with standard errors (direction label, no trading)."""
    def run(groups: list[str], module: str) -> pd.DataFrame:
        cfg = validate({}, {**config, "feature_groups": groups, "feature_module": module})
        return walk_forward(candles, cfg, args.online_every, args.retrain_every, args.start, end_ms, trading=False,
                            interval=interval, reference=reference).predictions

    print(f"ablation on {name}: the indicators alone ...", flush=True)
    base = run([], "")
    variants = {group: ([group], "") for group in OPTIONAL_GROUPS}
    if config["feature_module"]:
        variants["custom"] = ([], config["feature_module"])
    out = {"indicators_only": {"accuracy": float(np.mean((base.p_ensemble >= 0.5) == (base.label == 1))),
                               "bars": len(base)}}
    rows = []
    for variant, (groups, module) in variants.items():
        print(f"ablation on {name}: + {variant} ...", flush=True)
        other = run(groups, module).set_index("open_time").reindex(base.open_time)
        accuracy = paired_accuracy(base.label, other.p_ensemble.to_numpy(), base.p_ensemble)
        gap, se, n = paired_gap(base.label, other.p_ensemble.to_numpy(), base.p_ensemble)
        out[variant] = {"accuracy": accuracy, "log_loss": {"difference": gap, "se": se, "n": n}}
        rows.append((f"+ {variant}", f"{100 * accuracy['difference']:+.2f} ± {100 * accuracy['se']:.2f}",
                     f"{gap:+.5f} ± {se:.5f}", "helps" if gap < -2 * se else "hurts" if gap > 2 * se else "no measurable effect"))
    print(f"\n== input groups on {name}: the hybrid's change against the 23 indicators alone (paired, ± 1 SE)")
    widths = [max(len(r[i]) for r in rows + [("group", "accuracy (points)", "log loss", "verdict")]) for i in range(4)]
    for row in [("group", "accuracy (points)", "log loss", "verdict")] + rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    return out


def run_scenario(args) -> int:
    root = data_dir(args.data_dir)
    config = ConfigStore(root).current()
    market = scenario(args.name).generate(args.seed, **({"days": args.days} if args.days else {}))
    from engine.scenarios import kline_csv

    with open(args.out, "w") as fh:
        fh.write(kline_csv(market.candles))
    o = oracle_report(market, config)
    print(f"{args.name} (seed {args.seed}): {len(market.candles)} candles {_when(int(market.candles.open_time.iat[0]))} "
          f".. {_when(int(market.candles.open_time.iat[-1]))} UTC written to {args.out}")
    for k, law in enumerate(market.periods):
        print(f"  period {k + 1}: {law}")
    print(f"oracle accuracy {o['accuracy']['accuracy']:.4f} ± {o['accuracy']['accuracy_se']:.4f} (clairvoyant "
          f"{o['clairvoyant']['accuracy']:.4f}); the oracle's calls under the trading rules: "
          f"{o['trader']['trades']:.0f} trades, {o['trader']['pnl_usdt']:+,.2f} USDT after costs")
    symbol = "".join(ch for ch in args.name.upper() if ch.isalpha())[:12] + "USDT"
    print(f"import it with: python -m engine import-archive {args.out} --symbol {symbol} --interval 1h")
    return 0


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M")


def _print_symbol(r: dict, title: str) -> None:
    print(f"\n== {title}: {r['bars_evaluated']} bars {_when(r['first_open_time'])} .. {_when(r['last_open_time'])} "
          f"UTC ({r['bars_replayed']} replayed) in {r['seconds']:.1f} s: {r['bars_per_second']:.0f} bars/s")
    _print_scores(r)
    weights = ", ".join(f"{name} {100 * share:.0f} %" for name, share in r["mean_weight"].items() if share)
    served = ", ".join(f"{name} {100 * share:.0f} %" for name, share in r["batch_choice_share"].items())
    print(f"the hybrid's mean weights ({r['hybrid_mode']}): {weights}; the batch model served: {served or '-'}")
    for line in verdict_lines(r)[:-1 if r.get("trading") else None]:
        print(line)
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
    rows = [*r["models"].items(), ("hybrid", r["hybrid"]), *([("rolling LR", r["reference"])] if "reference" in r
                                                             else []), *r["baselines"].items()]
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

