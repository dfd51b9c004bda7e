"""The three online learners, each sklearn-style: ``partial_fit(X, y, classes)``, ``predict_proba(X)``.

Written out in numpy rather than wrapping scikit-learn's SGDClassifier and MLPClassifier: their
``partial_fit`` re-validates its input on every call (type of target, label binarising, array checks:
~1-4 ms per call, 80 % of the walk-forward's time), which no configuration switches off. The updates
are the textbook ones scikit-learn implements (per-sample SGD with L2 weight decay; PA-I; an MLP trained
by Adam on minibatches with L2 on the weights), on inputs the caller has already checked, standardised
and clipped (engine.online.learners): no check is repeated here.
"""
from __future__ import annotations

import numpy as np

from engine.online.probability import PlattCalibrator, sigmoid

MODEL_NAMES: tuple[str, ...] = ("sgd", "passive_aggressive", "mlp_online")
CLASSES = np.array([0, 1])


def _two_columns(p_up: np.ndarray) -> np.ndarray:
    return np.column_stack([1.0 - p_up, p_up])


class _Linear:
    """Shared by the linear models: weights ``coef`` and ``intercept`` (None until the first fit) and the
    margin w . x + b."""

    coef: np.ndarray | None = None
    intercept: float = 0.0

    @property
    def fitted(self) -> bool:
        return self.coef is not None

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef + self.intercept

    def _start(self, X: np.ndarray) -> None:
        if self.coef is None:
            self.coef = np.zeros(X.shape[1])


class LogisticSGD(_Linear):
    """Logistic regression by SGD, one sample at a time with a constant rate ``eta0`` and L2 weight decay
    ``alpha`` (scikit-learn's SGDClassifier(loss="log_loss", learning_rate="constant")): it stays calibrated and
    keeps adapting.

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(3000, 2)); y = (X[:, 0] > 0).astype(int)
    >>> m = LogisticSGD(eta0=0.01).partial_fit(X, y)
    >>> bool(np.mean((m.predict_proba(X)[:, 1] >= 0.5) == y) > 0.95)
    True
    """

    def __init__(self, eta0: float = 0.002, alpha: float = 1e-3, random_state: int = 0):
        self.eta0, self.alpha = eta0, alpha

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return _two_columns(sigmoid(self.decision_function(X)))

    def partial_fit(self, X: np.ndarray, y: np.ndarray, classes=CLASSES) -> "LogisticSGD":
        self._start(X)
        w, b, eta, decay = self.coef, self.intercept, self.eta0, max(0.0, 1.0 - self.eta0 * self.alpha)
        for x, target in zip(X, y):  # scikit-learn's order: the margin, the decay, then the step
            error = 1.0 / (1.0 + np.exp(-(x @ w + b))) - target
            w *= decay
            w -= eta * error * x
            b -= eta * error
        self.intercept = float(b)
        return self


class PassiveAggressiveProba(_Linear):
    """Passive-Aggressive (PA-I, hinge loss) classifier whose margin is mapped to P(up) by an online Platt fit.

    Each sample that the margin gets wrong or by less than 1 moves the weights by min(``C``, loss / |x|^2)
    towards it (scikit-learn's SGDClassifier(loss="hinge", learning_rate="pa1")). ``C`` caps the step: PA-I's usual C = 1 lets every sample rewrite the weights -- on hourly
    direction, a coin flip per sample -- and scored 0.50-0.51 on every market tried; with C = 0.001 it still
    moves at once on a mistake, by little, and scored as well as the other learners. ``partial_fit`` is
    test-then-train for the calibrator too: the margins of a batch are taken before the classifier learns it,
    then the calibrator and the classifier learn the labels.
    """

    def __init__(self, C: float = 0.001, random_state: int = 0):
        self.C = C
        self.calibrator = PlattCalibrator()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return _two_columns(self.calibrator.predict(self.decision_function(X)))

    def partial_fit(self, X: np.ndarray, y: np.ndarray, classes=CLASSES) -> "PassiveAggressiveProba":
        if self.fitted:
            self.calibrator.update(self.decision_function(X), y)
        self._start(X)
        w, b = self.coef, self.intercept
        for x, target in zip(X, y):
            sign = 1.0 if target == 1 else -1.0
            loss, norm = 1.0 - sign * (x @ w + b), x @ x
            if loss > 0 and norm > 0:
                step = min(self.C, loss / norm) * sign
                w += step * x
                b += step
        self.intercept = float(b)
        return self


