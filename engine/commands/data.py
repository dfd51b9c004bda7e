"""Market-data commands: backfill, collect, features, import-archive."""
from __future__ import annotations

import argparse
import datetime as dt
import sys

from engine.config import DATA_SOURCES, INTERVALS, ConfigError, ConfigStore, validate
from engine.errors import ValidationError
from engine.paths import data_dir

FEATURE_HISTORY = 500  # extra bars before the shown rows, so slow EMAs have settled


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _open(args, **overrides):
    """(config, store, collector) for the data dir; ``overrides`` apply to this run only."""
    from engine.collector import Collector
    from engine.db import Database
    from engine.store import CandleStore

    root = data_dir(args.data_dir)
    config = validate({k: v for k, v in overrides.items() if v is not None}, ConfigStore(root).current())
    store = CandleStore(Database(root / "market.db"))
    return config, store, Collector(store, lambda: config)


def _symbols(text: str | None) -> list[str] | None:
    return None if text is None else [s for s in text.split(",") if s.strip()]


def _report(collector, result: dict[str, int], what: str) -> int:
    """Print per-symbol results and errors; exit code 1 if any symbol failed."""
    stats = collector.stats()
    print(f"source: {stats['source']} ({stats['source_reason']})")
    failed = 0
    for symbol, info in stats["symbols"].items():
        if symbol in result:
            print(f"  {symbol}: {result[symbol]} {what}; {info['rows']} stored, last candle {_when(info['last_open_time'])}")
        elif info["error"]:
            failed += 1
            print(f"  {symbol}: FAILED: {info['error']}", file=sys.stderr)
    if stats["replay"]["message"]:
        print(f"note: {stats['replay']['message']}")
    return 1 if failed else 0


class _Progress:
    """Prints one updating line per symbol on stderr."""

    def __init__(self):
        self.shown = False

    def __call__(self, symbol: str, done: int, expected: int) -> None:
        self.shown = True
        print(f"\r  {symbol}: {done}/{max(done, expected)} candles", end="", file=sys.stderr, flush=True)


def cmd_backfill(args) -> int:
    from engine.collector import CollectError

    progress = _Progress()
    try:
        config, _, collector = _open(args, symbols=_symbols(args.symbols), data_source=args.source,
                                     backfill_days=args.days)
        result = collector.backfill(config["symbols"], config["backfill_days"], progress=progress)
    except CollectError:
        result = {}
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if progress.shown:
            print(file=sys.stderr)
    return _report(collector, result, "new candles")


def cmd_collect(args) -> int:
    from engine.collector import CollectError

    try:
        _, _, collector = _open(args, data_source=args.source)
        result = collector.collect_once()
    except CollectError:
        result = {}
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _report(collector, result, "new closed candles")


def cmd_features(args) -> int:
    import pandas as pd

    from engine.features import WARMUP_BARS, compute_features

    config, store, _ = _open(args)
    interval = args.interval or config["interval"]
    candles = store.tail(args.symbol, interval, args.tail + WARMUP_BARS + FEATURE_HISTORY)
    if len(candles) <= WARMUP_BARS:
        print(f"error: {len(candles)} {args.symbol} {interval} candles stored; features need more than "
              f"{WARMUP_BARS}: run `python -m engine backfill` first", file=sys.stderr)
        return 1
    rows = compute_features(candles).tail(args.tail)
    rows.index = pd.to_datetime(rows.index, unit="ms", utc=True).strftime("%Y-%m-%d %H:%M")
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.precision", 5):
        print(f"{args.symbol} {interval}: latest {len(rows)} feature rows (index: candle open time, UTC)")
        print(rows.T.to_string())
    return 0


def cmd_import_archive(args) -> int:
    from engine.archive import import_archive

    _, store, _ = _open(args)
    status = 0
    for path in args.paths:
        try:
            n = import_archive(store, path, args.symbol, args.interval)
        except ValidationError as exc:
            print(f"{path}: REJECTED, nothing imported: {exc.message}", file=sys.stderr)
            status = 1
            continue
        print(f"{path}: {n} candles new or changed")
    for row in store.counts():
        if (row["symbol"], row["interval"]) == (args.symbol, args.interval):
            print(f"{args.symbol} {args.interval}: {row['rows']} stored, "
                  f"{_when(row['first_open_time'])} -> {_when(row['last_open_time'])}")
    return status


def _symbol(text: str) -> str:
    try:
        return validate({"symbols": [text]})["symbols"][0]
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a whole number >= 1")
    return int(text)


def register(sub) -> None:
    p = sub.add_parser("backfill", help="load the last N days of closed candles (Binance or the bundled replay)")
    p.add_argument("--symbols", help="comma-separated, e.g. BTCUSDT,ETHUSDT (default: config symbols)")
    p.add_argument("--days", type=int, help="days of history (default: config backfill_days)")
    p.add_argument("--source", choices=DATA_SOURCES, help="override config data_source for this run")
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser("collect", help="one incremental collection of newly closed candles")
    p.add_argument("--source", choices=DATA_SOURCES, help="override config data_source for this run")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("features", help="print the latest feature rows computed from stored candles")
    p.add_argument("--symbol", required=True, type=_symbol)
    p.add_argument("--interval", choices=INTERVALS, help="default: config interval")
    p.add_argument("--tail", type=_positive, default=5, help="rows to show (default 5)")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("import-archive", help="import Binance archive files (.zip/.csv from data.binance.vision)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--symbol", required=True, type=_symbol)
    p.add_argument("--interval", required=True, choices=INTERVALS)
    p.set_defaults(func=cmd_import_archive)
