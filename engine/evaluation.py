"""Walk-forward evaluation: replay candle history through the models exactly as they run live.

Every ``online_every`` bars the online learners score-then-learn the bars whose labels became
known (in chunks, re-warming a model whose drift detector fires, as the live manager does) and
each is judged on its recent health window (a model worse than the majority-class baseline there
gets weight 0 until it recovers, as live); every ``retrain_every`` bars a batch challenger is
fitted on its sliding window (``batch_window_days``) of known labels, minus a purged hold-out, and
replaces the serving model only under the live promotion rule (engine.batch.validation.judge:
never when it loses to the majority-class baseline). Between those updates the models do not
change, so the bars up to the next update are predicted in one call per model. At bar t only
labels of bars <= t - lag are known (engine.labels); features are causal, so they are computed
once for the whole span. The in-memory learners are used, never the persisted live models. The
batch track does not depend on the online one, so it runs meanwhile in a worker process for long
spans (a thread would share the GIL with the Python-heavy online track: measured 2.0x the longer
track instead of ~1.1x); the ensemble is combined afterwards, bar by bar, by
:func:`engine.hybrid.combine`. Then the trading half (engine.trade_evaluation) turns the hybrid's
calls into signals, gates and strategies.
"""
from __future__ import annotations

import time
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.atomic import atomic_write_bytes, atomic_write_json
from engine.batch import fit_batch_model
from engine.batch.trainer import MIN_HOLDOUT_ROWS, MIN_TRAIN_ROWS
from engine.batch.validation import holdout_split, judge, score
from engine.errors import ValidationError
from engine.features import WARMUP_BARS, compute_features
from engine.hybrid import ONLINE_MODELS, combine
from engine.labels import make as make_labels
from engine.metrics import BASELINES, baseline_probabilities, summarize, to_prediction
from engine.online import OnlineLearners
from engine.trade_evaluation import gated_signals, live_strategy, strategy_moments, summarize_strategies, \
    trading_report
from engine.trading.comparison import combine as combine_moments
from engine.trading.simulator import TradeRules

MODELS = (*ONLINE_MODELS, "batch")
VOTERS = (*MODELS, "majority_class")  # the hybrid's weight columns: the models, or the baseline when all lose
DAY_MS = 86_400_000
UPDATE_CHUNK = 50  # rows per test-then-train step (the live manager's default batch_size)
INLINE_BARS = 2000  # shorter spans run the batch track in this process (a worker costs ~1.5 s to start)
ROLLING_BARS = 500  # window of the rolling-accuracy plot (a quarter of the span when that is shorter,
MIN_ROLLING_BARS = 24  # but at least this)


@dataclass
class WalkForwardResult:
    """``report``: scores per model, hybrid and baseline (and ``trading``); ``predictions``: one row per
    evaluated bar (open_time, close, p_<model>, p_ensemble, w_<voter>, prediction, label, p_<baseline>);
    ``signals``: one row per signal from the outcome model's warm-up on (see
    engine.trade_evaluation.gated_signals; empty without trading); ``moments``: per strategy, the
    additive summaries the report's statistics come from (for pooling symbols)."""

    report: dict
    predictions: pd.DataFrame
    signals: pd.DataFrame = field(default_factory=pd.DataFrame)
    moments: dict = field(default_factory=dict)


