"""``OnlineLearners``: scaler + the three models + their drift detectors, in memory (no I/O, picklable).

Inputs are standardised by the scaler that follows the market (engine.online.scaler) and clipped
to +-``CLIP`` standard deviations before any model sees them, and a missing input (NaN) reads as
its mean: one absurd sample moves a model by a bounded step, never off the map.
"""
from __future__ import annotations

import numpy as np

from engine.errors import ValidationError
from engine.features import FEATURE_COLUMNS
from engine.online.drift import ADWIN
from engine.online.health import RecentScores
from engine.online.models import CLASSES, MODEL_NAMES, make_model
from engine.online.scaler import EWMScaler

LOG_EPS = 1e-15
CLIP = 4.0  # standardised inputs are clipped to this many standard deviations
REWARM_MIN_SAMPLES = 100  # a drifted model relearns at least this many of the newest samples


def batch_metrics(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(accuracy of p >= 0.5, log loss) of P(up) ``p`` against 0/1 labels ``y``."""
    q = np.clip(p, LOG_EPS, 1.0 - LOG_EPS)
    accuracy = float(np.mean((p >= 0.5) == (y == 1)))
    log_loss = float(-np.mean(np.where(y == 1, np.log(q), np.log(1.0 - q))))
    return accuracy, log_loss


def new_counter() -> dict:
    """A model's counters before it learned anything."""
    return {"samples_seen": 0, "scored": 0, "correct": 0, "log_loss_sum": 0.0, "drift": False, "drifts": 0}


class OnlineLearners:
    """The online models learning test-then-train from one stream of (features, up/down) samples.

    Each batch is first scored by every trained model (and by its drift detector, on the 0/1
    errors), then the scaler and the models learn it. Counters per model: ``samples_seen``
    (learned since its last reset), ``scored``/``correct``/``log_loss_sum`` (prequential, since reset),
    ``drift`` (its detector fired on the last batch), ``drifts`` (how often). ``recent[name]`` keeps
    its newest scored samples beside the majority-class baseline known before each batch
    (``label_counts``: ups and labels learned so far), for :meth:`health`.

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
    >>> ol = OnlineLearners()
    >>> ol.score_then_learn(X[:100], y[:100])["models"]["sgd"]["accuracy"] is None  # untrained
    True
    >>> ol.score_then_learn(X[100:], y[100:])["models"]["sgd"]["accuracy"] > 0.8
    True
    """

    def __init__(self, random_state: int = 0, scaler_halflife: float = 500.0, drift_delta: float = 0.002,
                 inputs: tuple[str, ...] = FEATURE_COLUMNS):
        self.random_state = random_state
        self.inputs = tuple(inputs)
        self.drift_delta = drift_delta
        self.scaler = EWMScaler(halflife=scaler_halflife)
        self.n_features: int | None = None
        self.models = {name: make_model(name, random_state) for name in MODEL_NAMES}
        self.detectors = {name: ADWIN(delta=drift_delta) for name in MODEL_NAMES}
        self.counters = {name: new_counter() for name in MODEL_NAMES}
        self.recent = {name: RecentScores() for name in MODEL_NAMES}
        self.label_counts = [0, 0]  # (ups, labels) learned so far

    def __setstate__(self, state: dict) -> None:
        """Models saved before the health window existed start with an empty one. Models of an earlier release
        (scikit-learn estimators inside) are read as untrained learners without inputs, so the manager restarts
        them on the buffer at the next update."""
        state.setdefault("recent", {name: RecentScores() for name in MODEL_NAMES})
        state.setdefault("label_counts", [0, 0])
        state.setdefault("inputs", FEATURE_COLUMNS)
        if any(hasattr(model, "estimator") for model in state["models"].values()):
            state["models"] = {name: make_model(name, state.get("random_state", 0)) for name in MODEL_NAMES}
            state["counters"] = {name: new_counter() for name in MODEL_NAMES}
            state["inputs"] = ()
        self.__dict__.update(state)

    def base_rate(self) -> float:
        """The majority-class baseline's P(up): the Laplace-smoothed share of ups among the labels learned."""
        ups, count = self.label_counts
        return (ups + 1.0) / (count + 2.0)

    def health(self, name: str, window: int) -> dict:
        """Recent scores over the newest ``window`` scored samples beside the baseline, with the verdict
        (RecentScores.summary)."""
        return self.recent[name].summary(window)

    def trained(self, name: str) -> bool:
        return self.counters[name]["samples_seen"] > 0

    def _check(self, X, y=None) -> tuple[np.ndarray, np.ndarray | None]:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or (self.n_features is not None and X.shape[1] != self.n_features):
            raise ValidationError("X", f"must be a 2-D array with {self.n_features or 'n'} feature columns, "
                                       f"got shape {X.shape}")
        if np.isinf(X).any():
            raise ValidationError("X", "must hold finite numbers (or NaN for a missing input) only")
        if y is not None:
            y = np.asarray(y)
            if y.shape != (len(X),):
                raise ValidationError("y", f"must hold one label per row ({len(X)}), got shape {y.shape}")
            if not np.isin(y, CLASSES).all():
                raise ValidationError("y", "labels must be 0 or 1")
            y = y.astype(int)
        return X, y

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        Z = np.clip(self.scaler.transform(X), -CLIP, CLIP)
        return np.where(np.isnan(Z), 0.0, Z)

    def _probabilities(self, Xs: np.ndarray) -> dict[str, np.ndarray | None]:
        return {name: model.predict_proba(Xs)[:, 1] if self.trained(name) else None
                for name, model in self.models.items()}

    def predict_proba(self, X) -> dict[str, np.ndarray | None]:
        """P(up) per row from each model; None for a model that has not learned anything yet."""
        X, _ = self._check(X)
        return self._probabilities(self._standardise(X))

    def score_then_learn(self, X, y) -> dict:
        """Score the batch with each trained model, update its drift detector, then learn the batch.

        Returns ``{"n", "models": {name: {"accuracy", "log_loss", "n", "samples_seen", "drift"}},
        "probabilities": {name: P(up) before learning | None}}``; accuracy/log_loss are None for a model
        that was untrained before this batch. A drifted model is not reset here: see :meth:`rewarm`.
        """
        X, y = self._check(X, y)
        if len(X) == 0:
            raise ValidationError("X", "needs at least one row")
        probabilities = self._probabilities(self._standardise(X))
        base_rate = self.base_rate()  # the majority-class baseline known before this batch
        ups, count = self.label_counts
        results = {}
        for name, p in probabilities.items():
            c = self.counters[name]
            accuracy = log_loss = None
            c["drift"] = False
            if p is not None:
                accuracy, log_loss = batch_metrics(p, y)
                c["scored"] += len(y)
                c["correct"] += round(accuracy * len(y))
                c["log_loss_sum"] += log_loss * len(y)
                c["drift"] = self.detectors[name].update_many((p >= 0.5) != (y == 1)).drift_detected
                c["drifts"] += c["drift"]
                self.recent[name].add(p, y, base_rate)
            results[name] = {"accuracy": accuracy, "log_loss": log_loss, "n": len(y), "drift": c["drift"]}
        self.n_features = X.shape[1]
        self.label_counts = [ups + int(y.sum()), count + len(y)]
        self.scaler.partial_fit(X)
        Xs = self._standardise(X)
        for name, model in self.models.items():
            model.partial_fit(Xs, y, classes=CLASSES)
            self.counters[name]["samples_seen"] += len(y)
            results[name]["samples_seen"] = self.counters[name]["samples_seen"]
        return {"n": len(y), "models": results, "probabilities": probabilities}

    def regime_length(self, name: str) -> int:
        """How many of the newest samples to re-warm ``name`` with after drift: those its detector kept
        after the cut (the new regime), at least REWARM_MIN_SAMPLES."""
        return max(self.detectors[name].width, REWARM_MIN_SAMPLES)

    def rewarm(self, X, y, names=None, chunk: int = 50) -> None:
        """Reset ``names`` (default: all models) and relearn them from (X, y), oldest first, in chunks.

        Used after drift with the newest :meth:`regime_length` samples; the scaler is kept (it follows the market).
        Prequential counters, the health window and the drift detector restart; the drift flag of the last batch
        is kept.
        """
        X, y = self._check(X, y)
        names = MODEL_NAMES if names is None else tuple(names)
        unknown = set(names) - set(MODEL_NAMES)
        if unknown:
            raise ValidationError("names", f"unknown models {sorted(unknown)}")
        Xs = self._standardise(X)
        for name in names:
            model = self.models[name] = make_model(name, self.random_state)
            self.detectors[name].reset()
            self.recent[name] = RecentScores()
            counter = new_counter()
            counter["drift"], counter["drifts"] = self.counters[name]["drift"], self.counters[name]["drifts"]
            for start in range(0, len(Xs), chunk):
                model.partial_fit(Xs[start:start + chunk], y[start:start + chunk], classes=CLASSES)
            counter["samples_seen"] = len(Xs)
            self.counters[name] = counter
