"""Feature pipeline: definitions, both backends on the real data, warm-up, no look-ahead, quirks, labels."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.candles import load_sample
from engine.errors import NotReady, ValidationError
from engine.features import (
    FEATURE_COLUMNS, HISTORY_BARS, WARMUP_BARS, build_dataset, compute_features, latest_features, make_labels,
)

@pytest.fixture(scope="module", params=["BTCUSDT", "ETHUSDT"])
def real_candles(request):
    return load_sample(request.param)


@pytest.fixture(params=["numpy", "talib"])
def backend(request):
    if request.param == "talib":
        pytest.importorskip("talib")
    return request.param


def _candles(close, volume=None, spread=0.01):
    """Synthetic hourly candles around ``close``."""
    close = np.asarray(close, dtype=np.float64)
    n = len(close)
    return pd.DataFrame({
        "open_time": 1_600_000_000_000 + 3_600_000 * np.arange(n, dtype=np.int64),
        "open": np.r_[close[0], close[:-1]], "high": close * (1 + spread), "low": close * (1 - spread),
        "close": close, "volume": np.ones(n) if volume is None else np.asarray(volume, dtype=np.float64),
    })


def test_columns_index_and_warmup_on_real_data(real_candles, backend):
    """Every row after the warm-up is finite on the real data (gaps, off-grid bars, zero volume,
    close_time before open_time included); warm-up rows are entirely NaN."""
    features = compute_features(real_candles, backend)
    assert list(features.columns) == list(FEATURE_COLUMNS) and len(FEATURE_COLUMNS) == 23
    assert features.index.name == "open_time"
    np.testing.assert_array_equal(features.index.to_numpy(), real_candles["open_time"].to_numpy())
    values = features.to_numpy()
    assert np.isnan(values[:WARMUP_BARS]).all()
    assert np.isfinite(values[WARMUP_BARS:]).all()


def test_backends_agree_on_every_real_bar(real_candles):
    pytest.importorskip("talib")
    ours = compute_features(real_candles, "numpy").to_numpy()
    ref = compute_features(real_candles, "talib").to_numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=0)


def test_definitions_against_plain_pandas(btc_candles, backend):
    """The documented meaning of each column, recomputed independently with pandas rolling windows."""
    candles = btc_candles.iloc[:3000]
    f = compute_features(candles, backend).iloc[WARMUP_BARS:]
    o, h, lo, c, v = (candles[k].set_axis(candles["open_time"]) for k in ("open", "high", "low", "close", "volume"))
    ret = c.pct_change()
    highest, lowest = h.rolling(14).max(), lo.rolling(14).min()
    fast_k = 100 * (c - lowest) / (highest - lowest)
    slow_k = fast_k.rolling(3).mean()
    std20 = c.rolling(20).std(ddof=0)
    sma20 = c.rolling(20).mean()
    signed_volume = np.sign(c.diff()) * v
    expected = {
        "return_1": ret, "momentum_10": c / c.shift(10) - 1, "candle_body": (c - o) / o,
        "upper_wick": (h - np.maximum(o, c)) / c, "lower_wick": (np.minimum(o, c) - lo) / c,
        "range_pct": (h - lo) / c, "volume_ratio": v / v.rolling(20).mean(),
        "obv_slope": signed_volume.rolling(20).sum() / v.rolling(20).sum(),
        "stoch_k": slow_k, "stoch_d": slow_k.rolling(3).mean(),
        "williams_r": -100 * (highest - c) / (highest - lowest),
        "dist_sma_20": c / sma20 - 1, "dist_sma_50": c / c.rolling(50).mean() - 1,
        "dist_bb_high": c / (sma20 + 2 * std20) - 1, "dist_bb_low": c / (sma20 - 2 * std20) - 1,
        "bb_width": 4 * std20 / sma20, "volatility_20": ret.rolling(20).std(ddof=0),
    }
    for name, series in expected.items():
        np.testing.assert_allclose(f[name], series.iloc[WARMUP_BARS:], rtol=1e-6, atol=1e-12, err_msg=name)
    assert f["rsi"].between(0, 100).all() and f["williams_r"].between(-100, 0).all()


@pytest.mark.parametrize("t", [WARMUP_BARS, 500, 20_000, 46_980])
def test_no_look_ahead(btc_candles, backend, t):
    """Scrambling every bar after t leaves the features of bars up to t exactly unchanged."""
    before = compute_features(btc_candles, backend).iloc[:t + 1]
    changed = btc_candles.copy()
    rng = np.random.default_rng(t)
    later = changed.index[t + 1:]
    factor = rng.uniform(0.5, 2.0, len(later))
    for column in ("open", "high", "low", "close"):
        changed.loc[later, column] = changed.loc[later, column] * factor * rng.uniform(0.98, 1.02, len(later))
    changed.loc[later, "volume"] = rng.exponential(1000, len(later))
    after = compute_features(changed, backend)
    assert not after.iloc[t + 1:].equals(compute_features(btc_candles, backend).iloc[t + 1:])
    pd.testing.assert_frame_equal(after.iloc[:t + 1], before, check_exact=True)


def test_zero_volume_and_flat_prices_stay_finite(backend):
    """No volume for 25 bars -> volume_ratio = obv_slope = 0; a flat range -> stoch/williams/std 0."""
    n = 200
    close = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, n)))
    close[100:130] = close[100]
    volume = np.full(n, 5.0)
    volume[100:125] = 0.0
    candles = _candles(close, volume)
    flat = candles.index[100:130]
    candles.loc[flat, ["open", "high", "low"]] = close[100]
    f = compute_features(candles, backend)
    assert np.isfinite(f.iloc[WARMUP_BARS:].to_numpy()).all()
    assert f["volume_ratio"].iloc[119:125].eq(0).all() and f["obv_slope"].iloc[119:125].eq(0).all()
    at_end = f.iloc[129]  # 30 flat bars (TA-Lib's running sums may leave ~1e-14 residues)
    assert abs(at_end["williams_r"]) < 1e-9 and abs(at_end["stoch_k"]) < 1e-9 and abs(at_end["stoch_d"]) < 1e-9
    assert abs(at_end["bb_width"]) < 1e-9 and abs(at_end["volatility_20"]) < 1e-9


def test_gaps_and_close_time_are_not_used(btc_candles, backend):
    """Bars are taken in stored order: features ignore open-time spacing and close_time."""
    candles = btc_candles.iloc[:400]
    respaced = candles.assign(open_time=np.arange(400, dtype=np.int64) * 7, close_time=0)
    np.testing.assert_array_equal(compute_features(candles, backend).to_numpy(),
                                  compute_features(respaced.drop(columns=["close_time"]), backend).to_numpy())


@pytest.mark.parametrize("change, field", [
    (lambda d: d.drop(columns=["volume"]), "candles"),
    (lambda d: d.iloc[::-1], "open_time"),
    (lambda d: d.assign(open_time=d["open_time"].where(d.index != 5, d["open_time"].iloc[4])), "open_time"),
    (lambda d: d.assign(close=d["close"].where(d.index != 70, np.nan)), "close"),
    (lambda d: d.assign(low=d["low"].where(d.index != 3, 0.0)), "low"),
    (lambda d: d.assign(high=d["high"].where(d.index != 3, np.inf)), "high"),
    (lambda d: d.assign(open=d["open"].where(d.index != 99, -np.inf)), "open"),
    (lambda d: d.assign(volume=d["volume"].where(d.index != 9, -1.0)), "volume"),
    (lambda d: d.assign(volume=d["volume"].where(d.index != 60, np.nan)), "volume"),
    (lambda d: d.assign(open_time=d["open_time"].where(d.index != 0, np.nan)), "open_time"),
    (lambda d: d.assign(open_time=d["open_time"].astype(str)), "open_time"),
    (lambda d: d.to_dict(), "candles"),
])
def test_bad_candles_name_the_field_and_change_nothing(btc_candles, change, field):
    candles = change(btc_candles.iloc[:100].copy())
    snapshot = candles.copy() if isinstance(candles, pd.DataFrame) else None
    for call in (compute_features, latest_features, lambda d: build_dataset(d, 1)):
        with pytest.raises(ValidationError) as err:
            call(candles)
        assert err.value.field == field
    if snapshot is not None:
        pd.testing.assert_frame_equal(candles, snapshot)


@pytest.mark.parametrize("n", [0, 1, 10, WARMUP_BARS, WARMUP_BARS + 1, WARMUP_BARS + 5])
def test_short_histories(btc_candles, backend, n):
    features = compute_features(btc_candles.iloc[:n], backend)
    assert features.shape == (n, 23)
    assert np.isfinite(features.to_numpy()).all(axis=1).sum() == max(0, n - WARMUP_BARS)
    X, y = build_dataset(btc_candles.iloc[:n], 1, backend)
    assert len(X) == len(y) == max(0, n - WARMUP_BARS - 1)


def test_unknown_backend_is_refused(btc_candles):
    with pytest.raises(ValidationError) as err:
        compute_features(btc_candles.iloc[:60], "gpu")
    assert err.value.field == "backend"


def test_labels():
    close = pd.Series([10.0, 11.0, 11.0, 9.0, 12.0], index=[5, 6, 7, 8, 9])
    one = make_labels(close, 1)
    assert one.index.equals(close.index)
    np.testing.assert_array_equal(one.to_numpy(), [1.0, 0.0, 0.0, 1.0, np.nan])  # a tie is not "up"
    np.testing.assert_array_equal(make_labels(close, 2).to_numpy(), [1.0, 0.0, 1.0, np.nan, np.nan])
    assert make_labels(close, 10).isna().all()
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(ValidationError) as err:
            make_labels(close, bad)
        assert err.value.field == "horizon"
    with pytest.raises(ValidationError) as err:
        make_labels(close.where(close.index != 7, np.nan), 1)
    assert err.value.field == "close"


@pytest.mark.parametrize("horizon", [1, 3])
def test_build_dataset(btc_candles, horizon):
    candles = btc_candles.iloc[:1000]
    X, y = build_dataset(candles, horizon)
    assert list(X.columns) == list(FEATURE_COLUMNS) and y.dtype == np.int64
    assert len(X) == len(y) == 1000 - WARMUP_BARS - horizon
    assert X.index.equals(y.index) and X.index.name == "open_time"
    assert np.isfinite(X.to_numpy()).all()
    close = candles["close"].to_numpy()
    np.testing.assert_array_equal(y.to_numpy(), (close[WARMUP_BARS + horizon:] > close[WARMUP_BARS:-horizon]))
    np.testing.assert_array_equal(X.index.to_numpy(), candles["open_time"].to_numpy()[WARMUP_BARS:-horizon])


def test_latest_features_matches_the_full_computation(real_candles, backend):
    full = compute_features(real_candles, backend)
    for end in (WARMUP_BARS + 1, 1000, len(real_candles)):
        open_time, features = latest_features(real_candles.iloc[:end], backend)
        assert open_time == int(real_candles["open_time"].iloc[end - 1]) and isinstance(open_time, int)
        assert list(features) == list(FEATURE_COLUMNS)
        assert all(type(value) is float for value in features.values())
        # only the last HISTORY_BARS bars are used: EMA/Wilder seeds have faded by then
        np.testing.assert_allclose(list(features.values()), full.iloc[end - 1].to_numpy(), rtol=1e-6, atol=1e-9)
    tail = real_candles.iloc[-HISTORY_BARS:]
    assert latest_features(tail, backend)[1] == latest_features(real_candles, backend)[1]


def test_latest_features_needs_the_warmup(btc_candles):
    with pytest.raises(NotReady):
        latest_features(btc_candles.iloc[:WARMUP_BARS])
    assert all(np.isfinite(list(latest_features(btc_candles.iloc[:WARMUP_BARS + 1])[1].values())))
