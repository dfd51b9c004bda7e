"""Benchmark: server time of the Trades and Market tabs' renders with a year of candles per symbol and
10,000 paper trades stored (half per symbol), dispatched through Dash's /_dash-update-component (Flask test
client) as the page's refresh triggers them (a state change, the Market tab's 15 s timer, a pager click).

Reference measured in the same run: GET of the static Bootstrap CSS, and the periodic poll (the state-version
callback every page runs every 2 s). Goal: each render <= 50 ms. Printed: median wall time and median CPU time
of this process (the latter hardly moves when other work shares the machine).

    python bench/trading_dashboard.py [--repeat 20] [--trades 10000]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dashboard import ENV, YEAR_BARS, _payload  # noqa: E402 (after the path set-up)

GOAL_MS = 50


def prepare(data_dir: Path, trades: int) -> None:
    """A year of real candles per symbol and ``trades`` paper trades over them (signals on random bars,
    trades closed by their rules as the candles come, their learning events delivered)."""
    from engine.candles import load_sample
    from engine.features import FEATURE_COLUMNS
    from engine.system import HybridLearningSystem
    system = HybridLearningSystem(data_dir, environ=ENV)
    system.config.update({"max_open_trades_per_symbol": 100, "cost_gate_enabled": False,  # trade every signal
                          "outcome_gate_enabled": False})
    symbols = system.config.current()["symbols"]
    features = {name: 0.01 for name in FEATURE_COLUMNS}
    rng = np.random.default_rng(7)
    t0 = time.perf_counter()
    for symbol in symbols:
        candles = load_sample(symbol).tail(YEAR_BARS).reset_index(drop=True)
        system.store.upsert(symbol, "1h", candles)
        bars = np.sort(rng.choice(len(candles) - 48, trades // len(symbols), replace=False))
        for i, bar in enumerate(bars.tolist()):
            system.trader.on_prediction({"symbol": symbol, "open_time": int(candles["open_time"].iat[bar]),
                                         "ensemble_prediction": int(rng.integers(2)), "ensemble_confidence": 0.9,
                                         "status": "ok", "features": features})
            if i % 40 == 39:
                system.trader.on_candles(symbol)
        system.trader.on_candles(symbol)
    stored = system.trader.count_trades()
    print(f"  prepare: {stored} trades ({system.trader.count_trades(status='closed')} closed) in "
          f"{time.perf_counter() - t0:.0f} s; candles {({c['symbol']: c['rows'] for c in system.store.counts()})}",
          flush=True)


def _timed(call, repeat: int) -> tuple[float, float]:
    """(median wall ms, median CPU ms of this process) of ``call`` after a warm-up call."""
    call()
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return 1000 * statistics.median(walls), 1000 * statistics.median(cpus)


def _output(app, first: str) -> str:
    return next(key for key in app.callback_map if key.startswith(f"..{first}") or key == first)


def bench(data_dir: Path, repeat: int) -> dict[str, tuple[float, float]]:
    import app as dashboard
    app = dashboard.create_app({"data_dir": data_dir, "start_scheduler": False, "environ": ENV})
    client = app.server.test_client()
    client.get("/")
    post = lambda body: client.post("/_dash-update-component", json=body)  # noqa: E731
    symbols = app.system.config.current()["symbols"]
    poll = _payload(app, "state-version.data", {"refresh.n_intervals": 1}, {"state-version.data": "old"},
                    "refresh.n_intervals")
    cases = {"reference: GET static css": lambda: client.get(dashboard.BOOTSTRAP_URL).data,
             "reference: poll (refresh callback)": lambda: post(poll)}
    for pick in (symbols[0], "ALL"):
        common = {"symbol-picker.value": pick, "state-version.data": "new", "tabs.active_tab": "trades"}
        for name, first, inputs in (
                ("trades: stats, charts, open trades", "trades-performance-html.data", {}),
                ("trades: closed trades page 1", "closed-trades-html.data",
                 {"closed-side.value": "any", "closed-exit.value": "any", "closed-pager.active_page": 1}),
                ("trades: closed SHORT stop-loss page 20", "closed-trades-html.data",
                 {"closed-side.value": "SHORT", "closed-exit.value": "stop_loss", "closed-pager.active_page": 20}),
                ("trades: learning events page 1", "learning-events-html.data",
                 {"events-status.value": "any", "events-pager.active_page": 1})):
            body = _payload(app, _output(app, first), common | inputs, {}, "state-version.data")
            cases[f"{name} ({pick})"] = lambda body=body: post(body)
        for days in (30, 90):
            body = _payload(app, _output(app, "market-graph.figure"),
                            {"symbol-picker.value": pick, "market-range.value": days * 24,
                             "market-refresh.n_intervals": 1, "tabs.active_tab": "market"}, {},
                            "market-refresh.n_intervals")
            cases[f"market: {days} days, trades marked, PnL chart ({pick})"] = lambda body=body: post(body)
    out = {}
    for name, call in cases.items():
        response = call()
        assert getattr(response, "status_code", 200) == 200, name
        out[name] = _timed(call, repeat)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--trades", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        print(f"preparing a year of candles and {args.trades} paper trades in {data_dir} ...", flush=True)
        prepare(data_dir, args.trades)
        results = bench(data_dir, args.repeat)
    ref = results["reference: GET static css"][0]
    print(f"\nserver time per callback (median of {args.repeat}; wall ms, ratio to the static CSS; CPU ms):")
    for name, (ms, cpu) in results.items():
        print(f"  {name:62s} {ms:8.1f} ms  x{ms / ref:6.1f}  cpu {cpu:6.1f} ms")
    slow = [name for name, (ms, _) in results.items() if not name.startswith("reference") and ms > GOAL_MS]
    print(f"  goal: every render <= {GOAL_MS} ms -> {'met' if not slow else 'NOT met: ' + ', '.join(slow)}")
    print(f"\nload average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