def _check_every(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(name, "must be a whole number of bars >= 1")


def _learn(learners: OnlineLearners, X: np.ndarray, y: np.ndarray, rows: np.ndarray, learned: np.ndarray,
           buffer_size: int) -> None:
    """Score-then-learn ``rows`` in chunks of UPDATE_CHUNK, as the live manager does, re-warming a model
    whose drift detector fires from the newest ``regime_length`` learned rows (at most ``buffer_size``)."""
    for start in range(0, rows.size, UPDATE_CHUNK):
        chunk = rows[start:start + UPDATE_CHUNK]
        result = learners.score_then_learn(X[chunk], y[chunk].astype(int))
        for name, r in result["models"].items():
            if r["drift"]:
                recent = np.concatenate([learned, rows[:start + len(chunk)]])[-min(buffer_size,
                                                                                   learners.regime_length(name)):]
                learners.rewarm(X[recent], y[recent].astype(int), names=[name])


def _online_track(X: np.ndarray, y: np.ndarray, valid: np.ndarray, bars: range, horizon: int,
                  buffer_size: int, health_window: int) -> tuple[dict, dict]:
    """(P(up) per bar from each online model, whether each was excluded for that bar): at each bar u of
    ``bars`` the learners score-then-learn the bars whose labels became known since the last update and
    are judged on their recent health, then predict the bars up to the next update."""
    labelled = valid & np.isfinite(y)
    probs = {name: np.full(len(X), np.nan) for name in ONLINE_MODELS}
    excluded = {name: np.zeros(len(X), dtype=bool) for name in ONLINE_MODELS}
    learners, learned_upto = OnlineLearners(), 0  # bars below learned_upto were offered to the learners
    for u in bars:
        known = max(0, u - horizon + 1)  # bars [0, known) have known labels at bar u
        rows = np.flatnonzero(labelled[learned_upto:known]) + learned_upto
        if rows.size:
            _learn(learners, X, y, rows, np.flatnonzero(labelled[:learned_upto]), buffer_size)
        learned_upto = max(learned_upto, known)
        rows = np.flatnonzero(valid[u:u + bars.step]) + u
        if rows.size:
            for name, p in learners.predict_proba(X[rows]).items():
                if p is not None:
                    probs[name][rows] = p
                    excluded[name][rows] = learners.health(name, health_window)[1] is not None
    return probs, excluded


def _batch_track(X: np.ndarray, y: np.ndarray, valid: np.ndarray, open_time: np.ndarray, bars: range,
                 horizon: int, window_ms: int) -> np.ndarray:
    """P(up) per bar from the serving batch model: at each bar u of ``bars`` a challenger is fitted on the
    known labels of its window (bars opened within ``window_ms`` of the newest known one) minus the purged
    hold-out, judged on that hold-out as live, and serves up to the next refit if promoted."""
    labelled = valid & np.isfinite(y)
    probs, model = np.full(len(X), np.nan), None
    for u in bars:
        known = max(0, u - horizon + 1)
        if known:
            rows = np.flatnonzero(labelled[:known] & (open_time[:known] > open_time[known - 1] - window_ms))
            train, test = (rows[i] for i in holdout_split(rows, rows + horizon))
            if len(train) >= MIN_TRAIN_ROWS and len(test) >= MIN_HOLDOUT_ROWS and 0 < y[train].sum() < len(train):
                challenger = fit_batch_model(X[train], y[train].astype(int))
                base_rate = float(y[train].mean())
                metrics = score(y[test], challenger.predict_proba(X[test])[:, 1], base_rate)
                theirs = None if model is None else score(y[test], model.predict_proba(X[test])[:, 1], base_rate)
                if judge(metrics, theirs)[0]:
                    model = challenger
        rows = np.flatnonzero(valid[u:u + bars.step]) + u
        if model is not None and rows.size:
            probs[rows] = model.predict_proba(X[rows])[:, 1]
    return probs


def _combine_rows(probs: dict[str, np.ndarray], excluded: dict[str, np.ndarray], fallback: np.ndarray,
                  weights: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The ensemble P(up) per bar and each voter's share per bar: :func:`combine` applied to each group of
    bars with the same models answering and excluded."""
    answered = np.column_stack([np.isfinite(probs[name]) for name in MODELS])
    out_of = np.column_stack([excluded.get(name, np.zeros(len(answered), bool)) for name in MODELS])
    patterns, group = np.unique(np.hstack([answered, out_of & answered]), axis=0, return_inverse=True)
    out = np.full(len(answered), np.nan)
    shares = {name: np.zeros(len(answered)) for name in VOTERS}
    for k, pattern in enumerate(patterns):
        rows = group.ravel() == k
        parts = {name: probs[name][rows] if pattern[j] else None for j, name in enumerate(MODELS)}
        voided = {name: "excluded" for j, name in enumerate(MODELS) if pattern[len(MODELS) + j]}
        result = combine({n: parts[n] for n in ONLINE_MODELS}, parts["batch"], weights, voided, fallback[rows])
        if result["probability"] is not None:
            out[rows] = result["probability"]
            for name, share in result["weights"].items():
                shares[name][rows] = share
    return out, shares


def walk_forward(candles: pd.DataFrame, config: dict, online_every: int = 6, retrain_every: int = 24,
                 start_ms: int | None = None, end_ms: int | None = None, label: str = "direction",
                 trading: bool = True, random_seeds: int | None = None, interval: str | None = None,
                 stream: int = 0) -> WalkForwardResult:
    """Replay ``candles`` (CANDLE_COLUMNS, ascending) and score the bars in [start_ms, end_ms].

    Bars before the first predicted bar only warm the models up: at that bar the online learners
    learn all their known labels at once (as the live system does after a backfill) and the batch
    model is fitted on its window; the update schedule counts from there. The first predicted bar is
    the first evaluated one, or with ``trading`` ``outcome_warmup_days`` earlier, so that the outcome
    model learns from those signals' trades before the evaluated span. ``label`` is one of
    engine.labels.LABEL_KINDS; ``interval`` (default: config ``interval``) is the candles' (for the
    annualised Sharpe ratio); ``random_seeds`` overrides the random-entry seed count and ``stream`` seeds
    the bootstrap and random draws (give each symbol its own when pooling them). ``config`` supplies label_horizon, batch_window_days, the ensemble
    weights, online_health_window and the trading settings. Scores use the evaluated bars with a
    known label: each model over the bars it had an answer for, the hybrid and the baselines over
    the bars the hybrid had an answer for.
    """
    _check_every("online_every", online_every)
    _check_every("retrain_every", retrain_every)
    began = time.perf_counter()
    weights = {"batch": config["ensemble_weight_batch"], "online": config["ensemble_weight_online"]}
    candles = candles.reset_index(drop=True)
    open_time = candles["open_time"].to_numpy(dtype=np.int64)
    X = compute_features(candles).to_numpy(dtype=np.float64)
    labels = make_labels(candles, label, config["label_horizon"], TradeRules.from_config(config))
    y, horizon = labels.y, labels.lag
    valid = np.isfinite(X).all(axis=1)
    span = valid.copy()
    if start_ms is not None:
        span &= open_time >= start_ms
    if end_ms is not None:
        span &= open_time <= end_ms
    if not span.any():
        raise ValidationError("candles", f"no candle with a full feature row (after {WARMUP_BARS} bars of warm-up) "
                                         f"in the evaluated span ({len(candles)} candles given)")
    first, stop = int(np.argmax(span)), int(len(span) - np.argmax(span[::-1]))
    warm_ms = config["outcome_warmup_days"] * DAY_MS if trading else 0
    predicted = valid & (open_time >= open_time[first] - warm_ms)
    begin = int(np.argmax(predicted))
    batch_args = (X, y, valid, open_time, range(begin, stop, retrain_every), horizon,
                  config["batch_window_days"] * DAY_MS)
    online_args = (X, y, valid, range(begin, stop, online_every), horizon, config["buffer_size"],
                   config["online_health_window"])
    if stop - begin < INLINE_BARS:
        probs, excluded = _online_track(*online_args)
        probs["batch"] = _batch_track(*batch_args)
    else:  # spawn, not fork: a forked child can hang in OpenMP state the parent's earlier fits left behind
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            batch = pool.submit(_batch_track, *batch_args)
            probs, excluded = _online_track(*online_args)
            probs["batch"] = batch.result()
    baselines = baseline_probabilities(y, horizon)
    probs["ensemble"], shares = _combine_rows(probs, excluded, baselines["majority_class"], weights)

    hybrid_bars = span & np.isfinite(probs["ensemble"])
    report = {
        "label": label, "horizon": horizon, "online_every": online_every, "retrain_every": retrain_every,
        "batch_window_days": config["batch_window_days"], "weights": weights,
        "bars_replayed": len(candles), "bars_evaluated": int(span.sum()),
        "first_open_time": int(open_time[span][0]), "last_open_time": int(open_time[span][-1]),
        "models": {name: summarize(y[span], probs[name][span]) for name in MODELS},
        "hybrid": summarize(y[span], probs["ensemble"][span]),
        "baselines": {name: summarize(y[hybrid_bars], baselines[name][hybrid_bars]) for name in BASELINES},
        "voting_share": {name: float(np.mean(shares[name][hybrid_bars] > 0)) if hybrid_bars.any() else None
                         for name in VOTERS},
    }
    ensemble = probs["ensemble"][span]
    predictions = pd.DataFrame({
        "open_time": open_time[span], "close": candles["close"].to_numpy()[span],
        **{f"p_{name}": probs[name][span] for name in (*MODELS, "ensemble")},
        **{f"w_{name}": shares[name][span] for name in VOTERS},
        "prediction": pd.array(to_prediction(ensemble), dtype="Int8"),
        "label": y[span],
        **{f"p_{name}": baselines[name][span] for name in BASELINES},
    })
    predictions.loc[~np.isfinite(ensemble), "prediction"] = pd.NA
    result = WalkForwardResult(report, predictions)
    if trading:
        signals = gated_signals(candles.iloc[:stop], probs["ensemble"][:stop], X, labels, config, begin)
        seeds = {} if random_seeds is None else {"seeds": random_seeds}
        result.signals = signals
        result.moments = strategy_moments(candles.iloc[:stop], signals, config, first, stream=stream, **seeds)
        report["trading"] = trading_report(signals, first, config) | {
            "live": live_strategy(config),
            "strategies": summarize_strategies(result.moments, interval or config["interval"])}
    seconds = time.perf_counter() - began
    report.update(seconds=round(seconds, 3), bars_per_second=round(span.sum() / seconds, 1))
    return result


def pool(results: dict[str, WalkForwardResult], interval: str) -> dict:
    """The symbols' walk-forwards taken together, per symbol (their eras need not overlap, so nothing is
    put on one time axis): classification scores over all their evaluated bars, and the trading
    statistics from the symbols' summed moments (engine.trading.comparison.combine)."""
    frames = list(results.values())
    rows = pd.concat([r.predictions for r in frames], ignore_index=True)
    label, ensemble = rows["label"].to_numpy(), rows["p_ensemble"].to_numpy()
    hybrid_bars = np.isfinite(ensemble)
    out = {"symbols": list(results), "bars_evaluated": int(sum(r.report["bars_evaluated"] for r in frames)),
           "models": {name: summarize(label, rows[f"p_{name}"]) for name in MODELS},
           "hybrid": summarize(label, ensemble),
           "baselines": {name: summarize(label[hybrid_bars], rows[f"p_{name}"].to_numpy()[hybrid_bars])
                         for name in BASELINES}}
    if all(r.moments for r in frames):
        moment_sets = {name: {part: combine_moments([r.moments[name][part] for r in frames])
                              for part in frames[0].moments[name]} for name in frames[0].moments}
        out["trading"] = {"live": frames[0].report["trading"]["live"],
                          "strategies": summarize_strategies(moment_sets, interval)}
    return out


