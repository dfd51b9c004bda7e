"""How much each model's P(up) counts in the hybrid, bar by bar, from what is known at that bar. Pure.

Two modes (config ``hybrid_mode``):

- ``fixed`` -- the seed's rule: the batch model gets ``ensemble_weight_batch`` and the online models
  share ``ensemble_weight_online``; a model whose log loss over the health window is worse than the
  majority-class baseline's gets weight 0 until it recovers (:func:`excluded`); with none left, the
  hybrid abstains.
- ``adaptive`` -- exponentially weighted Bayesian model averaging (Hedge on the log loss): each voter's
  weight is its prior share (the fixed weights, and ``ABSTAIN_PRIOR`` for **abstain**, a voter that
  always says P(up) = 1/2) times exp(-eta x its discounted log loss on the scored bars), the discount
  halving every ``hybrid_memory_days``. A model that predicted the recent bars better gains weight at
  once, an untrained or silent one is charged abstain's loss (no evidence either way), and on a market
  with nothing to learn abstain takes over: the hybrid's calls shrink towards 1/2 instead of paying for
  noise. Its regret against the best voter is bounded (log loss is exp-concave), so it is never much
  worse than its best part. (Abstaining at 1/2 rather than at the majority class's up-share: on the
  scenario markets and BTC/ETH it scored a little better in accuracy and log loss, and it never flips a
  call to the majority side.)

Both take the same inputs: each model's P(up) per bar (NaN: no answer) and the labels, of which the
label of bar s counts from bar s + ``lag`` on; the walk-forward passes whole histories, the live
hybrid the scored rows of the prediction log.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from engine.metrics import sample_log_loss

MODELS = ("sgd", "passive_aggressive", "mlp_online", "batch")
VOTERS = (*MODELS, "abstain")
MODES = ("fixed", "adaptive")
ABSTAIN_PRIOR = 0.2
ETA = 0.5


def priors(weights: dict) -> np.ndarray:
    """Prior shares over VOTERS from the fixed weights {"batch", "online"}: the online share split three ways,
    ABSTAIN_PRIOR for abstain.

    >>> priors({"batch": 0.7, "online": 0.3}).round(3).tolist()
    [0.08, 0.08, 0.08, 0.56, 0.2]
    """
    shares = np.array([weights["online"] / 3] * 3 + [weights["batch"]], dtype=float)
    if shares.sum() <= 0:
        shares[:] = 1.0
    return np.append(shares / shares.sum() * (1.0 - ABSTAIN_PRIOR), ABSTAIN_PRIOR)


def with_abstain(P: np.ndarray) -> np.ndarray:
    """The models' (n, 4) answers with abstain's 1/2 as a fifth column."""
    return np.column_stack([P, np.full(len(P), 0.5)])


def discounted_losses(P: np.ndarray, y: np.ndarray, halflife: float, lag: int) -> np.ndarray:
    """(n, k) each voter's discounted log loss over the bars whose labels are known at each bar (<= t - lag);
    a voter without an answer on a bar is charged abstain's loss there (log 2)."""
    known = np.isfinite(y)
    losses = np.empty(P.shape)
    for j in range(P.shape[1]):
        answered = np.isfinite(P[:, j]) & known
        own = sample_log_loss(np.where(known, y, 0.0), np.where(answered, P[:, j], 0.5))
        losses[:, j] = np.where(known, own, 0.0)
    decay = 0.5 ** (1.0 / halflife)
    running = lfilter([1.0], [1.0, -decay], losses, axis=0)
    out = np.zeros(P.shape)
    out[lag:] = running[:len(P) - lag]
    return out


