"""Honest comparison of trading strategies over the same bars: per-bar PnL, block-bootstrap
intervals, random entry with the same trade count, always-flat and buy-and-hold.

Every strategy becomes a per-bar series (:func:`bar_series`): each closed trade's PnL is spread
over the bars it was held, marked to market at each close (entry fee and slippage on its entry
bar, exit fee and slippage on its exit bar), so the series sums to the trades' PnL after fees,
and the drawdown and the Sharpe ratio see the open risk, not just realised PnL. Trades still open
when the data ends are left out (as in the trading statistics). Buy-and-hold buys one stake at
the first open and is marked to each close as if sold there.

Statistics (:func:`statistics`): PnL after fees, trades, win rate, maximum drawdown (of equity
marked to market, capital = one stake per symbol), and the Sharpe ratio of the per-bar returns
(PnL / capital), annualised with sqrt(bars per year) -- for 1h bars, the Sharpe of hourly returns.
They are computed from additive moments (:func:`moments`), so symbols from unrelated eras are
pooled per symbol (sums, the worst drawdown, pooled returns), never on one time axis.

Intervals: the **circular block bootstrap** (Politis & Romano) of the per-bar series, which keeps
the serial dependence of returns inside blocks that an i.i.d. bootstrap of bars or trades would
break: BOOTSTRAP_SAMPLES resamples of blocks of 2 x max_holding_bars bars (a held trade fits
inside a block), 95 % percentile intervals; all strategies are resampled with the same blocks.

Random entry: the same rules and trade count as a strategy, on random bars with random sides
(RANDOM_SEEDS seeds): the signal bars are a random subset, just large enough for the trade rule
(at most ``max_open_trades_per_symbol`` open) to take that many trades, surplus trades dropped
at random. A strategy "beats random entry" when its PnL is above the 95th percentile of the
seeds', "loses to" it below the 5th.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from engine.trading.backtest import select, signal_trades
from engine.trading.simulator import TradeRules, entry_fill, settle

BOOTSTRAP_SAMPLES = 1000
RANDOM_SEEDS = 50
STATS = ("pnl_usdt", "trades", "win_rate", "max_drawdown_usdt", "sharpe")
YEAR_MS = 365 * 86_400_000


def bar_series(candles: pd.DataFrame, trades: dict[str, np.ndarray], rules: TradeRules, first: int,
               scale: np.ndarray | None = None) -> np.ndarray:
    """(3, bars from ``first`` on) array: per bar the PnL marked to market, the trades closed on it and
    the winning trades among those. ``trades`` as :func:`signal_trades` gives them (open ones are left
    out); ``scale`` multiplies each trade's stake."""
    n = len(candles) - first
    closed = np.flatnonzero(trades["exit_bar"] >= 0)
    out = np.zeros((3, n))
    if not len(closed):
        return out
    close = candles["close"].to_numpy(float)
    entry_bar, exit_bar = trades["entry_bar"][closed], trades["exit_bar"][closed]
    scale = np.ones(len(closed)) if scale is None else np.asarray(scale, dtype=float)[closed]
    side = trades["side"][closed]
    lengths = exit_bar - entry_bar + 1
    of = np.repeat(np.arange(len(closed)), lengths)
    bar = entry_bar[of] + np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    before = np.where(bar == entry_bar[of], trades["entry_price"][closed][of], close[bar - 1])
    after = np.where(bar == exit_bar[of], trades["exit_price"][closed][of], close[bar])
    quantity = trades["quantity"][closed] * scale
    entry_fee = rules.stake * scale * rules.fee_pct / 100.0
    exit_fee = trades["fees"][closed] * scale - entry_fee
    pnl = trades["pnl"][closed] * scale
    out[0] = (np.bincount(bar - first, side[of] * quantity[of] * (after - before), n)
              - np.bincount(entry_bar - first, entry_fee, n) - np.bincount(exit_bar - first, exit_fee, n))
    out[1] = np.bincount(exit_bar - first, minlength=n)
    out[2] = np.bincount(exit_bar - first, (pnl > 0).astype(float), n)
    return out


def buy_and_hold_series(candles: pd.DataFrame, rules: TradeRules, first: int) -> np.ndarray:
    """The :func:`bar_series` of one stake bought at bar ``first``'s open, sold at the last close."""
    close = candles["close"].to_numpy(float)[first:]
    out = np.zeros((3, len(close)))
    if len(close):
        value = settle(1, entry_fill(1, float(candles["open"].iat[first]), rules), close, rules)["pnl"]
        out[0] = np.diff(value, prepend=0.0)
        out[1, -1], out[2, -1] = 1, value[-1] > 0
    return out


