"""Binary-classification scores with standard errors, and the baselines models must beat.

Labels are 1 (close went up) / 0; a probability is P(up) and predicts up when it is >= 0.5
(:func:`to_prediction`, the one threshold rule used everywhere). Standard errors treat
predictions as independent: binomial for accuracy, per-class binomial for balanced accuracy,
sample std / sqrt(n) for the per-sample losses.

Baselines are computed from the label array alone, positionally, so they cannot peek: the
prediction for bar t uses only labels of bars <= t - horizon (the ones known at t).
"""
from __future__ import annotations

import math

import numpy as np

EPS = np.finfo(np.float64).eps  # the clipping sklearn's log_loss applies to float64 input
BASELINES = ("majority_class", "always_up", "persistence", "reversal")


def to_prediction(prob):
    """1 (up) where P(up) >= 0.5, else 0; works on floats and arrays."""
    if isinstance(prob, np.ndarray):
        return (prob >= 0.5).astype(np.int8)
    return int(prob >= 0.5)


def _arrays(y, prob) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    prob = np.asarray(prob, dtype=np.float64)
    if y.shape != prob.shape:
        raise ValueError(f"labels and probabilities differ in shape: {y.shape} vs {prob.shape}")
    return y, prob


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    n = values.size
    if n == 0:
        return math.nan, math.nan
    se = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return float(values.mean()), se


def accuracy(y, pred) -> tuple[float, float]:
    """(share of correct predictions, binomial standard error)."""
    y, pred = _arrays(y, pred)
    n = y.size
    if n == 0:
        return math.nan, math.nan
    acc = float(np.mean(y == pred))
    return acc, math.sqrt(acc * (1.0 - acc) / n)


def balanced_accuracy(y, pred) -> tuple[float, float]:
    """(mean recall over the classes present, standard error of that mean)."""
    y, pred = _arrays(y, pred)
    recalls, variances = [], []
    for cls in (0.0, 1.0):
        mask = y == cls
        n_cls = int(mask.sum())
        if n_cls:
            r = float(np.mean(pred[mask] == cls))
            recalls.append(r)
            variances.append(r * (1.0 - r) / n_cls)
    if not recalls:
        return math.nan, math.nan
    k = len(recalls)
    return float(sum(recalls) / k), math.sqrt(sum(variances)) / k


def sample_log_loss(y, prob) -> np.ndarray:
    """Each sample's negative log-likelihood; probabilities clipped like sklearn."""
    y, prob = _arrays(y, prob)
    p = np.clip(prob, EPS, 1.0 - EPS)
    return -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


def log_loss(y, prob) -> tuple[float, float]:
    """(mean negative log-likelihood, standard error); probabilities clipped like sklearn."""
    return _mean_se(sample_log_loss(y, prob))


def brier(y, prob) -> tuple[float, float]:
    """(mean squared error of P(up), standard error)."""
    y, prob = _arrays(y, prob)
    return _mean_se((prob - y) ** 2)


def summarize(y, prob) -> dict:
    """All four scores with standard errors for the rows where both label and probability exist.

    >>> s = summarize([1, 0, 1, 1], [0.9, 0.2, 0.4, None])
    >>> s["n"], s["accuracy"]
    (3, 0.6666666666666666)
    """
    y = np.asarray(y, dtype=np.float64)
    prob = np.asarray(prob, dtype=np.float64)
    keep = np.isfinite(y) & np.isfinite(prob)
    y, prob = y[keep], prob[keep]
    pred = to_prediction(prob)
    out: dict = {"n": int(y.size)}
    for name, (value, se) in (("accuracy", accuracy(y, pred)), ("balanced_accuracy", balanced_accuracy(y, pred)),
                              ("log_loss", log_loss(y, prob)), ("brier", brier(y, prob))):
        out[name] = None if math.isnan(value) else value
        out[f"{name}_se"] = None if math.isnan(se) else se
    return out


def paired_accuracy(y, p_a, p_b) -> dict:
    """How much more often ``p_a``'s calls are right than ``p_b``'s on the same rows (both answered, label
    known): {"difference", "se", "n"}; the standard error is the paired one (rows where both are right or both
    wrong add nothing but n).

    >>> paired_accuracy([1, 0, 1, 1], [0.9, 0.2, 0.7, 0.4], [0.6, 0.7, 0.2, 0.4])["difference"]
    0.5
    """
    y, a, b = (np.asarray(v, dtype=np.float64) for v in (y, p_a, p_b))
    keep = np.isfinite(y) & np.isfinite(a) & np.isfinite(b)
    d = (to_prediction(a[keep]) == y[keep]).astype(float) - (to_prediction(b[keep]) == y[keep]).astype(float)
    mean, se = _mean_se(d)
    return {"difference": None if math.isnan(mean) else mean, "se": None if math.isnan(se) else se, "n": int(d.size)}


def _known_before(y: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """(ups, count) of the labels known at each bar t: those of bars 0 .. t - horizon."""
    finite = np.isfinite(y)
    ups = np.cumsum(np.where(finite, y, 0.0))
    count = np.cumsum(finite)
    shifted_ups, shifted_count = np.zeros_like(ups), np.zeros_like(count)
    shifted_ups[horizon:], shifted_count[horizon:] = ups[:-horizon], count[:-horizon]
    return shifted_ups, shifted_count


def baseline_probabilities(y, horizon: int) -> dict[str, np.ndarray]:
    """P(up) per bar for each baseline, using only labels known at that bar.

    - majority_class: share of ups among the known labels (Laplace-smoothed, so it predicts the
      majority class and never says 0 or 1);
    - always_up: 1.0 (a hard prediction; its log loss shows the cost of certainty);
    - persistence: the last known direction, i.e. the label of bar t - horizon (1.0 / 0.0),
      0.5 before any label is known;
    - reversal: the opposite of persistence (hourly crypto mean-reverts: BTC 1h scores ~0.54 with it).

    >>> b = baseline_probabilities([1, 1, 0, 0], horizon=1)
    >>> b["persistence"].tolist(), b["reversal"].tolist()
    ([0.5, 1.0, 1.0, 0.0], [0.5, 0.0, 0.0, 1.0])
    """
    if horizon < 1:
        raise ValueError("horizon must be >= 1")
    y = np.asarray(y, dtype=np.float64)
    ups, count = _known_before(y, horizon)
    persistence = np.full(y.size, 0.5)
    last = y[:-horizon] if horizon < y.size else y[:0]
    persistence[horizon:] = np.where(np.isfinite(last), last, 0.5)
    return {
        "majority_class": (ups + 1.0) / (count + 2.0),
        "always_up": np.ones(y.size),
        "persistence": persistence,
        "reversal": 1.0 - persistence,
    }
