"""Walk-forward evaluation: replay candle history through the models exactly as they run live.

Every ``online_every`` bars the online learners score-then-learn the bars whose labels became
known (in chunks, re-warming a model whose drift detector fires, as the live manager does); every
``retrain_every`` bars the batch model is refitted on each window of its ladder and the window
with the best live record serves, judged as live (engine.batch.ladder). Between those updates
the models do not change, so the bars up to the next update are predicted in one call per model.
At bar t only labels of bars <= t - lag are known (engine.labels); inputs are causal
(engine.features.inputs), so they are computed once for the whole span. The in-memory learners
are used, never the persisted live models. The batch track does not depend on the online one, so
it runs meanwhile in a worker process for long spans (a thread would share the GIL with the
Python-heavy online track); the hybrid's weights come afterwards, bar by bar, from the same pure
rule as live (engine.weighting: fixed, or adaptive on each model's discounted log loss on the bars
scored so far). Then the trading half (engine.trade_evaluation) turns the hybrid's calls into
signals, gates and strategies.
"""
from __future__ import annotations

import time
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine import weighting
from engine.batch.ladder import Rows, decide, fit_candidates, score_previous
from engine.batch.model import BatchModel
from engine.batch.track import Track, candidates, min_rows
from engine.candles import INTERVAL_MS
from engine.errors import ValidationError
from engine.features import FEATURE_COLUMNS
from engine.features.inputs import compute_inputs, spec, usable
from engine.hybrid import ONLINE_MODELS
from engine.labels import make as make_labels
from engine.health import judged
from engine.metrics import BASELINES, baseline_probabilities, paired_accuracy, summarize, to_prediction
from engine.reference import rolling_logistic
from engine.online import OnlineLearners
from engine.trade_evaluation import gated_signals, live_strategy, strategy_moments, summarize_strategies, \
    trading_report
from engine.trading.comparison import combine as combine_moments
from engine.trading.simulator import TradeRules

MODELS = (*ONLINE_MODELS, "batch")
VOTERS = weighting.VOTERS  # the hybrid's weight columns: the models and abstain
DAY_MS = 86_400_000
UPDATE_CHUNK = 50  # rows per test-then-train step (the live manager's default batch_size)
INLINE_BARS = 2000  # shorter spans run the batch track in this process (a worker costs ~1.5 s to start)


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
                  buffer_size: int, inputs: tuple[str, ...]) -> dict[str, np.ndarray]:
    """P(up) per bar from each online model: at each bar u of ``bars`` the learners score-then-learn the bars
    whose labels became known since the last update, then predict the bars up to the next update."""
    labelled = valid & np.isfinite(y)
    probs = {name: np.full(len(X), np.nan) for name in ONLINE_MODELS}
    learners, learned_upto = OnlineLearners(inputs=inputs), 0  # bars below learned_upto were offered to the learners
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
    return probs


