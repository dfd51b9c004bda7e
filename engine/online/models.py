"""The three online learners, each sklearn-style: ``partial_fit(X, y, classes)``, ``predict_proba(X)``.

Each wraps its scikit-learn estimator (``.estimator``) for learning; prediction is computed
directly from the fitted weights (a dot product, or the MLP's forward pass), which gives the
same numbers as sklearn's ``predict_proba`` without its ~150 µs per-call overhead.
"""
from __future__ import annotations

import copy

import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.neural_network import MLPClassifier

from engine.online.probability import PlattCalibrator, sigmoid

MODEL_NAMES: tuple[str, ...] = ("sgd", "passive_aggressive", "mlp_online")
CLASSES = np.array([0, 1])
LOSS_CURVE_KEPT = 10  # MLP: sklearn appends one loss per partial_fit and only ever reads the last


def _two_columns(p_up: np.ndarray) -> np.ndarray:
    return np.column_stack([1.0 - p_up, p_up])


def _learn(estimator, fitted: bool, X: np.ndarray, y: np.ndarray, classes) -> None:
    """partial_fit, naming the classes only on the first call (sklearn re-checks them each time it gets them)."""
    estimator.partial_fit(X, y, classes=None if fitted else classes)


class _Linear:
    """Shared by the linear models: the fitted margin w·x + b."""

    estimator: SGDClassifier

    @property
    def fitted(self) -> bool:
        return hasattr(self.estimator, "coef_")

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return X @ self.estimator.coef_[0] + self.estimator.intercept_[0]


class LogisticSGD(_Linear):
    """Logistic regression by SGD with a constant rate: it stays calibrated and keeps adapting
    (the default "optimal" schedule is badly calibrated; "adaptive" does nothing under partial_fit)."""

    def __init__(self, eta0: float = 0.002, alpha: float = 1e-3, random_state: int = 0):
        self.estimator = SGDClassifier(loss="log_loss", learning_rate="constant", eta0=eta0, alpha=alpha,
                                       random_state=random_state)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return _two_columns(sigmoid(self.decision_function(X)))

    def partial_fit(self, X: np.ndarray, y: np.ndarray, classes=CLASSES) -> "LogisticSGD":
        _learn(self.estimator, self.fitted, X, y, classes)
        return self


class PassiveAggressiveProba(_Linear):
    """Passive-Aggressive (PA-I) classifier whose margin is mapped to P(up) by an online Platt fit.

    ``C`` caps each step. PA-I's usual C = 1 lets every sample rewrite the weights -- on hourly
    direction, a coin flip per sample -- and scored 0.50-0.51 on every market tried; with C = 0.001 it
    still moves at once on a mistake, by little, and scored as well as the other learners.

    ``partial_fit`` is test-then-train for the calibrator too: the margins of a batch are taken
    before the classifier learns it, then the calibrator and the classifier learn the labels.
    """

    def __init__(self, C: float = 0.001, random_state: int = 0):
        self.estimator = SGDClassifier(loss="hinge", penalty=None, learning_rate="pa1", eta0=C,
                                       random_state=random_state)
        self.calibrator = PlattCalibrator()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return _two_columns(self.calibrator.predict(self.decision_function(X)))

    def partial_fit(self, X: np.ndarray, y: np.ndarray, classes=CLASSES) -> "PassiveAggressiveProba":
        if self.fitted:
            self.calibrator.update(self.decision_function(X), y)
        _learn(self.estimator, self.fitted, X, y, classes)
        return self


class OnlineMLP:
    """MLP (ReLU hidden layers, adam) learning one pass per ``partial_fit`` in small minibatches
    (adam: sgd + "adaptive" freezes; minibatches so one pass over a batch takes a few steps). A
    strong L2 penalty (``alpha`` 0.1): with sklearn's default 1e-4 it chased noise and scored the
    worst log loss of all models on every market tried.

    Its ``loss_curve_`` keeps only the newest LOSS_CURVE_KEPT losses, so the saved model (and the
    time to pickle it) does not grow with every update. It is pickled without the estimator's
    ``_random_state``, the slowest part to pickle: sklearn re-creates it from ``random_state`` at
    the start of every fit, before any use, so the stored one is never read.
    """

    def __init__(self, hidden_layer_sizes=(50, 25), learning_rate_init: float = 0.001, minibatch: int = 16,
                 alpha: float = 0.1, random_state: int = 0):
        self.minibatch = minibatch
        self.estimator = MLPClassifier(hidden_layer_sizes=hidden_layer_sizes, solver="adam", alpha=alpha,
                                       learning_rate_init=learning_rate_init, batch_size=minibatch,
                                       random_state=random_state)

    @property
    def fitted(self) -> bool:
        return hasattr(self.estimator, "coefs_")

    def __getstate__(self) -> dict:
        estimator = copy.copy(self.estimator)
        vars(estimator).pop("_random_state", None)
        return {**self.__dict__, "estimator": estimator}

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        net = self.estimator
        a = X
        for weights, bias in zip(net.coefs_[:-1], net.intercepts_[:-1]):
            a = np.maximum(a @ weights + bias, 0.0)
        return _two_columns(sigmoid(a @ net.coefs_[-1][:, 0] + net.intercepts_[-1][0]))

    def partial_fit(self, X: np.ndarray, y: np.ndarray, classes=CLASSES) -> "OnlineMLP":
        self.estimator.batch_size = min(self.minibatch, len(X))  # sklearn warns when it has to clip
        _learn(self.estimator, self.fitted, X, y, classes)
        del self.estimator.loss_curve_[:-LOSS_CURVE_KEPT]
        return self


def make_model(name: str, random_state: int = 0):
    """A fresh, untrained learner called ``name`` (one of MODEL_NAMES)."""
    if name == "sgd":
        return LogisticSGD(random_state=random_state)
    if name == "passive_aggressive":
        return PassiveAggressiveProba(random_state=random_state)
    if name == "mlp_online":
        return OnlineMLP(random_state=random_state)
    raise KeyError(f"unknown online model {name!r}; have {MODEL_NAMES}")
