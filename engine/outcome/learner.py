"""``OutcomeLearner``: P(a signal's paper trade ends profitable after fees and slippage), learned online.

Meta-labeling (López de Prado): the direction models choose the side; this model judges whether
acting on that call pays. Its inputs (:func:`outcome_inputs`) are the signal bar's 23 features,
the same features signed by the side (so one linear model can learn that a feature favours
LONGs and hurts SHORTs), the side itself and the hybrid's edge in the signal's direction,
side x (2p - 1). A scaler that follows the market (EWMScaler) and a logistic regression learned
sample by sample (:class:`BaseRateLogistic`) learn test-then-train: each batch of outcomes is
scored before it is learned; counters and the recent health window (engine.online.health) keep
those scores beside the base-rate baseline (the share of wins known before each batch). The
regression sits on top of that base rate's log-odds, so it starts as the baseline and, with a
small rate and L2, moves away from it only as far as the outcomes it learned support (trade
outcomes are noisy, and an SGD intercept walking from P = 0.5 to a 30 % win rate costs hundreds
of bad predictions; scikit-learn's SGD takes no such offset). Like every model here it may only
decide while it beats its baseline (:meth:`OutcomeLearner.health`): otherwise the gate stays
closed. Pure: no I/O, picklable.
"""
from __future__ import annotations

import numpy as np

from engine.errors import ValidationError
from engine.features import FEATURE_COLUMNS
from engine.online.health import RecentScores, exclusion_reason
from engine.online.models import CLASSES
from engine.online.probability import sigmoid
from engine.online.scaler import EWMScaler

INPUT_NAMES = (*FEATURE_COLUMNS, *(f"side_x_{name}" for name in FEATURE_COLUMNS), "side", "edge")
MIN_SAMPLES = 100  # trade outcomes learned before the model may gate trades


def outcome_inputs(features: np.ndarray, prob_up: np.ndarray, side: np.ndarray) -> np.ndarray:
    """The model's input rows (INPUT_NAMES) for signals with these (n, 23) features, hybrid P(up)
    and sides (+1 LONG, -1 SHORT).

    >>> outcome_inputs(np.ones((1, 23)), np.array([0.6]), np.array([-1]))[0, -4:].round(2).tolist()
    [-1.0, -1.0, -1.0, -0.2]
    """
    features = np.asarray(features, dtype=float).reshape(-1, len(FEATURE_COLUMNS))
    side = np.asarray(side, dtype=float).reshape(-1, 1)
    edge = side * (2.0 * np.asarray(prob_up, dtype=float).reshape(-1, 1) - 1.0)
    return np.hstack([features, side * features, side, edge])


class BaseRateLogistic:
    """P(1) = sigmoid(offset + b + w . x): logistic regression by per-sample SGD (constant rate ``eta``,
    L2 ``alpha`` on w) on top of a given log-odds ``offset`` per row.

    >>> m = BaseRateLogistic(2)
    >>> float(m.predict_proba(np.zeros((1, 2)), np.array([0.0]))[0])  # no evidence yet: the offset's P
    0.5
    """

    def __init__(self, n_inputs: int, eta: float = 0.001, alpha: float = 0.01):
        self.eta, self.alpha = eta, alpha
        self.coef_, self.intercept_ = np.zeros(n_inputs), 0.0

    def predict_proba(self, X: np.ndarray, offset: np.ndarray) -> np.ndarray:
        return sigmoid(offset + self.intercept_ + X @ self.coef_)

    def partial_fit(self, X: np.ndarray, y: np.ndarray, offset: np.ndarray) -> "BaseRateLogistic":
        w, b = self.coef_, self.intercept_
        for x, target, o in zip(X, y, offset):
            error = float(sigmoid(o + b + x @ w)) - target
            w -= self.eta * (error * x + self.alpha * w)
            b -= self.eta * error
        self.intercept_ = b
        return self