class OnlineMLP:
    """A multi-layer perceptron (ReLU hidden layers, logistic output) learning one pass per ``partial_fit``
    in minibatches of ``minibatch`` with Adam (scikit-learn's MLPClassifier(solver="adam") and its Glorot
    initialisation). A strong L2 penalty (``alpha`` 0.1): with the usual 1e-4 it chased noise and scored the
    worst log loss of all models on every market tried.

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(4000, 2)); y = (X[:, 0] * X[:, 1] > 0).astype(int)  # not linear
    >>> m = OnlineMLP(learning_rate_init=0.01)
    >>> for _ in range(5): m = m.partial_fit(X, y)
    >>> bool(np.mean((m.predict_proba(X)[:, 1] >= 0.5) == y) > 0.85)
    True
    """

    BETAS, EPSILON = (0.9, 0.999), 1e-8

    def __init__(self, hidden_layer_sizes=(50, 25), learning_rate_init: float = 0.001, minibatch: int = 16,
                 alpha: float = 0.1, random_state: int = 0):
        self.hidden, self.lr, self.minibatch, self.alpha = tuple(hidden_layer_sizes), learning_rate_init, minibatch, alpha
        self.random_state = random_state
        self.weights: list[np.ndarray] | None = None
        self.biases: list[np.ndarray] = []
        self.steps = 0

    @property
    def fitted(self) -> bool:
        return self.weights is not None

    def _start(self, n_inputs: int) -> None:
        rng = np.random.default_rng(self.random_state)
        sizes = (n_inputs, *self.hidden, 1)
        self.weights, self.biases = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            self.weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
            self.biases.append(rng.uniform(-bound, bound, fan_out))
        self._m = [np.zeros_like(p) for p in (*self.weights, *self.biases)]
        self._v = [np.zeros_like(p) for p in (*self.weights, *self.biases)]

    def _forward(self, X: np.ndarray) -> list[np.ndarray]:
        activations = [X]
        for weights, bias in zip(self.weights[:-1], self.biases[:-1]):
            activations.append(np.maximum(activations[-1] @ weights + bias, 0.0))
        activations.append(sigmoid(activations[-1] @ self.weights[-1] + self.biases[-1])[:, 0])
        return activations

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return _two_columns(self._forward(X)[-1])

    def partial_fit(self, X: np.ndarray, y: np.ndarray, classes=CLASSES) -> "OnlineMLP":
        if not self.fitted:
            self._start(X.shape[1])
        for start in range(0, len(X), self.minibatch):
            self._step(X[start:start + self.minibatch], np.asarray(y[start:start + self.minibatch], dtype=float))
        return self

    def _step(self, X: np.ndarray, y: np.ndarray) -> None:
        """One Adam step on the minibatch's mean log loss + alpha / 2 x |W|^2 / batch size."""
        n = len(X)
        activations = self._forward(X)
        delta = ((activations[-1] - y) / n)[:, None]
        grads_w, grads_b = [], []
        for layer in range(len(self.weights) - 1, -1, -1):
            grads_w.append(activations[layer].T @ delta + self.alpha * self.weights[layer] / n)
            grads_b.append(delta.sum(axis=0))
            if layer:
                delta = (delta @ self.weights[layer].T) * (activations[layer] > 0)
        grads = [*grads_w[::-1], *grads_b[::-1]]
        self.steps += 1
        beta1, beta2 = self.BETAS
        rate = self.lr * np.sqrt(1.0 - beta2 ** self.steps) / (1.0 - beta1 ** self.steps)
        for param, grad, m, v in zip((*self.weights, *self.biases), grads, self._m, self._v):
            m *= beta1
            m += (1.0 - beta1) * grad
            v *= beta2
            v += (1.0 - beta2) * grad * grad
            param -= rate * m / (np.sqrt(v) + self.EPSILON)


def make_model(name: str, random_state: int = 0):
    """A fresh, untrained learner called ``name`` (one of MODEL_NAMES)."""
    if name == "sgd":
        return LogisticSGD(random_state=random_state)
    if name == "passive_aggressive":
        return PassiveAggressiveProba(random_state=random_state)
    if name == "mlp_online":
        return OnlineMLP(random_state=random_state)
    raise KeyError(f"unknown online model {name!r}; have {MODEL_NAMES}")
