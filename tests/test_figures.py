"""Pure figure builders and panel renderers, fed plain data shaped as the engine contracts say."""
from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

import callbacks.figures as figures
import callbacks.model_figures
import callbacks.prediction
import callbacks.settings
import callbacks.status
import layouts.format
import layouts.panels as panels
from callbacks.figures import indicator_overlays, market_figure
from engine.candles import CANDLE_COLUMNS
from tests.dashboard_fixtures import HOUR, T0, find, sample_status, text_of


@pytest.mark.parametrize("module", [layouts.format, callbacks.model_figures, panels, callbacks.status,
                                    callbacks.settings, callbacks.prediction])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


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
    assert by_name["prediction right"].marker.color == figures.RIGHT
    assert by_name["RSI 14"].yaxis == "y2" and by_name["MACD"].yaxis == "y3"
    assert not market_figure(candles.iloc[:0], ov, [], "BTCUSDT").data


def test_status_cards_say_clearly_when_replaying():
    replay = text_of(panels.status_cards(sample_status(replaying=True)))
    assert panels.REPLAY_TEXT in replay and "v3" in replay and "2.0 h" in replay
    live = text_of(panels.status_cards(sample_status(replaying=False)))
    assert "Live · Binance" in live and panels.REPLAY_TEXT not in live
    undecided = sample_status(replaying=False)
    undecided["data_collection"]["source"] = None
    assert "Choosing data source" in text_of(panels.status_cards(undecided))
    stopped = panels.status_cards(sample_status(running=False, last_retrain=None))
    assert find(stopped, "status-running").color == "danger" and "never" in text_of(stopped)


def test_alerts_stand_out_newest_first():
    out = panels.alerts(sample_status())
    assert [a.color for a in out] == ["danger", "warning"]
    assert "boom" in text_of(out[0])


def test_prediction_panel_shows_ensemble_batch_and_every_online_vote():
    pred = {"symbol": "BTCUSDT", "open_time": T0, "ensemble_prediction": 1, "ensemble_confidence": 0.62,
            "batch_prediction": 0, "individual_predictions": {"sgd": 1, "passive_aggressive": 0, "mlp_online": None},
            "probabilities": {"sgd": 0.7, "passive_aggressive": 0.4, "mlp_online": None, "batch": 0.45,
                              "ensemble": 0.62}, "model_versions": {"batch": 2, "sgd": 5},
            "status": "degraded", "notes": ["online model mlp_online is not trained yet; left out"]}
    out = panels.prediction_result(pred)
    text = text_of(out)
    for expected in ("UP", "62.0%", "batch", "sgd", "passive_aggressive", "mlp_online", "45.0%", "not trained"):
        assert expected in text
    not_ready = panels.prediction_result({"status": "not_ready", "notes": ["no candles stored"]})
    assert "no candles stored" in text_of(not_ready)


def test_online_stats_panel():
    stats = {"models": {"sgd": {"samples_seen": 1200, "version": 4, "last_update": T0, "accuracy": 0.52,
                                "log_loss": 0.69, "drift": True}},
             "buffer_size": 300, "buffer_max": 1000, "pending": 7, "drift_events": [{"model": "sgd"}]}
    text = text_of(panels.online_stats(stats))
    assert "1,200" in text and "52.0%" in text and "drift" in text and "300" in text
    assert "recent vs base" not in text  # the learning side's recent window is not reported here