def adaptive(P: np.ndarray, y: np.ndarray, prior: np.ndarray, halflife: float, lag: int = 1,
             eta: float = ETA) -> np.ndarray:
    """(n, len(VOTERS)) weights per bar: P holds the models' P(up) (n, 4, NaN: no answer); a voter without an
    answer on a bar gets 0 there and the rest are renormalised.

    >>> P = np.array([[0.9, np.nan, 0.5, 0.5]] * 40); y = np.ones(40)
    >>> w = adaptive(P, y, priors({"batch": 0.7, "online": 0.3}), halflife=100)
    >>> bool(w[-1, 0] > 0.9), float(w[-1, 1])  # sgd called every up right; passive_aggressive never answered
    (True, 0.0)
    """
    full = with_abstain(P)
    totals = discounted_losses(full, y, halflife, lag)
    answered = np.isfinite(full)
    totals = np.where(answered, totals, np.inf)
    best = np.min(totals, axis=1, keepdims=True)
    best = np.where(np.isfinite(best), best, 0.0)
    raw = np.where(answered, prior * np.exp(-eta * (totals - best)), 0.0)
    norm = raw.sum(axis=1, keepdims=True)
    return np.divide(raw, norm, out=np.zeros_like(raw), where=norm > 0)


def fixed(P: np.ndarray, weights: dict, excluded: np.ndarray | None = None) -> np.ndarray:
    """(n, len(VOTERS)) the seed's shares per bar among the models that answered and are not ``excluded``
    ((n, 4) bools); where none may vote, abstain alone.

    >>> fixed(np.array([[0.4, np.nan, 0.6, 0.8]]), {"batch": 0.7, "online": 0.3}).round(2).tolist()
    [[0.15, 0.0, 0.15, 0.7, 0.0]]
    """
    voting = np.isfinite(P) & (True if excluded is None else ~excluded)
    online = voting[:, :3]
    raw = np.zeros((len(P), len(VOTERS)))
    raw[:, :3] = np.where(online, weights["online"] / np.maximum(online.sum(axis=1, keepdims=True), 1), 0.0)
    raw[:, 3] = np.where(voting[:, 3], weights["batch"], 0.0)
    total = raw.sum(axis=1, keepdims=True)
    equal = voting.sum(axis=1, keepdims=True)
    raw = np.where((total <= 0) & (equal > 0), np.where(np.c_[voting, np.zeros(len(P), bool)], 1.0, 0.0), raw)
    raw[:, 4] = np.where(raw[:, :4].sum(axis=1) > 0, 0.0, 1.0)
    return raw / raw.sum(axis=1, keepdims=True)


def combine(P: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The hybrid's P(up) per bar: the weighted mean of the voters' answers (abstain's is 1/2)."""
    return np.sum(np.where(weights > 0, weights * np.nan_to_num(with_abstain(P), nan=0.5), 0.0), axis=1)


def excluded(P: np.ndarray, y: np.ndarray, baseline: np.ndarray, window: int, lag: int = 1,
             min_judged: int = 100) -> np.ndarray:
    """(n, 4) whether each model must sit out at each bar (fixed mode): over its last ``window`` scored bars
    known then (labels of bars <= t - lag it answered), its log loss is worse than the majority-class
    baseline's on the same bars, judged from ``min_judged`` bars on.

    >>> P = np.column_stack([np.full(300, 0.9), np.full(300, 0.5), np.full(300, np.nan), np.full(300, 0.6)])
    >>> excluded(P, np.zeros(300), np.full(300, 0.5), window=200)[-1].tolist()  # sgd says up, it is always down
    [True, False, False, True]
    """
    known = np.isfinite(y)
    yy = np.where(known, y, 0.0)
    base_loss = sample_log_loss(yy, np.clip(baseline, 1e-6, 1 - 1e-6))
    out = np.zeros(P.shape, dtype=bool)
    ends = np.arange(len(P)) - lag  # the newest bar whose label is known at each bar
    for j in range(P.shape[1]):
        mask = np.isfinite(P[:, j]) & known
        count = np.cumsum(mask)
        gap = np.cumsum(np.where(mask, sample_log_loss(yy, np.where(mask, P[:, j], 0.5)) - base_loss, 0.0))
        valid = ends >= 0
        seen = np.where(valid, count[np.maximum(ends, 0)], 0)
        start = np.searchsorted(count, seen - window, side="right")  # first bar inside the window
        before = np.where(seen > window, gap[np.maximum(start - 1, 0)], 0.0)
        window_gap = np.where(valid, gap[np.maximum(ends, 0)] - before, 0.0)
        out[:, j] = (np.minimum(seen, window) >= min_judged) & (window_gap > 0)
    return out
