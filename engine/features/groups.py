"""Input groups beside the 23 indicators, from columns every kline already holds. Row t uses bars <= t.

- ``returns``: the last 1, 4, 12, 24 and 72 bars' log return and the distance of the close to its 24-
  and 72-bar mean, each divided by the recent volatility (root mean square of the last ``VOL_BARS``
  returns) and the horizon's square root: the same move means as much in a calm market as in a wild one;
- ``flow``: the taker-buy share of the bar's volume and over the last 24 bars, minus one half
  (order-flow imbalance: > 0 when buyers crossed the spread more);
- ``activity``: the trade count, the quote volume and the average trade size, each relative to its
  24-bar mean;
- ``calendar``: hour of day and day of week (UTC) as points on a circle;
- ``cross``: another symbol's (``cross_reference_symbol``) last 1- and 24-bar volatility-scaled returns
  at the same open time (NaN where it has no bar; nothing for the reference itself).

A ratio whose denominator is 0 is 1 (no activity means "as usual"); the taker share of a bar without
volume is one half. Values are NaN until a group's history is long enough (``WARMUP``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.indicators import divide_or

VOL_BARS = 48
RETURN_BARS = (1, 4, 12, 24, 72)
MEAN_BARS = (24, 72)
ACTIVITY_BARS = 24
GROUPS: dict[str, tuple[str, ...]] = {
    "returns": (*(f"zret_{h}" for h in RETURN_BARS), *(f"zdist_{n}" for n in MEAN_BARS)),
    "flow": ("taker_buy_share", "taker_buy_share_24"),
    "activity": ("trades_ratio", "quote_volume_ratio", "trade_size_ratio"),
    "calendar": ("hour_sin", "hour_cos", "weekday_sin", "weekday_cos"),
    "cross": ("ref_zret_1", "ref_zret_24"),
}
WARMUP = {"returns": max(RETURN_BARS + MEAN_BARS), "flow": ACTIVITY_BARS - 1, "activity": ACTIVITY_BARS - 1,
          "calendar": 0, "cross": VOL_BARS}
HOUR_MS, WEEK_HOURS = 3_600_000, 168
_Z = (-50.0, 50.0)  # a volatility-scaled move of 50 standard deviations is not a market's
PLAUSIBLE: dict[str, tuple[float, float]] = {
    **{name: _Z for name in GROUPS["returns"] + GROUPS["cross"]},
    "taker_buy_share": (-0.5, 0.5), "taker_buy_share_24": (-0.5, 0.5), "trades_ratio": (0.0, 24.0),
    "quote_volume_ratio": (0.0, 24.0), "trade_size_ratio": (0.0, 1000.0),
    **{name: (-1.0, 1.0) for name in GROUPS["calendar"]},
}


def _window_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Mean of x over the last n rows (NaN for the first n - 1)."""
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        c = np.concatenate([[0.0], np.cumsum(x)])
        out[n - 1:] = (c[n:] - c[:-n]) / n
    return out


def volatility(log_close: np.ndarray) -> np.ndarray:
    """Per bar, the root mean square of the last VOL_BARS log returns up to it (a fixed window: the value
    does not depend on how much earlier history was read); NaN before that many returns."""
    r = np.diff(log_close, prepend=np.nan)
    squares = np.full(len(r), np.nan)
    squares[VOL_BARS:] = _window_mean(r[1:] ** 2, VOL_BARS)[VOL_BARS - 1:]
    vol = np.sqrt(squares)
    return np.where(vol > 0, vol, np.nan)


def returns_group(candles: pd.DataFrame) -> dict[str, np.ndarray]:
    x = np.log(candles["close"].to_numpy(float))
    vol = volatility(x)
    out = {}
    for h in RETURN_BARS:
        move = np.full(len(x), np.nan)
        move[h:] = x[h:] - x[:-h]
        out[f"zret_{h}"] = move / (vol * np.sqrt(h))
    for n in MEAN_BARS:
        out[f"zdist_{n}"] = (x - _window_mean(x, n)) / (vol * np.sqrt(n / 3.0))
    return out


def flow_group(candles: pd.DataFrame) -> dict[str, np.ndarray]:
    volume, taker = candles["volume"].to_numpy(float), candles["taker_buy_base"].to_numpy(float)
    share = divide_or(taker, volume, 0.5, np.empty(len(volume))) - 0.5
    window = divide_or(_window_mean(taker, ACTIVITY_BARS), _window_mean(volume, ACTIVITY_BARS), 0.5,
                       np.empty(len(volume))) - 0.5
    return {"taker_buy_share": share, "taker_buy_share_24": window}


def _relative(x: np.ndarray) -> np.ndarray:
    return divide_or(x, _window_mean(x, ACTIVITY_BARS), 1.0, np.empty(len(x)))


def activity_group(candles: pd.DataFrame) -> dict[str, np.ndarray]:
    trades = candles["trades"].to_numpy(float)
    volume = candles["volume"].to_numpy(float)
    size = divide_or(volume, trades, 0.0, np.empty(len(volume)))
    return {"trades_ratio": _relative(trades), "quote_volume_ratio": _relative(candles["quote_volume"].to_numpy(float)),
            "trade_size_ratio": _relative(size)}


def calendar_group(candles: pd.DataFrame) -> dict[str, np.ndarray]:
    hours = candles["open_time"].to_numpy(np.int64) // HOUR_MS
    day, week = 2 * np.pi * (hours % 24) / 24.0, 2 * np.pi * ((hours + 96) % WEEK_HOURS) / WEEK_HOURS  # 1970-01-01 was a Thursday
    return {"hour_sin": np.sin(day), "hour_cos": np.cos(day), "weekday_sin": np.sin(week), "weekday_cos": np.cos(week)}


def cross_group(candles: pd.DataFrame, reference: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """The reference's returns at the bars' open times; NaN without a reference bar at that time."""
    times = candles["open_time"].to_numpy(np.int64)
    out = {name: np.full(len(times), np.nan) for name in GROUPS["cross"]}
    if reference is None or not len(reference):
        return out
    ref = returns_group(reference)
    ref_times = reference["open_time"].to_numpy(np.int64)
    at = np.searchsorted(ref_times, times)
    found = at < len(ref_times)
    found[found] = ref_times[at[found]] == times[found]
    for name, source in (("ref_zret_1", "zret_1"), ("ref_zret_24", "zret_24")):
        out[name][found] = ref[source][at[found]]
    return out


BUILDERS = {"returns": returns_group, "flow": flow_group, "activity": activity_group, "calendar": calendar_group}


def compute_group(name: str, candles: pd.DataFrame, reference: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """The columns of group ``name`` for ``candles`` (ascending, CANDLE_COLUMNS)."""
    if name == "cross":
        return cross_group(candles, reference)
    return BUILDERS[name](candles)