def moments(series: np.ndarray, capital: float) -> dict[str, np.ndarray]:
    """Additive summaries of (samples, 3, bars) series (or one (3, bars)): PnL, trades, wins, the
    worst drawdown, and the sums needed for a pooled Sharpe ratio; one value per sample."""
    series = np.asarray(series, dtype=float).reshape(-1, *np.shape(series)[-2:])
    pnl = series[:, 0]
    equity = np.cumsum(pnl, axis=1)
    peak = np.maximum.accumulate(np.maximum(equity, 0.0), axis=1)
    returns = pnl / capital
    return {"pnl": pnl.sum(axis=1), "trades": series[:, 1].sum(axis=1), "wins": series[:, 2].sum(axis=1),
            "drawdown": (peak - equity).max(axis=1, initial=0.0), "sum_r": returns.sum(axis=1),
            "sum_r2": (returns ** 2).sum(axis=1), "bars": np.full(len(pnl), pnl.shape[1], dtype=float)}


def combine(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Moments of several symbols taken together: sums, and the worst of their drawdowns."""
    return {key: (np.max if key == "drawdown" else np.sum)([p[key] for p in parts], axis=0) for key in parts[0]}


def statistics(m: dict[str, np.ndarray], bars_per_year: float) -> dict[str, np.ndarray]:
    """STATS per sample from :func:`moments` (NaN: no trade for the win rate, no variance for Sharpe)."""
    n = m["bars"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = m["sum_r"] / n
        variance = (m["sum_r2"] - n * mean ** 2) / (n - 1)
        sharpe = np.where(variance > 1e-24, mean / np.sqrt(np.maximum(variance, 1e-300)), np.nan) * math.sqrt(
            bars_per_year)
        win_rate = np.where(m["trades"] > 0, m["wins"] / np.maximum(m["trades"], 1), np.nan)
    return {"pnl_usdt": m["pnl"], "trades": m["trades"], "win_rate": win_rate, "max_drawdown_usdt": m["drawdown"],
            "sharpe": sharpe}


def _zero_moments(samples: int, bars: int) -> dict[str, np.ndarray]:
    """The :func:`moments` of ``samples`` series without any PnL, trade or win."""
    return {key: np.full(samples, float(bars) if key == "bars" else 0.0)
            for key in ("pnl", "trades", "wins", "drawdown", "sum_r", "sum_r2", "bars")}


def block_starts(n: int, block: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """(samples, blocks) random first bars of the circular blocks of ``block`` bars covering n bars."""
    return rng.integers(0, n, size=(samples, -(-n // max(1, min(block, n)))))


def block_indices(starts: np.ndarray, n: int, block: int) -> np.ndarray:
    """(samples, n) bar indices of the circular block-bootstrap resamples that begin their blocks at ``starts``."""
    block = max(1, min(block, n))
    return ((starts[:, :, None] + np.arange(block)) % n).reshape(len(starts), -1)[:, :n]


def _window_stats(series: np.ndarray, capital: float, length: int) -> dict[str, np.ndarray]:
    """Per first bar s, over the circular window of ``length`` bars from s: the sums :func:`moments` adds up,
    and the path of its cumulative PnL c_1..c_length: ``high`` max c, ``low`` min c, ``fall`` its largest
    drop below an earlier point of the window (max over i <= j of c_i - c_j)."""
    wrap = lambda row: np.lib.stride_tricks.sliding_window_view(np.concatenate([row, row[:length - 1]]), length)
    path = np.cumsum(wrap(series[0]), axis=1)
    returns = series[0] / capital
    return {"pnl": path[:, -1], "trades": wrap(series[1]).sum(axis=1), "wins": wrap(series[2]).sum(axis=1),
            "sum_r": path[:, -1] / capital, "sum_r2": wrap(returns ** 2).sum(axis=1),
            "high": path.max(axis=1), "low": path.min(axis=1),
            "fall": (np.maximum.accumulate(path, axis=1) - path).max(axis=1)}


def bootstrap_moments(series: list[np.ndarray], capital: float, block: int, seed: int = 0,
                      samples: int = BOOTSTRAP_SAMPLES) -> list[dict[str, np.ndarray]]:
    """:func:`moments` of ``samples`` circular block-bootstrap resamples of each (3, bars) series, all
    resampled with the same blocks (strategies are compared on the same draws; an all-zero series stays
    zero). Computed from per-block summaries, not the resampled paths: the sums add up over blocks, and the
    drawdown follows the running peak P and equity E from block to block (inside a block starting from E,
    the drawdown is max(P - E - low, fall); then P = max(P, E + high) and E grows by the block's PnL) --
    the same numbers as :func:`moments` of :func:`block_indices`' resamples, at a fraction of the work."""
    bars = series[0].shape[1]
    block = max(1, min(block, bars))
    starts = block_starts(bars, block, samples, np.random.default_rng(seed))
    last = bars - block * (starts.shape[1] - 1)  # the final block is cut at n bars
    out = []
    for s in series:
        if not np.any(s):
            out.append(_zero_moments(samples, bars))
            continue
        full, cut = _window_stats(s, capital, block), _window_stats(s, capital, last)
        parts = [full] * (starts.shape[1] - 1) + [cut]
        sums = {key: sum(part[key][starts[:, k]] for k, part in enumerate(parts))
                for key in ("pnl", "trades", "wins", "sum_r", "sum_r2")}
        peak, equity, drawdown = np.zeros(samples), np.zeros(samples), np.zeros(samples)
        for k, part in enumerate(parts):
            first = starts[:, k]
            drawdown = np.maximum(drawdown, np.maximum(peak - equity - part["low"][first], part["fall"][first]))
            peak = np.maximum(peak, equity + part["high"][first])
            equity = equity + part["pnl"][first]
        out.append(sums | {"drawdown": drawdown, "bars": np.full(samples, float(bars))})
    return out


def random_entry_moments(candles: pd.DataFrame, rules: TradeRules, first: int, counts: list[int], max_open: int,
                         capital: float, seeds: int = RANDOM_SEEDS, stream: int = 0) -> list[dict[str, np.ndarray]]:
    """For each trade count, :func:`moments` of ``seeds`` random-entry strategies taking that many trades on
    signal bars >= ``first`` (see the module docstring); ``stream`` keeps symbols' draws independent."""
    bars = np.arange(first, len(candles) - 1)
    both = {side: signal_trades(candles, bars, np.full(len(bars), side), rules) for side in (1, -1)}
    parts: list[list[dict]] = [[] for _ in counts]
    for seed in range(seeds):
        rng = np.random.default_rng([stream, seed])
        side = rng.choice((1, -1), size=len(bars))
        exit_bar = np.where(side > 0, both[1]["exit_bar"], both[-1]["exit_bar"])
        order = rng.permutation(np.flatnonzero(exit_bar >= 0))  # trades that close within the data, as counted

        def taken(k: int) -> np.ndarray:
            chosen = np.sort(order[:k])
            return chosen[select(bars[chosen], exit_bar[chosen], max_open)]

        for out, count in zip(parts, counts):
            if count == 0:
                out.append(_zero_moments(1, len(candles) - first - 1))
                continue
            low, high = min(count, len(order)), len(order)
            while low < high:  # the fewest random signal bars that yield `count` trades
                middle = (low + high) // 2
                low, high = (middle + 1, high) if len(taken(middle)) < count else (low, middle)
            picked = taken(low)
            picked = np.sort(rng.choice(picked, size=min(count, len(picked)), replace=False))
            trades = {key: np.where(side[picked] > 0, both[1][key][picked], both[-1][key][picked]) for key in both[1]}
            out.append(moments(bar_series(candles, trades, rules, first + 1), capital))
    return [{key: np.concatenate([p[key] for p in out]) for key in out[0]} for out in parts]


def bars_per_year(interval_ms: int) -> float:
    return YEAR_MS / interval_ms


def summarize(point: dict, boot: dict, per_year: float, random: dict | None = None) -> dict:
    """A strategy's STATS, each with its 95 % bootstrap interval (``<stat>_ci``), and for a learned
    strategy the random-entry comparison (``random``: mean, sd, 5th and 95th percentiles over seeds, and
    ``share_beaten``: the share of seeds whose PnL it beat)."""
    values, draws = statistics(point, per_year), statistics(boot, per_year)
    out: dict = {}
    for stat in STATS:
        out[stat] = _number(values[stat][0])
        finite = draws[stat][np.isfinite(draws[stat])]
        out[f"{stat}_ci"] = [_number(np.percentile(finite, 2.5)), _number(np.percentile(finite, 97.5))] \
            if len(finite) else [None, None]
    if random is not None:
        seeds = statistics(random, per_year)
        out["random"] = {stat: {"mean": _number(np.nanmean(v)) if np.isfinite(v).any() else None,
                                "sd": _number(np.nanstd(v)) if np.isfinite(v).any() else None,
                                "p05": _number(np.nanpercentile(v, 5)) if np.isfinite(v).any() else None,
                                "p95": _number(np.nanpercentile(v, 95)) if np.isfinite(v).any() else None}
                         for stat, v in seeds.items()}
        out["random"]["seeds"] = len(seeds["pnl_usdt"])
        out["random"]["share_beaten"] = float(np.mean(seeds["pnl_usdt"] < values["pnl_usdt"][0]))
    return out


def _number(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