class OutcomeLearner:
    """Learns P(win) from (inputs, 1 if the trade's PnL after costs > 0 else 0), test-then-train.

    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(600, len(INPUT_NAMES))); y = (Z[:, 0] > 0).astype(int)
    >>> ol = OutcomeLearner()
    >>> ol.score_then_learn(Z[:300], y[:300]) is None  # untrained: nothing to score with
    True
    >>> p = ol.score_then_learn(Z[300:], y[300:])
    >>> float(np.mean((p >= 0.5) == y[300:])) > 0.8
    True
    """

    def __init__(self, eta: float = 0.001, alpha: float = 0.01):
        self.scaler = EWMScaler(halflife=1000.0)
        self.model = BaseRateLogistic(len(INPUT_NAMES), eta, alpha)
        self.samples_seen = 0
        self.scored = {"n": 0, "correct": 0, "log_loss_sum": 0.0}
        self.win_counts = [0, 0]  # (wins, outcomes) learned so far
        self.recent = RecentScores()

    @property
    def ready(self) -> bool:
        """Whether it learned enough outcomes (MIN_SAMPLES) to gate trades."""
        return self.samples_seen >= MIN_SAMPLES

    def base_rate(self) -> float:
        """The baseline's P(win): the Laplace-smoothed share of wins among the outcomes learned."""
        wins, count = self.win_counts
        return (wins + 1.0) / (count + 2.0)

    def predict_proba(self, Z) -> np.ndarray | None:
        """P(win) per input row; None before it learned anything."""
        if not self.samples_seen:
            return None
        Z = self._check(Z)
        return self.model.predict_proba(self.scaler.transform(Z), np.full(len(Z), self._base_logit()))

    def _base_logit(self) -> float:
        rate = self.base_rate()
        return float(np.log(rate / (1.0 - rate)))

    def score_then_learn(self, Z, y) -> np.ndarray | None:
        """Score the outcomes with the current model (None if untrained), then learn them."""
        Z = self._check(Z)
        y = np.asarray(y)
        if y.shape != (len(Z),) or not np.isin(y, CLASSES).all():
            raise ValidationError("target", f"must hold one 0/1 outcome per row ({len(Z)})")
        y = y.astype(int)
        p = self.predict_proba(Z)
        if p is not None:
            self.recent.add(p, y, self.base_rate())
            self.scored["n"] += len(y)
            self.scored["correct"] += int(np.sum((p >= 0.5) == (y == 1)))
            self.scored["log_loss_sum"] += float(np.sum(self.recent.rows[-len(y):, 0]))
        self.scaler.partial_fit(Z)
        self.model.partial_fit(self.scaler.transform(Z), y, np.full(len(y), self._base_logit()))
        self.win_counts = [self.win_counts[0] + int(y.sum()), self.win_counts[1] + len(y)]
        self.samples_seen += len(y)
        return p

    def health(self, window: int) -> tuple[dict, str | None]:
        """(recent scores over its newest ``window`` scored outcomes; why it must not gate trades: its recent
        log loss is worse than the base rate's, or None)."""
        recent = self.recent.summary(window)
        return recent, exclusion_reason("outcome model", recent, "the base rate's (share of winning trades)",
                                        "no trade until it recovers")

    def summary(self, window: int) -> dict:
        """What it learned and how well it scored: ``samples_seen``, ``ready``, ``win_share`` (of the outcomes
        learned), prequential ``scored``/``accuracy``/``log_loss``, ``recent`` (RecentScores.summary),
        ``excluded`` and ``excluded_reason`` (see :meth:`health`)."""
        n = self.scored["n"]
        wins, count = self.win_counts
        recent, reason = self.health(window)
        return {"samples_seen": self.samples_seen, "ready": self.ready, "win_share": wins / count if count else None,
                "scored": n, "accuracy": self.scored["correct"] / n if n else None,
                "log_loss": self.scored["log_loss_sum"] / n if n else None, "recent": recent,
                "excluded": reason is not None, "excluded_reason": reason}

    @staticmethod
    def _check(Z) -> np.ndarray:
        Z = np.asarray(Z, dtype=float)
        if Z.ndim != 2 or Z.shape[1] != len(INPUT_NAMES) or not np.isfinite(Z).all():
            raise ValidationError("inputs", f"must be finite rows of {len(INPUT_NAMES)} outcome inputs, got {Z.shape}")
        return Z