def rolling_accuracy(predictions: pd.DataFrame, window: int = ROLLING_BARS) -> pd.DataFrame:
    """Rolling share of correct calls per model, hybrid ("ensemble") and baseline, indexed by open_time."""
    label = predictions["label"].to_numpy(dtype=np.float64)
    out = {}
    for column in predictions.columns:
        if column.startswith("p_"):
            p = predictions[column].to_numpy(dtype=np.float64)
            correct = np.where(np.isfinite(p) & np.isfinite(label), to_prediction(p) == label, np.nan)
            out[column[2:]] = pd.Series(correct).rolling(window, min_periods=max(1, window // 2)).mean().to_numpy()
    return pd.DataFrame(out, index=pd.Index(predictions["open_time"].to_numpy(), name="open_time"))


def write_report(report: dict, results: dict[tuple[str, str], WalkForwardResult], out_dir: str | Path,
                 stem: str) -> dict[str, Path]:
    """Write ``<stem>.json`` (``report``), ``<stem>.csv`` (every result's per-bar predictions, with its
    ``symbol`` and ``label`` columns) and ``<stem>.html`` (rolling accuracy per (symbol, label) result,
    plotly with its JavaScript inlined: opens offline)."""
    import plotly.graph_objects as go  # only the report writer needs plotly

    out_dir = Path(out_dir)
    paths = {kind: out_dir / f"{stem}.{kind}" for kind in ("json", "csv", "html")}
    atomic_write_json(paths["json"], report)
    table = pd.concat([r.predictions.assign(symbol=symbol, label=label) for (symbol, label), r in results.items()],
                      ignore_index=True)
    atomic_write_bytes(paths["csv"], table.to_csv(index=False).encode())
    pages = []
    for (symbol, label), result in results.items():
        window = min(ROLLING_BARS, max(MIN_ROLLING_BARS, len(result.predictions) // 4))  # short spans get a line too
        rolling = rolling_accuracy(result.predictions, window)
        when = pd.to_datetime(rolling.index, unit="ms", utc=True)
        fig = go.Figure([go.Scatter(x=when, y=rolling[name], mode="lines",
                                    name="hybrid" if name == "ensemble" else name,
                                    line={"width": 3 if name == "ensemble" else 1.2,
                                          "dash": "dot" if name in BASELINES else "solid"})
                         for name in rolling.columns])
        fig.add_hline(y=0.5, line={"color": "#adb5bd", "width": 1, "dash": "dot"})
        fig.update_layout(title=f"Walk-forward rolling accuracy ({window} bars): {symbol}, {label} label",
                          yaxis_title="accuracy", xaxis_title="candle open time (UTC)", template="plotly_white")
        pages.append(fig.to_html(include_plotlyjs=not pages, full_html=False))
    html = f"<html><head><meta charset='utf-8'><title>{stem}</title></head><body>{''.join(pages)}</body></html>"
    atomic_write_bytes(paths["html"], html.encode())
    return paths
