"""Which plotly.js the page loads: the npm finance bundle when installed and sufficient, else the full one."""
from __future__ import annotations

import doctest

import pandas as pd
import pytest

import callbacks.market_figures as market_figures
import callbacks.trading_figures as trading_figures
import layouts.plotly_bundle as plotly_bundle
from callbacks.figures import TRACE_TYPES
from callbacks.model_figures import (accuracy_figure, calibration_bins, calibration_figure, importance_figure,
                                     rolling_accuracy, WEIGHT_LINES, weights_figure)
from engine.candles import load_sample
from engine.config import validate
from engine.features import compute_features
from engine.paths import PROJECT_ROOT
from engine.trading import TradeRules
from engine.trading.stats import buy_and_hold_curve, equity_curve
from layouts.plotly_bundle import FULL, PARTIAL, choose, trace_types


def test_doctests():
    result = doctest.testmod(plotly_bundle)
    assert result.attempted > 0 and result.failed == 0


def test_full_bundle_draws_everything_the_dashboard_needs():
    assert TRACE_TYPES <= trace_types(FULL.read_bytes())


def test_falls_back_to_the_full_bundle_when_the_partial_one_is_missing(tmp_path):
    bundle = choose(TRACE_TYPES, root=tmp_path)
    assert bundle.path == FULL and not bundle.partial
    assert bundle.url.startswith("/vendor/plotly.") and bundle.url.endswith(".min.js")


def _fake_partial(root, source: bytes):
    path = root / PARTIAL
    path.parent.mkdir(parents=True)
    path.write_bytes(source)
    return path


def test_takes_the_partial_bundle_only_if_it_has_every_needed_trace_type(tmp_path):
    enough = _fake_partial(tmp_path / "a", b'{moduleType:"trace",name:"scatter"},{moduleType:"trace",name:"bar"}')
    bundle = choose({"scatter", "bar"}, root=tmp_path / "a")
    assert bundle.path == enough and bundle.partial
    assert choose({"scatter", "candlestick"}, root=tmp_path / "a").path == FULL
    _fake_partial(tmp_path / "b", enough.read_bytes() + b" ")
    assert choose({"bar"}, root=tmp_path / "b").url != bundle.url  # new content, new URL: no stale cache


def test_installed_partial_bundle_is_chosen(tmp_path):
    """After ``npm ci`` (CI runs it) the finance bundle is what the page loads."""
    if not (PROJECT_ROOT / PARTIAL).is_file():
        pytest.skip("npm ci has not been run: the app serves the full bundle")
    bundle = choose(TRACE_TYPES)
    assert bundle.partial and bundle.path.stat().st_size < FULL.stat().st_size / 2


def test_dashboard_figures_use_only_the_declared_trace_types():
    candles = load_sample("BTCUSDT").tail(200).reset_index(drop=True)
    overlays = market_figures.indicator_overlays(candles, compute_features(candles))
    t = candles["open_time"].iloc[-3:].tolist()
    marks = [{"open_time": t[0], "prediction": 1, "correct": True}, {"open_time": t[1], "prediction": 0,
                                                                       "correct": False}]
    trades = [{"id": i, "symbol": "BTCUSDT", "side": side, "status": "closed", "entry_time": t[i], "entry_price": 1.0,
               "exit_time": t[i + 1], "exit_price": 1.1, "exit_reason": "take_profit", "pnl": pnl, "fees": 0.1,
               "return_pct": pnl / 10} for i, (side, pnl) in enumerate((("LONG", 1.0), ("SHORT", -2.0)))]
    rules = TradeRules.from_config(validate({}))
    report = {"stats": {"span": [t[0], t[-1]], "trades": 2}, "equity": equity_curve(trades, 1000.0),
              "buy_and_hold": buy_and_hold_curve(candles, rules)}
    figures = [market_figures.market_figure(candles, overlays, marks, "BTCUSDT", trades),
               accuracy_figure({"BTCUSDT": {"hybrid": rolling_accuracy(t, [True, False, True])}}),
               weights_figure({"BTCUSDT": pd.DataFrame({"open_time": t, **{v: [0.2] * 3 for v in WEIGHT_LINES}})}),
               importance_figure({"rsi": {"mean": 0.01, "std": 0.001}}, 1),
               calibration_figure({"BTCUSDT": calibration_bins([0.4] * 30 + [0.6] * 30, [0, 1] * 30)}),
               trading_figures.equity_figure({"BTCUSDT": report}),
               trading_figures.trade_pnl_figure({"BTCUSDT": report})]
    used = {trace.type for fig in figures for trace in fig.data}
    assert used <= TRACE_TYPES and {"candlestick", "bar", "scatter"} <= used
