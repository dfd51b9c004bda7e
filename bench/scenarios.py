"""The learning goals of issue 16, measured: every scenario market and the bundled real candles through the
walk-forward as ``evaluate`` runs them, each figure beside the references computed in the same run -- the
hybrid's best single model, a plain rolling logistic regression (engine.reference), the oracle, the
majority class, always-flat and random entry.

Goals printed with met / NOT met:
- every edge scenario: hybrid accuracy >= its best single model's and >= the rolling regression's; within
  2 SE of the oracle on trend and mean reversion;
- where the oracle's calls clearly pay the costs: the live strategy's PnL interval above 0 and better than
  >= 95 % of random-entry seeds; where the edge is real but smaller than the costs: learnt (hybrid beats the
  majority class) and not traded (PnL interval includes 0);
- no-edge random walk and the real candles: the live strategy's PnL interval includes 0 or is above it, and
  the hybrid's log loss is no worse than the majority class's (within 2 SE);
- recovery after a change of law: the hybrid back to 90 % of its edge within 7 days (median over switches).
Usage: python bench/scenarios.py [seed] [names, comma-separated]
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.candles import load_sample  # noqa: E402
from engine.config import DEFAULTS  # noqa: E402
from engine.evaluation import MODELS, walk_forward  # noqa: E402
from engine.health import paired_gap  # noqa: E402
from engine.scenarios import SCENARIOS  # noqa: E402
from engine.scenarios.oracle import oracle_report  # noqa: E402
from engine.scenarios.recovery import recovery  # noqa: E402

REAL = {"BTCUSDT 2021-2022": ("BTCUSDT", 1_609_459_200_000), "ETHUSDT 2024-2026": ("ETHUSDT", None)}


def _mark(ok: bool) -> str:
    return "met" if ok else "NOT met"


def judge_scenario(name: str, seed: int) -> None:
    market = SCENARIOS[name].generate(seed)
    t = time.perf_counter()
    result = walk_forward(market.candles, DEFAULTS)
    seconds = time.perf_counter() - t
    r, p = result.report, result.predictions
    o = oracle_report(market, DEFAULTS, r["first_open_time"], r["last_open_time"])
    rec = recovery(market, p, (*MODELS, "ensemble"))["summary"]["ensemble"]
    h, best, ref = r["hybrid"], r["comparisons"]["best_model"], r["reference"]
    vs_best, vs_ref = r["comparisons"]["hybrid_vs_best_model"], r["comparisons"]["hybrid_vs_reference"]
    oracle_gap = (h["accuracy"] - o["accuracy"]["accuracy"]) / o["accuracy"]["accuracy_se"]
    live = r["trading"]["strategies"][r["trading"]["live"]]
    low, high = live["pnl_usdt_ci"]
    trader_low = o["trader"]["pnl_usdt_ci"][0] or 0.0
    print(f"\n== {name} (seed {seed}): {r['bars_evaluated']} bars in {seconds:.1f} s")
    print(f"  hybrid {h['accuracy']:.4f} ± {h['accuracy_se']:.4f}; best single ({best}) "
          f"{r['models'][best]['accuracy']:.4f}: {100 * vs_best['difference']:+.2f} ± {100 * vs_best['se']:.2f} points; "
          f"rolling regression {ref['accuracy']:.4f}: {100 * vs_ref['difference']:+.2f} ± {100 * vs_ref['se']:.2f}; "
          f"oracle {o['accuracy']['accuracy']:.4f} ({oracle_gap:+.1f} SE)")
    print(f"  live strategy: {live['trades']:.0f} trades, {live['pnl_usdt']:+,.0f} USDT [{low:+,.0f}, {high:+,.0f}], better "
          f"than {100 * live['random']['share_beaten']:.0f} % of random-entry seeds; the oracle's calls "
          f"{o['trader']['pnl_usdt']:+,.0f} [{trader_low:+,.0f}, {o['trader']['pnl_usdt_ci'][1]:+,.0f}]")
    print(f"  recovery: median {rec['median_days']} days, {rec['within_7_days']} of {rec['switches']} within 7 days")
    if name != "random_walk":
        print(f"  goal hybrid >= best single: {_mark(vs_best['difference'] >= 0)} (within noise: "
              f"{_mark(vs_best['difference'] > -2 * vs_best['se'])}); >= rolling regression: "
              f"{_mark(vs_ref['difference'] >= 0)}")
    if name in ("trend", "mean_reversion"):
        print(f"  goal within 2 SE of the oracle: {_mark(oracle_gap >= -2)}")
    if trader_low > 0:
        print(f"  goal the edge pays and the live strategy earns it: {_mark(low > 0 and live['random']['share_beaten'] >= 0.95)}")
    elif SCENARIOS[name].tradeable is False and name != "random_walk":
        print(f"  goal learnt ({r['verdicts']['ensemble']['verdict']} vs majority) and not traded: "
              f"{_mark(r['verdicts']['ensemble']['verdict'] == 'beats' and low <= 0 <= high)}")
    if name == "random_walk":
        _flat_goals(result)
    if rec["switches"]:
        print(f"  goal recovery within 7 days (median): {_mark((rec['median_days'] or 99) <= 7)}")


def _flat_goals(result) -> None:
    r, p = result.report, result.predictions
    live = r["trading"]["strategies"][r["trading"]["live"]]
    low, high = live["pnl_usdt_ci"]
    gap, se, _ = paired_gap(p.label, p.p_ensemble, p.p_majority_class)
    print(f"  hybrid log loss vs the majority class: {gap:+.5f} ± {se:.5f}; live PnL [{low:+,.0f}, {high:+,.0f}]")
    print(f"  goal stays flat (loss within noise): {_mark(high >= 0)}; log loss no worse than the majority class: "
          f"{_mark(gap <= 2 * se)}")


def judge_real(label: str, symbol: str, start: int | None) -> None:
    candles = load_sample(symbol)
    if start is not None:
        candles = candles[candles.open_time >= start - 130 * 86_400_000].reset_index(drop=True)
    t = time.perf_counter()
    result = walk_forward(candles, DEFAULTS, start_ms=start)
    r = result.report
    vs_best, vs_ref = r["comparisons"]["hybrid_vs_best_model"], r["comparisons"]["hybrid_vs_reference"]
    print(f"\n== {label}: {r['bars_evaluated']} bars in {time.perf_counter() - t:.1f} s")
    print(f"  hybrid {r['hybrid']['accuracy']:.4f} ± {r['hybrid']['accuracy_se']:.4f} ({r['verdicts']['ensemble']['verdict']} "
          f"vs majority); vs best single ({r['comparisons']['best_model']}) {100 * vs_best['difference']:+.2f} ± "
          f"{100 * vs_best['se']:.2f}; vs rolling regression {100 * vs_ref['difference']:+.2f} ± {100 * vs_ref['se']:.2f}; "
          f"reversal {r['baselines']['reversal']['accuracy']:.4f}")
    _flat_goals(result)


def main(seed: int = 1, names: str | None = None) -> None:
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores, shared)")
    for name in (names.split(",") if names else SCENARIOS):
        judge_scenario(name, seed)
    if not names:
        for label, (symbol, start) in REAL.items():
            judge_real(label, symbol, start)
    print(f"\nload average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main(*(int(a) if i == 0 else a for i, a in enumerate(sys.argv[1:3])))
