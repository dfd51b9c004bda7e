"""The scenario market: 1h candles (every kline column) driven by a schedule of laws, with the
oracle's P(up) for every bar.

Per bar: volatility from a GARCH(1, 1) on the shocks times an hour-of-day profile (busier in the
US afternoon), a Student-t(5) shock, the law's edge (engine.scenarios.laws); highs and lows from
a 12-step Brownian bridge inside the bar; volume with an hour-of-day profile, clustering, a rise
with the size of the move and random spikes; trade counts and quote volume from it; the taker-buy
share leaning with the bar's own move (it tells what happened, not what comes next). The laws
change on a schedule of periods (:class:`Period`); the oracle knows the schedule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from engine.candles import CANDLE_COLUMNS, INTERVAL_MS
from engine.scenarios.laws import SHOCK_DOF, SHOCK_SCALE, Law, Tape

HOUR_MS = INTERVAL_MS["1h"]
DAY_BARS = 24
SUBSTEPS = 12  # Brownian-bridge steps inside a bar (5 minutes each)
VOLATILITY = 0.007  # long-run hourly volatility (BTC's is about 0.6-0.8 %)
GARCH = (0.06, 0.91)  # (alpha, beta): shocks cluster; persistence 0.97
SPIKE_RATE, SPIKE_SIZE = 0.03, 3.5  # volume spikes: share of bars, multiple


@dataclass(frozen=True)
class Period:
    """``days`` of market under ``law``."""

    law: Law
    days: float


@dataclass
class ScenarioMarket:
    """Generated candles with what the laws knew: per bar (aligned with ``candles``) the oracle's and
    the clairvoyant's P(close of the next bar > this close), the true edge of the next bar and the
    period index; ``switches``: the first bar of each period after the first; ``periods``: the
    descriptions in order."""

    candles: pd.DataFrame
    p_oracle: np.ndarray
    p_clairvoyant: np.ndarray
    edge: np.ndarray
    period: np.ndarray
    switches: np.ndarray
    periods: list[str]


def up_probability(edge: np.ndarray) -> np.ndarray:
    """P(a + e > 0) for the standardised Student-t(5) shock e.

    >>> float(up_probability(np.array([0.0]))[0])
    0.5
    """
    return student_t.cdf(np.asarray(edge, dtype=float) / SHOCK_SCALE, SHOCK_DOF)


def _hour_profile(hours: np.ndarray, depth: float) -> np.ndarray:
    return 1.0 + depth * np.cos(2.0 * np.pi * (hours - 15) / 24.0)


def simulate(periods: list[Period], seed: int, start_ms: int, bars: int | None = None) -> ScenarioMarket:
    """Run the ``periods`` one after another (cycled until ``bars`` bars, default: one pass) from
    ``start_ms`` (a whole hour, UTC) with random seed ``seed``."""
    rng = np.random.default_rng(seed)
    lengths = [max(1, int(round(p.days * DAY_BARS))) for p in periods]
    n = int(bars or sum(lengths))
    schedule = np.empty(n, dtype=np.int64)
    k, filled = 0, 0
    while filled < n:
        take = min(lengths[k % len(periods)], n - filled)
        schedule[filled:filled + take] = k
        filled, k = filled + take, k + 1
    open_time = start_ms // HOUR_MS * HOUR_MS + HOUR_MS * np.arange(n, dtype=np.int64)
    hours = (open_time // HOUR_MS) % 24
    season = _hour_profile(hours, 0.25)
    shocks = rng.standard_t(SHOCK_DOF, n) * SHOCK_SCALE
    spikes = rng.random(n) < SPIKE_RATE
    volume_noise = rng.normal(0.0, 0.2, n)

    x, cx, e, s = np.zeros(n), np.zeros(n + 1), np.zeros(n), np.zeros(n)
    rsi, macd_hist, volume_ratio, volume = np.full(n, 50.0), np.zeros(n), np.ones(n), np.zeros(n)
    tape = Tape(x, cx, e, s, rsi, macd_hist, volume_ratio)
    true_edge, oracle_edge, clairvoyant_edge = np.zeros(n), np.zeros(n), np.zeros(n)
    alpha, beta = GARCH
    omega = VOLATILITY ** 2 * (1.0 - alpha - beta)
    h = VOLATILITY ** 2
    gain = loss = 0.0
    ema12 = ema26 = signal = None
    log_v = 0.0
    window_volume = np.zeros(20)
    law, period = None, -1
    x_prev = math.log(100.0)
    for t in range(n):
        if schedule[t] != period:
            period = schedule[t]
            law = periods[period % len(periods)].law
            law.start(rng)
        if t:  # the law decides bar t's edge from the bars up to t - 1
            tape.t = t - 1
            edge = law.next(tape)
            true_edge[t - 1], oracle_edge[t - 1], clairvoyant_edge[t - 1] = edge.true, edge.oracle, edge.clairvoyant
            a = edge.true
        else:
            a = 0.0
        s[t] = math.sqrt(h) * season[t]
        e[t] = shocks[t]
        r = s[t] * (a + e[t])
        x[t] = x_prev + r
        cx[t + 1] = cx[t] + x[t]
        if t:
            law.observe(a + e[t])
        h = omega + alpha * (math.sqrt(h) * e[t]) ** 2 + beta * h
        # indicators of the close (Wilder RSI 14, MACD 12/26/9 histogram), volume and its ratio
        close = math.exp(x[t])
        change = r
        if t == 0:
            ema12 = ema26 = close
            signal = 0.0
        else:
            gain = (gain * 13 + max(change, 0.0)) / 14
            loss = (loss * 13 + max(-change, 0.0)) / 14
            rsi[t] = 100.0 if loss == 0 else 100.0 - 100.0 / (1.0 + gain / loss)
            ema12 += (close - ema12) * 2 / 13
            ema26 += (close - ema26) * 2 / 27
            signal += (ema12 - ema26 - signal) * 2 / 10
        macd_hist[t] = (ema12 - ema26 - signal) / close
        log_v = 0.8 * log_v + volume_noise[t]
        volume[t] = 1000.0 * _hour_profile(hours[t], 0.35) * math.exp(
            log_v + 0.35 * abs(e[t]) + (math.log(SPIKE_SIZE) if spikes[t] else 0.0))
        window_volume[t % 20] = volume[t]
        volume_ratio[t] = volume[t] / window_volume[:min(t + 1, 20)].mean()
        x_prev = x[t]

    candles = _candles(open_time, x, s, e, true_edge, volume, rng)
    p_oracle, p_clair = up_probability(oracle_edge), up_probability(clairvoyant_edge)
    p_oracle[-1] = p_clair[-1] = np.nan  # the bar after the last is not generated
    switches = np.flatnonzero(np.diff(schedule)) + 1
    described = [periods[int(k) % len(periods)].law.describe() for k in np.unique(schedule)]
    return ScenarioMarket(candles, p_oracle, p_clair, true_edge, schedule, switches, described)


def _candles(open_time: np.ndarray, x: np.ndarray, s: np.ndarray, e: np.ndarray, true_edge: np.ndarray,
             volume: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """The 11 stored kline columns: opens at the previous close, highs and lows from a Brownian bridge
    between open and close, volumes as in the module docstring."""
    n = len(x)
    close = np.exp(x)
    open_ = np.empty(n)
    open_[0], open_[1:] = 100.0, close[:-1]
    log_open = np.log(open_)
    steps = rng.normal(0.0, 1.0, (n, SUBSTEPS)) * (s / math.sqrt(SUBSTEPS))[:, None]
    walk = np.cumsum(steps, axis=1)
    fraction = np.arange(1, SUBSTEPS + 1) / SUBSTEPS
    bridge = walk - fraction * walk[:, -1:] + fraction * (x - log_open)[:, None]
    high = open_ * np.exp(np.maximum(bridge.max(axis=1), 0.0))
    low = open_ * np.exp(np.minimum(bridge.min(axis=1), 0.0))
    high, low = np.maximum(high, np.maximum(open_, close)), np.minimum(low, np.minimum(open_, close))
    typical = (high + low + close) / 3.0
    taker_share = np.clip(0.5 + 0.12 * np.tanh(e + np.r_[0.0, true_edge[:-1]]) + rng.normal(0.0, 0.04, n), 0.02, 0.98)
    trades = np.maximum(1, np.round(volume * 3.0 * np.exp(rng.normal(0.0, 0.1, n)))).astype(np.int64)
    frame = pd.DataFrame({
        "open_time": open_time, "open": open_, "high": high, "low": low, "close": close, "volume": volume,
        "close_time": open_time + HOUR_MS - 1, "quote_volume": volume * typical, "trades": trades,
        "taker_buy_base": volume * taker_share, "taker_buy_quote": volume * taker_share * typical,
    })
    return frame[list(CANDLE_COLUMNS)]


def kline_csv(candles: pd.DataFrame) -> str:
    """The candles in Binance's 12-column archive layout (no header, ms times, ``ignore`` = 0)."""
    out = candles[list(CANDLE_COLUMNS)].copy()
    out["ignore"] = 0
    return out.to_csv(header=False, index=False, float_format="%.8f")
