"""Market charts: indicator overlays, predictions and paper trades on the candles, one small chart per symbol."""
from __future__ import annotations

import numpy as np
import pandas as pd

import callbacks.market_figures as market_figures
from callbacks.market_figures import indicator_overlays, market_figure, overview_figure, trades_in_view
from engine.candles import CANDLE_COLUMNS
from tests.dashboard_fixtures import HOUR, T0


def _candles(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]]
    df = pd.DataFrame({"open_time": T0 + HOUR * np.arange(n, dtype=np.int64), "open": open_,
                       "high": np.maximum(open_, close) * 1.002, "low": np.minimum(open_, close) * 0.998,
                       "close": close, "volume": rng.uniform(1, 5, n)})
    df["close_time"] = df["open_time"] + HOUR - 1
    for c in ("quote_volume", "taker_buy_base", "taker_buy_quote"):
        df[c] = df["volume"]
    df["trades"] = 10
    return df[list(CANDLE_COLUMNS)]


def test_indicator_overlays_recover_raw_lines_from_scale_free_features():
    candles = _candles(5)
    features = pd.DataFrame(0.0, index=candles["open_time"], columns=figures_feature_columns())
    features["dist_sma_20"] = 0.1
    features["dist_bb_low"] = 0.25
    features["macd"] = 0.01
    features["rsi"] = 55.0
    ov = indicator_overlays(candles, features)
    close = candles["close"].to_numpy()
    np.testing.assert_allclose(ov["sma_20"], close / 1.1)
    np.testing.assert_allclose(ov["bb_low"], close / 1.25)
    np.testing.assert_allclose(ov["ema_20"], close)
    np.testing.assert_allclose(ov["macd"], close * 0.01)
    assert (ov["rsi"] == 55.0).all()


def figures_feature_columns():
    from engine.features import FEATURE_COLUMNS
    return list(FEATURE_COLUMNS)


def test_overlays_from_the_real_features_match_pandas_rolling():
    from engine.features import compute_features
    candles = _candles(300, seed=1)
    ov = indicator_overlays(candles, compute_features(candles))
    expected = candles["close"].rolling(20).mean().to_numpy()
    np.testing.assert_allclose(ov["sma_20"].to_numpy()[100:], expected[100:], rtol=1e-9)


def test_market_figure_has_price_rsi_macd_panels_and_marks_predictions():
    candles = _candles(50)
    features = pd.DataFrame(0.0, index=candles["open_time"], columns=figures_feature_columns())
    ov = indicator_overlays(candles, features)
    preds = [{"open_time": int(candles["open_time"][10]), "prediction": 1, "correct": True},
             {"open_time": int(candles["open_time"][11]), "prediction": 0, "correct": False},
             {"open_time": int(candles["open_time"][12]), "prediction": 1, "correct": None},
             {"open_time": T0 - 100 * HOUR, "prediction": 1, "correct": True}]  # outside the chart: left out
    fig = market_figure(candles, ov, preds, "BTCUSDT")
    by_name = {t.name: t for t in fig.data}
    assert len(by_name["BTCUSDT"].x) == 50
    assert {"SMA 20", "EMA 20", "Bollinger (20, 2)", "RSI 14", "MACD", "Signal", "MACD hist"} <= set(by_name)
    assert len(by_name["prediction right"].x) == 1 and len(by_name["prediction wrong"].x) == 1
    assert len(by_name["prediction pending"].x) == 1
    assert by_name["prediction right"].marker.color == market_figures.RIGHT
    assert by_name["RSI 14"].yaxis == "y2" and by_name["MACD"].yaxis == "y3"
    assert not market_figure(candles.iloc[:0], ov, [], "BTCUSDT").data


def _trade(i, side, entry, exit_=None, pnl=None, entry_price=100.0, exit_price=101.0):
    closed = exit_ is not None
    return {"id": i, "symbol": "BTCUSDT", "side": side, "status": "closed" if closed else "open", "entry_time": entry,
            "entry_price": entry_price, "exit_time": exit_, "exit_price": exit_price if closed else None,
            "exit_reason": "take_profit" if closed else None, "pnl": pnl, "signal_time": None}


def test_trades_are_marked_on_the_candles_entry_exit_and_path():
    candles = _candles(50)
    ov = indicator_overlays(candles, pd.DataFrame(0.0, index=candles["open_time"], columns=figures_feature_columns()))
    t = candles["open_time"].to_numpy()
    trades = [_trade(1, "LONG", int(t[5]), int(t[8]), 12.5), _trade(2, "SHORT", int(t[20]), int(t[22]), -4.0),
              _trade(3, "LONG", int(t[45])),  # still open
              _trade(4, "LONG", T0 - 20 * HOUR, T0 - 10 * HOUR, 3.0)]  # before the chart: left out
    fig = market_figure(candles, ov, [], "BTCUSDT", trades)
    by_name = {tr.name: tr for tr in fig.data}
    longs, shorts, won, lost, path = (by_name[n] for n in ("LONG entry", "SHORT entry", "exit, won", "exit, lost",
                                                           "trade path"))
    assert (longs.marker.symbol, len(longs.x), shorts.marker.symbol, len(shorts.x)) == \
           ("triangle-up", 2, "triangle-down", 1)
    assert list(longs.y) == [100.0, 100.0] and "(open)" in longs.text[1] and shorts.text[0] == "#2 SHORT entry 100.00"
    assert (won.marker.color, lost.marker.color) == (market_figures.GAIN, market_figures.LOSS)
    assert list(won.text) == ["#1 exit take profit 101.00 · PnL +12.50 USDT"] and list(lost.y) == [101.0]
    assert np.array_equal(path.y, [100.0, 101.0, np.nan, 100.0, 101.0, np.nan], equal_nan=True)
    assert fig.layout.meta["xsync"] == {"xaxis": "BTCUSDT", "xaxis2": "BTCUSDT", "xaxis3": "BTCUSDT"}


def test_trades_in_view_keep_what_overlaps_the_candles():
    candles = _candles(10)
    t = candles["open_time"].to_numpy()
    trades = [_trade(1, "LONG", T0 - 5 * HOUR, int(t[1]), 1.0), _trade(2, "LONG", T0 - 5 * HOUR, T0 - HOUR, 1.0),
              _trade(3, "LONG", int(t[9])), _trade(4, "LONG", None)]
    assert [tr["id"] for tr in trades_in_view(candles, trades)] == [1, 3]


def test_overview_gives_each_symbol_its_own_time_axis_and_period():
    btc, eth = _candles(24), _candles(24)
    eth["open_time"] += 7 * 365 * 24 * HOUR  # another era
    fig = overview_figure({"BTCUSDT": (btc, []), "ETHUSDT": (eth, [_trade(1, "SHORT", int(eth["open_time"][3]))])})
    candles = [tr for tr in fig.data if tr.type == "candlestick"]
    assert [(c.name, c.xaxis) for c in candles] == [("BTCUSDT", "x"), ("ETHUSDT", "x2")]
    assert "matches" not in fig.layout.xaxis2 or fig.layout.xaxis2.matches is None  # never one axis across eras
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0].startswith("BTCUSDT · 2023-11-14") and titles[1].startswith("ETHUSDT · 2030-11-12")
    assert fig.layout.meta["xsync"] == {"xaxis": "BTCUSDT", "xaxis2": "ETHUSDT"}
    assert "No candles stored" in overview_figure({"BTCUSDT": (btc.iloc[:0], [])}).layout.annotations[0].text
