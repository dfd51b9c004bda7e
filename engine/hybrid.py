"""The hybrid ensemble: a weighted vote of the batch model and the online models.

The weights come from engine.weighting, the same rule the walk-forward replays: ``fixed`` (the
configured shares, a model worse than the majority-class baseline lately sitting out) or
``adaptive`` (each model's share follows its log loss on the symbol's recent scored predictions,
beside a voter that abstains at 1/2). :class:`HybridEnsemble` applies it to the latest
closed candle of a symbol, logs the prediction with the weights it used (engine.predictions) and
reports live accuracy once outcomes are known.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine import weighting
from engine.candles import INTERVAL_MS
from engine.errors import NotReady, ValidationError
from engine.features import HISTORY_BARS
from engine.features.inputs import latest_inputs, reference_candles, spec
from engine.metrics import baseline_probabilities, sample_log_loss, to_prediction
from engine.predictions import PredictionLog

ONLINE_MODELS = ("sgd", "passive_aggressive", "mlp_online")
MODELS = (*ONLINE_MODELS, "batch")
DAY_MS = 86_400_000
MEMORY_HALFLIVES = 5  # scored rows read for the adaptive weights: older ones weigh < 3 %


def majority_vote(predictions: list[int]) -> int | None:
    """The online models' majority (ties go to up, as P(up) = 0.5 does); None when none answered."""
    if not predictions:
        return None
    return int(2 * sum(predictions) >= len(predictions))


