"""The numpy indicator backend against TA-Lib (all bundled bars) and against plain-loop definitions."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from engine.candles import load_sample
from engine.errors import ValidationError
from engine.indicators import load_backend
from engine.indicators import numpy_backend as nb

CALLS = {  # name -> (positional args built from o/h/l/c/v arrays)
    "window_sum": lambda a: (a["volume"], 20),
    "sma": lambda a: (a["close"], 50),
    "ema": lambda a: (a["close"], 20),
    "stddev": lambda a: (a["close"], 20),
    "bbands": lambda a: (a["close"], 20, 2.0),
    "rsi": lambda a: (a["close"], 14),
    "atr": lambda a: (a["high"], a["low"], a["close"], 14),
    "macd": lambda a: (a["close"], 12, 26, 9),
    "stoch": lambda a: (a["high"], a["low"], a["close"], 14, 3, 3),
    "willr": lambda a: (a["high"], a["low"], a["close"], 14),
    "obv": lambda a: (a["close"], a["volume"]),
}


def _columns(frame) -> dict[str, np.ndarray]:
    return {c: frame[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close", "volume")}


def _outputs(result) -> list[np.ndarray]:
    return list(result) if isinstance(result, tuple) else [result]


def _assert_same(numpy_result, talib_result, rtol=1e-6):
    for ours, ref in zip(_outputs(numpy_result), _outputs(talib_result), strict=True):
        assert ours.shape == ref.shape
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))  # same lookback
        np.testing.assert_allclose(ours, ref, rtol=rtol, atol=0)


@pytest.fixture(scope="module")
def talib_backend():
    pytest.importorskip("talib")
    return load_backend("talib")


@pytest.fixture(scope="module", params=["BTCUSDT", "ETHUSDT"])
def real_arrays(request):
    return _columns(load_sample(request.param))


@pytest.mark.parametrize("name", sorted(CALLS))
def test_numpy_matches_talib_on_all_real_bars(name, real_arrays, talib_backend):
    args = CALLS[name](real_arrays)
    _assert_same(getattr(nb, name)(*args), getattr(talib_backend, name)(*args))


@pytest.mark.parametrize("n", [0, 1, 2, 13, 14, 15, 17, 18, 19, 20, 25, 26, 33, 34, 49, 50, 51])
def test_short_inputs_have_talibs_lookback(n, btc_candles, talib_backend):
    arrays = {k: v[:n] for k, v in _columns(btc_candles).items()}
    for name, make_args in CALLS.items():
        args = make_args(arrays)
        _assert_same(getattr(nb, name)(*args), getattr(talib_backend, name)(*args), rtol=1e-9)


def test_degenerate_inputs_match_talib(talib_backend):
    """Flat prices (zero range, zero std, no gains or losses) and zero volume give TA-Lib's values."""
    n = 80
    close = np.full(n, 100.0)
    close[40:] += np.arange(40) * 0.5  # flat, then rising
    volume = np.zeros(n)
    volume[60:] = 3.0
    arrays = {"open": close, "high": close, "low": close, "close": close, "volume": volume}
    for name, make_args in CALLS.items():
        args = make_args(arrays)
        ours = getattr(nb, name)(*args)
        _assert_same(ours, getattr(talib_backend, name)(*args), rtol=1e-9)
        assert all(np.isfinite(o[60:]).all() for o in _outputs(ours))
    assert nb.rsi(close, 14)[30] == 0.0 and nb.willr(close, close, close, 14)[30] == 0.0


