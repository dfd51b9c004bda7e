"""The hybrid ensemble: a weighted vote of the batch model and the online models.

:func:`combine` is the pure rule (also used by the walk-forward replay on whole arrays);
:class:`HybridEnsemble` applies it to the latest closed candle of a symbol, logs the
prediction (engine.predictions) and reports live accuracy once outcomes are known.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.errors import NotReady, ValidationError
from engine.features import FEATURE_COLUMNS, HISTORY_BARS, latest_features
from engine.metrics import to_prediction
from engine.predictions import PredictionLog

ONLINE_MODELS = ("sgd", "passive_aggressive", "mlp_online")


def combine(online_probs: dict, batch_prob, weights: dict, excluded: dict | None = None, fallback=None) -> dict:
    """Weighted P(up) from the models that have an answer (floats, or arrays of equal length).

    ``weights`` holds "batch" and "online" shares; the online share is split equally among the
    online models that answered (None = untrained, left out). ``excluded`` maps models that must not
    vote (an online model worse than its baseline lately, or "batch" when no batch version beats its
    baseline) to the reason, which goes into the notes. Missing parts' shares go to the others
    (shares are renormalised over what answered). Returns ``{"probability": p | None, "weights":
    {model: share}, "excluded": {model: reason}, "status": "ok"|"degraded"|"not_ready", "notes": [...]}``.

    >>> r = combine({"sgd": 0.4, "mlp_online": None}, 0.8, {"batch": 0.7, "online": 0.3})
    >>> round(r["probability"], 2), r["status"], r["weights"]
    (0.68, 'degraded', {'sgd': 0.3, 'batch': 0.7})
    >>> combine({"sgd": 0.4, "mlp_online": 0.6}, 0.8, {"batch": 0.7, "online": 0.3}, {"sgd": "worse"})["weights"]
    {'mlp_online': 0.3, 'batch': 0.7}
    """
    excluded = {name: reason for name, reason in (excluded or {}).items() if name in online_probs or name == "batch"}
    notes = [excluded.get(name, f"online model {name} is not trained yet; left out")
             for name, p in online_probs.items() if p is None or name in excluded]
    trained = [name for name, p in online_probs.items() if p is not None and name not in excluded]
    raw = {name: weights["online"] / len(trained) for name in trained}
    if "batch" in excluded:
        notes.append(excluded["batch"])
    elif batch_prob is None:
        notes.append("no batch model yet; online models only")
    else:
        raw["batch"] = weights["batch"]
    if not raw and excluded and fallback is not None:
        return {"probability": fallback, "weights": {"majority_class": 1.0}, "excluded": excluded, "status": "degraded",
                "notes": notes + ["no trained model beats its baseline: the hybrid answers with the majority-class "
                                  "baseline"]}
    if not raw:
        return {"probability": None, "weights": {}, "excluded": excluded, "status": "not_ready",
                "notes": notes + ["no model is trained yet" if not excluded else "no model may vote"]}
    total = sum(raw.values())
    if total <= 0:
        notes.append("the models that answered all have weight 0; weighting them equally")
        raw, total = dict.fromkeys(raw, 1.0), float(len(raw))
    shares = {name: w / total for name, w in raw.items()}
    parts = {**{n: online_probs[n] for n in trained}, "batch": batch_prob}
    probability = sum(shares[name] * parts[name] for name in shares)
    if isinstance(probability, float | np.floating):
        probability = float(probability)
    return {"probability": probability, "weights": shares, "excluded": excluded,
            "status": "degraded" if notes else "ok", "notes": notes}


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
        self._rows: dict[tuple[str, str], tuple] = {}

    def _feature_row(self, symbol: str, interval: str) -> tuple | None:
        """(open_time, features, X as a one-row frame, X as an array, close) of the latest stored
        candle; computed once per candle (the store's bounds() tells when a new one arrived)."""
        bounds = self.store.bounds(symbol, interval)
        if bounds is None:
            return None
        cached = self._rows.get((symbol, interval))
        if cached is not None and cached[0] == bounds[1]:
            return cached
        candles = self.store.tail(symbol, interval, HISTORY_BARS)
        open_time, features = latest_features(candles)
        values = np.array([[features[c] for c in FEATURE_COLUMNS]])
        cached = (open_time, features, pd.DataFrame(values, columns=list(FEATURE_COLUMNS)), values,
                  float(candles["close"].iat[-1]))
        self._rows[(symbol, interval)] = cached
        return cached

    def _versions(self, models: dict) -> dict:
        versions = {name: models.get(name, {}).get("version") for name in ONLINE_MODELS}
        active = self.batch.active()
        versions["batch"] = None if active is None else active["version"]
        return versions

    def predict(self, symbol: str, store_prediction: bool = True) -> dict:
        """The ensemble's call on the latest closed candle of ``symbol`` (never raises for missing models).
        Models that must not vote (``excluded``: an online model worse than its baseline lately, the batch
        model when no version beats its baseline) are left out, with the reason in ``notes``."""
        cfg = self.config()
        if symbol not in cfg["symbols"]:
            raise ValidationError("symbol", f"unknown symbol {symbol!r}; configured: {', '.join(cfg['symbols'])}")
        interval, horizon = cfg["interval"], cfg["label_horizon"]
        out = {"symbol": symbol, "interval": interval, "horizon": horizon, "open_time": None,
               "ensemble_prediction": None, "ensemble_confidence": None, "batch_prediction": None,
               "individual_predictions": dict.fromkeys(ONLINE_MODELS), "online_majority": None,
               "probabilities": dict.fromkeys((*ONLINE_MODELS, "batch", "ensemble")), "weights": {},
               "excluded": {}, "model_versions": {}, "features": {}, "status": "not_ready", "notes": []}
        try:
            row = self._feature_row(symbol, interval)
        except NotReady as exc:
            out["notes"].append(f"not enough candles for {symbol} {interval}: {exc}")
            return out
        if row is None:
            out["notes"].append(f"no candles stored for {symbol} {interval}")
            return out
        open_time, features, frame, values, close = row
        out.update(open_time=open_time, features=dict(features))
        online = {name: None if p is None else float(p[0]) for name, p in self.online.predict_proba(frame).items()}
        batch = self.batch.predict_proba(values)
        batch = None if batch is None else float(batch[0])
        online_stats = self.online.stats()
        models = online_stats["models"]
        excluded = {name: m["excluded_reason"] for name, m in models.items() if m["excluded"]}
        serving = self.batch.serving()
        if serving["below_baseline"]:
            excluded["batch"] = serving["note"]
        result = combine({n: online.get(n) for n in ONLINE_MODELS}, batch,
                         {"batch": cfg["ensemble_weight_batch"], "online": cfg["ensemble_weight_online"]}, excluded,
                         fallback=online_stats["base_rate"])
        out["notes"] += result["notes"]
        out.update(status=result["status"], excluded=result["excluded"])
        p = result["probability"]
        if p is None:
            return out
        individual = {n: None if online.get(n) is None else to_prediction(online[n]) for n in ONLINE_MODELS}
        out.update(
            ensemble_prediction=to_prediction(p), ensemble_confidence=max(p, 1.0 - p),
            batch_prediction=None if batch is None else to_prediction(batch),
            individual_predictions=individual,
            online_majority=majority_vote([v for v in individual.values() if v is not None]),
            probabilities={**{n: online.get(n) for n in ONLINE_MODELS}, "batch": batch, "ensemble": p},
            weights=result["weights"], model_versions=self._versions(models),
        )
        if store_prediction:
            self.log.record(symbol, interval, open_time, horizon, out["probabilities"], out["status"],
                            close=close, model_versions=out["model_versions"])
        return out

    def score_outcomes(self) -> int:
        """Score every logged prediction whose outcome candle is now stored; returns how many."""
        return self.log.score_outcomes(self.store)

    def accuracy_summary(self, symbol: str | None = None) -> dict:
        return self.log.accuracy_summary(symbol)

    def history(self, symbol: str | None = None, limit: int = 100, offset: int = 0) -> list[dict]:
        return self.log.history(symbol, limit, offset)