class HybridEnsemble:
    """Predicts, logs and scores; ``online``/``batch`` follow the OnlineLearningManager/BatchTrainer contracts."""

    def __init__(self, db, store, online, batch, config):
        self.store, self.online, self.batch, self.config = store, online, batch, config
        self.log = PredictionLog(db)
        self._rows: dict[tuple, tuple] = {}

    def _feature_row(self, symbol: str, interval: str, cfg: dict) -> tuple | None:
        """(open_time, inputs, inputs as a one-row frame, close) of the latest stored candle; computed once per
        candle and input set (the store's bounds() tells when a new one arrived)."""
        bounds = self.store.bounds(symbol, interval)
        if bounds is None:
            return None
        inputs = spec(cfg)
        key = (symbol, interval, inputs.names, cfg.get("cross_reference_symbol"))
        cached = self._rows.get(key)
        if cached is not None and cached[0] == bounds[1]:
            return cached
        candles = self.store.tail(symbol, interval, HISTORY_BARS + 1)
        reference = None
        if inputs.needs_reference and len(candles):
            reference = reference_candles(self.store, cfg, symbol, int(candles["open_time"].iat[0]), bounds[1])
        open_time, features = latest_inputs(candles, inputs, reference)
        cached = (open_time, features, pd.DataFrame([features]), float(candles["close"].iat[-1]))
        self._rows[key] = cached
        return cached

    def _versions(self, models: dict) -> dict:
        versions = {name: models.get(name, {}).get("version") for name in ONLINE_MODELS}
        active = self.batch.active()
        versions["batch"] = None if active is None else active["version"]
        return versions

    def weights(self, symbol: str, answers: list, cfg: dict) -> tuple[dict, dict, str]:
        """({voter: share}, {model: why it sits out} (fixed mode), a note on how they were set) for the models'
        ``answers`` (P(up) or None, MODELS order) on ``symbol``'s next bar, from its scored predictions."""
        interval = cfg["interval"]
        halflife = cfg["hybrid_memory_days"] * DAY_MS / INTERVAL_MS[interval]
        adaptive = cfg["hybrid_mode"] == "adaptive"
        rows = int(min(20_000, MEMORY_HALFLIVES * halflife)) if adaptive else cfg["online_health_window"]
        history = self.log.scored(symbol, interval, rows)
        P = np.vstack([history[list(MODELS)].to_numpy(dtype=float),
                       [[np.nan if a is None else a for a in answers]]])
        y = np.append(history["outcome"].to_numpy(dtype=float), np.nan)
        fixed = {"batch": cfg["ensemble_weight_batch"], "online": cfg["ensemble_weight_online"]}
        if adaptive:
            W = weighting.adaptive(P, y, weighting.priors(fixed), halflife, lag=1)[-1]
            how = (f"adaptive: each model's share follows its log loss on the last {len(history)} scored "
                   f"{symbol} predictions (half-life {cfg['hybrid_memory_days']:g} days)")
            return dict(zip(weighting.VOTERS, W.tolist())), {}, how
        base = baseline_probabilities(y, 1)["majority_class"]
        out = weighting.excluded(P, y, base, cfg["online_health_window"], lag=1)[-1]
        W = weighting.fixed(P[-1:], fixed, out[None])[0]
        reasons = {name: _exclusion_reason(name, P[:-1, j], y[:-1], base[:-1], cfg["online_health_window"], symbol)
                   for j, name in enumerate(MODELS) if out[j]}
        return dict(zip(weighting.VOTERS, W.tolist())), reasons, "fixed weights"

    def predict(self, symbol: str, store_prediction: bool = True) -> dict:
        """The ensemble's call on the latest closed candle of ``symbol`` (never raises for missing models),
        with the weights it used (``weights``: voter -> share, abstain included) and, in fixed mode, the models
        sitting out (``excluded``: model -> reason, also in ``notes``)."""
        cfg = self.config()
        if symbol not in cfg["symbols"]:
            raise ValidationError("symbol", f"unknown symbol {symbol!r}; configured: {', '.join(cfg['symbols'])}")
        interval, horizon = cfg["interval"], cfg["label_horizon"]
        out = {"symbol": symbol, "interval": interval, "horizon": horizon, "open_time": None,
               "ensemble_prediction": None, "ensemble_confidence": None, "batch_prediction": None,
               "individual_predictions": dict.fromkeys(ONLINE_MODELS), "online_majority": None,
               "probabilities": dict.fromkeys((*MODELS, "ensemble")), "weights": {}, "hybrid_mode": cfg["hybrid_mode"],
               "excluded": {}, "model_versions": {}, "features": {}, "status": "not_ready", "notes": []}
        try:
            row = self._feature_row(symbol, interval, cfg)
        except NotReady as exc:
            out["notes"].append(f"not enough candles for {symbol} {interval}: {exc}")
            return out
        if row is None:
            out["notes"].append(f"no candles stored for {symbol} {interval}")
            return out
        open_time, features, frame, close = row
        out.update(open_time=open_time, features=dict(features))
        online = {name: None if p is None else float(p[0]) for name, p in self.online.predict_proba(frame).items()}
        batch = self.batch.predict_proba(frame)
        batch = None if batch is None else float(batch[0])
        answers = [online.get(n) for n in ONLINE_MODELS] + [batch]
        notes = [f"online model {name} is not trained yet; left out" for name in ONLINE_MODELS if online.get(name) is None]
        if batch is None:
            notes.append(self.batch.serving()["note"] or "no batch model serves")
        if all(a is None for a in answers):
            out["notes"] += notes + ["no model is trained yet"]
            return out
        weights, excluded, how = self.weights(symbol, answers, cfg)
        notes += list(excluded.values())
        P = np.array([[np.nan if a is None else a for a in answers]])
        p = float(weighting.combine(P, np.array([[weights[v] for v in weighting.VOTERS]]))[0])
        individual = {n: None if online.get(n) is None else to_prediction(online[n]) for n in ONLINE_MODELS}
        out.update(
            status="degraded" if notes else "ok", notes=notes + [how], excluded=excluded,
            ensemble_prediction=to_prediction(p), ensemble_confidence=max(p, 1.0 - p),
            batch_prediction=None if batch is None else to_prediction(batch),
            individual_predictions=individual,
            online_majority=majority_vote([v for v in individual.values() if v is not None]),
            probabilities={**{n: online.get(n) for n in ONLINE_MODELS}, "batch": batch, "ensemble": p},
            weights={v: w for v, w in weights.items() if w > 0},
            model_versions=self._versions(self.online.stats()["models"]),
        )
        if store_prediction:  # a model that did not answer has no weight to record (NULL), not a weight of 0
            answered = {v: w for v, w in weights.items() if v == "abstain" or out["probabilities"].get(v) is not None}
            self.log.record(symbol, interval, open_time, horizon, out["probabilities"], out["status"],
                            close=close, model_versions=out["model_versions"], weights=answered)
        return out

    def score_outcomes(self) -> int:
        """Score every logged prediction whose outcome candle is now stored; returns how many."""
        return self.log.score_outcomes(self.store)

    def accuracy_summary(self, symbol: str | None = None) -> dict:
        return self.log.accuracy_summary(symbol)

    def history(self, symbol: str | None = None, limit: int = 100, offset: int = 0) -> list[dict]:
        return self.log.history(symbol, limit, offset)


def _exclusion_reason(name: str, p: np.ndarray, y: np.ndarray, base: np.ndarray, window: int, symbol: str) -> str:
    """Why a model sits out (fixed mode), with the numbers of its window."""
    rows = np.flatnonzero(np.isfinite(p) & np.isfinite(y))[-window:]
    ours = float(sample_log_loss(y[rows], p[rows]).mean())
    theirs = float(sample_log_loss(y[rows], np.clip(base[rows], 1e-6, 1 - 1e-6)).mean())
    return (f"{name}: log loss {ours:.4f} over its last {len(rows)} scored {symbol} predictions is worse than the "
            f"majority-class baseline's {theirs:.4f}; weight 0 until it recovers")