@pytest.mark.parametrize("width", [1, 2, 3, 7, 14, 16, 20, 50, 64, 99])
def test_doubling_windows_equal_direct_windows(width):
    x = np.random.default_rng(width).normal(size=500)
    view = sliding_window_view(x, width)
    np.testing.assert_allclose(nb._windows(x, width, np.add), view.sum(axis=1), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(nb._windows(x, width, np.maximum), view.max(axis=1))
    np.testing.assert_array_equal(nb._windows(x, width, np.minimum), view.min(axis=1))


def _ema_loop(x, period, alpha, seed_at):
    out = np.full(len(x), np.nan)
    out[seed_at] = np.mean(x[seed_at - period + 1:seed_at + 1])
    for t in range(seed_at + 1, len(x)):
        out[t] = out[t - 1] + alpha * (x[t] - out[t - 1])
    return out


def test_smoothers_follow_talibs_seeding_definitions(btc_candles):
    """Independent plain loops: SMA-seeded EMA, Wilder RSI/ATR, MACD's late fast seed, slow stochastic."""
    a = {k: v[:400] for k, v in _columns(btc_candles).items()}
    c, h, lo = a["close"], a["high"], a["low"]
    np.testing.assert_allclose(nb.ema(c, 20), _ema_loop(c, 20, 2 / 21, 19), rtol=1e-12)

    move = np.diff(c)
    gain = _ema_loop(np.maximum(move, 0), 14, 1 / 14, 13)
    loss = _ema_loop(np.maximum(-move, 0), 14, 1 / 14, 13)
    np.testing.assert_allclose(nb.rsi(c, 14)[1:], 100 * gain / (gain + loss), rtol=1e-12)

    true_range = np.maximum.reduce([h[1:] - lo[1:], np.abs(h[1:] - c[:-1]), np.abs(lo[1:] - c[:-1])])
    np.testing.assert_allclose(nb.atr(h, lo, c, 14)[1:], _ema_loop(true_range, 14, 1 / 14, 13), rtol=1e-12)

    line = _ema_loop(c, 12, 2 / 13, 25) - _ema_loop(c, 26, 2 / 27, 25)  # both EMAs start at bar 25
    signal = np.full(400, np.nan)
    signal[25:] = _ema_loop(line[25:], 9, 0.2, 8)
    line[:33] = np.nan
    macd, sig, hist = nb.macd(c, 12, 26, 9)
    for ours, ref in ((macd, line), (sig, signal), (hist, line - signal)):  # prices ~4000: 1e-9 is rounding
        np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)

    highest = sliding_window_view(h, 14).max(axis=1)
    lowest = sliding_window_view(lo, 14).min(axis=1)
    fast = 100 * (c[13:] - lowest) / (highest - lowest)
    slow_k = sliding_window_view(fast, 3).mean(axis=1)
    k, d = nb.stoch(h, lo, c, 14, 3, 3)
    np.testing.assert_allclose(k[17:], slow_k[2:], rtol=1e-12)
    np.testing.assert_allclose(d[17:], sliding_window_view(slow_k, 3).mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(nb.willr(h, lo, c, 14)[13:], -100 * (highest - c[13:]) / (highest - lowest),
                               rtol=1e-12)
    np.testing.assert_allclose(nb.stddev(c, 20)[19:], sliding_window_view(c, 20).std(axis=1), rtol=1e-8)


def test_backend_choice(monkeypatch):
    assert load_backend("numpy") is nb
    with pytest.raises(ValidationError) as err:
        load_backend("fortran")
    assert err.value.field == "backend"
    # without TA-Lib, "auto" falls back to numpy and "talib" is refused
    monkeypatch.setitem(sys.modules, "talib", None)
    monkeypatch.delitem(sys.modules, "engine.indicators.talib_backend", raising=False)
    assert load_backend("auto") is nb
    with pytest.raises(ValidationError) as err:
        load_backend("talib")
    assert err.value.field == "backend" and "TA-Lib" in err.value.message


def test_auto_prefers_talib(talib_backend):
    assert load_backend("auto") is talib_backend


def test_chunk_boundaries_on_a_long_series(talib_backend):
    """Longer than the chunks of the windows and of the smoothers: still TA-Lib's values."""
    n = 4 * 4 * nb._CHUNK + 123
    rng = np.random.default_rng(7)
    close = 1000 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    arrays = {"close": close, "high": close * 1.01, "low": close * 0.99, "open": close,
              "volume": rng.exponential(10, n)}
    for name, make_args in CALLS.items():
        args = make_args(arrays)
        _assert_same(getattr(nb, name)(*args), getattr(talib_backend, name)(*args))