def _batch_track(X: np.ndarray, y: np.ndarray, valid: np.ndarray, open_time: np.ndarray, bars: range,
                 horizon: int, batch_window_days: int, interval: str, inputs: tuple[str, ...]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(P(up) per bar from the serving batch model, its candidate per bar ("": none)): at each bar u of ``bars``
    every candidate is refitted on the labels known then, the previous fits' live scores join the record and
    the chosen one serves up to the next refit if it beats the baseline (as live)."""
    labelled = valid & np.isfinite(y)
    probs, served = np.full(len(X), np.nan), np.full(len(X), "", dtype=object)
    names, needed = candidates(batch_window_days), min_rows(interval)
    longest = max(int(n.split("d")[0]) for n in names)
    track, model, previous = Track.for_interval(interval), None, None
    step = INTERVAL_MS[interval]
    for u in bars:
        known = max(0, u - horizon + 1)
        if known:
            rows = np.flatnonzero(labelled[:known] & (open_time[:known] > open_time[known - 1] - longest * DAY_MS))
            part = Rows("", X[rows], y[rows], open_time[rows], np.minimum(open_time[rows] + horizon * step,
                                                                          open_time[known - 1] + step))
            if previous is not None:
                score_previous(track, previous[0], [part], {"": previous[1]}, previous[2])
            fits = fit_candidates([part], names, needed, previous and previous[0]) if len(rows) >= needed else {}
            if fits:
                decision = decide(track, fits, [part], max(10, needed // 5))
                fitted = BatchModel(inputs, fits, decision.choice)
                previous = (fitted, int(part.open_time[-1]), float(part.y.mean()))
                if decision.metrics["beats_baseline"]:  # else the active model stays, as live
                    model = fitted
        rows = np.flatnonzero(valid[u:u + bars.step]) + u
        if model is not None and rows.size:
            probs[rows] = model.p_up(model.choice, X[rows])
            served[rows] = model.choice
    return probs, served


def _weights(probs: dict[str, np.ndarray], y: np.ndarray, baseline: np.ndarray, config: dict, horizon: int,
             interval: str) -> np.ndarray:
    """``baseline``: the majority class's P(up) per bar, what the fixed mode judges the models against."""
    """(n, len(VOTERS)) the hybrid's weights per bar under the configured mode (engine.weighting)."""
    P = np.column_stack([probs[name] for name in MODELS])
    fixed_weights = {"batch": config["ensemble_weight_batch"], "online": config["ensemble_weight_online"]}
    if config["hybrid_mode"] == "adaptive":
        halflife = config["hybrid_memory_days"] * DAY_MS / INTERVAL_MS[interval]
        return weighting.adaptive(P, y, weighting.priors(fixed_weights), halflife, lag=horizon)
    out = weighting.excluded(P, y, baseline, config["online_health_window"], lag=horizon)
    return weighting.fixed(P, fixed_weights, out)


def walk_forward(candles: pd.DataFrame, config: dict, online_every: int = 6, retrain_every: int = 24,
                 start_ms: int | None = None, end_ms: int | None = None, label: str = "direction",
                 trading: bool = True, random_seeds: int | None = None, interval: str | None = None,
                 stream: int = 0, reference: pd.DataFrame | None = None) -> WalkForwardResult:
    """Replay ``candles`` (CANDLE_COLUMNS, ascending) and score the bars in [start_ms, end_ms].

    Bars before the first predicted bar only warm the models up: at that bar the online learners
    learn all their known labels at once (as the live system does after a backfill) and the batch
    model is fitted on its window; the update schedule counts from there. The first predicted bar is
    the first evaluated one, or with ``trading`` ``outcome_warmup_days`` earlier, so that the outcome
    model learns from those signals' trades before the evaluated span. ``label`` is one of
    engine.labels.LABEL_KINDS; ``interval`` (default: config ``interval``) is the candles' (for the
    annualised Sharpe ratio); ``random_seeds`` overrides the random-entry seed count and ``stream`` seeds
    the bootstrap and random draws (give each symbol its own when pooling them); ``reference``: the cross
    group's candles. ``config`` supplies label_horizon, batch_window_days, the inputs, the hybrid's mode and
    weights, online_health_window and the trading settings. Scores use the evaluated bars with a known
    label: each model over the bars it had an answer for, the hybrid and the baselines over the bars the
    hybrid had an answer for.
    """
    _check_every("online_every", online_every)
    _check_every("retrain_every", retrain_every)
    began = time.perf_counter()
    weights = {"batch": config["ensemble_weight_batch"], "online": config["ensemble_weight_online"]}
    interval = interval or config["interval"]
    candles = candles.reset_index(drop=True)
    open_time = candles["open_time"].to_numpy(dtype=np.int64)
    inputs = spec(config)
    frame = compute_inputs(candles, inputs, reference)
    X = frame.to_numpy(dtype=np.float64)
    labels = make_labels(candles, label, config["label_horizon"], TradeRules.from_config(config))
    y, horizon = labels.y, labels.lag
    valid = usable(frame)
    span = valid.copy()
    if start_ms is not None:
        span &= open_time >= start_ms
    if end_ms is not None:
        span &= open_time <= end_ms
    if not span.any():
        raise ValidationError("candles", f"no candle with a full feature row (after {inputs.warmup} bars of warm-up) "
                                         f"in the evaluated span ({len(candles)} candles given)")
    first, stop = int(np.argmax(span)), int(len(span) - np.argmax(span[::-1]))
    warm_ms = config["outcome_warmup_days"] * DAY_MS if trading else 0
    predicted = valid & (open_time >= open_time[first] - warm_ms)
    begin = int(np.argmax(predicted))
    batch_args = (X, y, valid, open_time, range(begin, stop, retrain_every), horizon, config["batch_window_days"],
                  interval, inputs.names)
    online_args = (X, y, valid, range(begin, stop, online_every), horizon, config["buffer_size"], inputs.names)
    reference_args = (X, y, valid, open_time, range(begin, stop, retrain_every), horizon)
    if stop - begin < INLINE_BARS:
        probs = _online_track(*online_args)
        probs["batch"], served = _batch_track(*batch_args)
        reference = rolling_logistic(*reference_args)
    else:  # spawn, not fork: a forked child can hang in OpenMP state the parent's earlier fits left behind
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            batch = pool.submit(_batch_track, *batch_args)
            probs = _online_track(*online_args)
            reference = rolling_logistic(*reference_args)  # (the shorter track's process has time for it)
            probs["batch"], served = batch.result()
    baselines = baseline_probabilities(y, horizon)
    for name in MODELS:  # a model answers from the first predicted bar on (earlier bars only warmed it up)
        probs[name][:begin] = np.nan
    W = _weights(probs, y, baselines["majority_class"], config, horizon, interval)
    answered = np.isfinite(np.column_stack([probs[name] for name in MODELS])).any(axis=1)
    probs["ensemble"] = np.where(answered, weighting.combine(np.column_stack([probs[name] for name in MODELS]), W),
                                 np.nan)
    shares = {name: W[:, j] for j, name in enumerate(VOTERS)}

    hybrid_bars = span & np.isfinite(probs["ensemble"])
    report = {
        "label": label, "horizon": horizon, "online_every": online_every, "retrain_every": retrain_every,
        "batch_window_days": config["batch_window_days"], "weights": weights, "hybrid_mode": config["hybrid_mode"],
        "inputs": list(inputs.names),
        "bars_replayed": len(candles), "bars_evaluated": int(span.sum()),
        "first_open_time": int(open_time[span][0]), "last_open_time": int(open_time[span][-1]),
        "models": {name: summarize(y[span], probs[name][span]) for name in MODELS},
        "hybrid": summarize(y[span], probs["ensemble"][span]),
        "baselines": {name: summarize(y[hybrid_bars], baselines[name][hybrid_bars]) for name in BASELINES},
        "reference": summarize(y[span], reference[span]),
        "verdicts": {name: judged(y[span], probs[name][span], baselines["majority_class"][span])
                     for name in (*MODELS, "ensemble")},
        "voting_share": {name: float(np.mean(shares[name][hybrid_bars] > 0)) if hybrid_bars.any() else None
                         for name in VOTERS},
        "mean_weight": {name: float(np.mean(shares[name][hybrid_bars])) if hybrid_bars.any() else None
                        for name in VOTERS},
        "batch_choice_share": {name: float(np.mean(served[hybrid_bars] == name))
                               for name in sorted(set(served[hybrid_bars].tolist()) - {""})},
    }
    best = max(MODELS, key=lambda name: report["models"][name]["accuracy"] or 0.0)
    report["comparisons"] = {
        "best_model": best,
        "hybrid_vs_best_model": paired_accuracy(y[span], probs["ensemble"][span], probs[best][span]),
        "hybrid_vs_reference": paired_accuracy(y[span], probs["ensemble"][span], reference[span])}
    ensemble = probs["ensemble"][span]
    predictions = pd.DataFrame({
        "open_time": open_time[span], "close": candles["close"].to_numpy()[span],
        **{f"p_{name}": probs[name][span] for name in (*MODELS, "ensemble")},
        **{f"w_{name}": shares[name][span] for name in VOTERS},
        "prediction": pd.array(to_prediction(ensemble), dtype="Int8"),
        "label": y[span], "batch_model": served[span], "p_reference": reference[span],
        **{f"p_{name}": baselines[name][span] for name in BASELINES},
    })
    predictions.loc[~np.isfinite(ensemble), "prediction"] = pd.NA
    result = WalkForwardResult(report, predictions)
    if trading:
        signals = gated_signals(candles.iloc[:stop], probs["ensemble"][:stop], X[:, :len(FEATURE_COLUMNS)], config,
                                begin)
        seeds = {} if random_seeds is None else {"seeds": random_seeds}
        result.signals = signals
        result.moments = strategy_moments(candles.iloc[:stop], signals, config, first, stream=stream, **seeds)
        report["trading"] = trading_report(signals, first, config) | {
            "live": live_strategy(config),
            "strategies": summarize_strategies(result.moments, interval)}
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
