"""Time-ordered hold-out split with a purge gap, the scores a batch model is judged by, and the
promotion rule (:func:`judge`), the same live (engine.batch.trainer) and in the walk-forward.

No shuffling: the hold-out is the most recent rows. A row's label looks ``horizon`` bars
ahead, so a training row is kept only if the bar that decides its label opened before the
first hold-out bar (``label_time < first hold-out open_time``): the ``horizon`` rows just
before the hold-out form the gap and are used for neither.
"""
from __future__ import annotations

import numpy as np

from engine.metrics import summarize

HOLDOUT_FRACTION = 0.2


def holdout_split(open_time: np.ndarray, label_time: np.ndarray,
                  fraction: float = HOLDOUT_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """(train, holdout) row indices for one series sorted by open_time.

    >>> t = np.arange(10) * 10
    >>> train, test = holdout_split(t, t + 10, fraction=0.3)  # horizon 1: label bar = next bar
    >>> train.tolist(), test.tolist()
    ([0, 1, 2, 3, 4, 5], [7, 8, 9])
    """
    n = len(open_time)
    n_test = int(round(n * fraction))
    if n_test == 0:
        return np.arange(n), np.arange(0)
    first_test = n - n_test
    train = np.flatnonzero(np.asarray(label_time[:first_test]) < open_time[first_test])
    return train, np.arange(first_test, n)


def score(y: np.ndarray, p_up: np.ndarray, base_rate: float) -> dict:
    """engine.metrics.summarize of P(up) ``p_up`` against 0/1 ``y`` (n, accuracy, balanced accuracy,
    log loss, Brier, each with its standard error), plus the majority-class baseline on the same
    rows as ``baseline``: the training up-rate ``base_rate`` as a constant probability, so it
    predicts the training majority class (no peeking at ``y``).

    >>> s = score(np.array([1, 1, 0]), np.array([0.9, 0.6, 0.2]), base_rate=0.6)
    >>> s["accuracy"], s["baseline"]["accuracy"]
    (1.0, 0.6666666666666666)
    """
    out = summarize(y, p_up)
    out["up_rate"] = float(np.mean(y)) if len(y) else None
    out["baseline"] = summarize(y, np.full(len(y), float(base_rate)))
    return out


def judge(metrics: dict, champion_metrics: dict | None, champion_version: int | None = None,
          champion_serves: bool = True) -> tuple[bool, str]:
    """(promote?, the decision in words) for a challenger scored ``metrics`` (see :func:`score`) on its
    hold-out, against the champion scored on the same rows (None: no champion).

    A challenger whose hold-out log loss is worse than the majority-class baseline's is never promoted,
    not even as the first model. Otherwise it replaces a missing champion, one that does not beat its
    own baseline (``champion_serves`` False), or one whose log loss on these rows is no better.

    >>> base = {"log_loss": 0.69301}
    >>> judge({"log_loss": 0.69427, "baseline": base}, None)
    (False, 'refused: hold-out log loss 0.69427 is worse than the majority-class baseline 0.69301')
    >>> judge({"log_loss": 0.69, "baseline": base}, {"log_loss": 0.688}, 3)
    (False, 'kept the active model: hold-out log loss 0.69000 vs v3 0.68800')
    """
    ours, baseline = metrics["log_loss"], metrics["baseline"]["log_loss"]
    if ours > baseline:
        return False, f"refused: hold-out log loss {ours:.5f} is worse than the majority-class baseline {baseline:.5f}"
    if champion_metrics is None:
        return True, f"promoted: no active model (hold-out log loss {ours:.5f}, baseline {baseline:.5f})"
    if not champion_serves:
        return True, f"promoted: the active v{champion_version} does not beat its baseline"
    promote = ours <= champion_metrics["log_loss"]
    verdict = "promoted" if promote else "kept the active model"
    return promote, f"{verdict}: hold-out log loss {ours:.5f} vs v{champion_version} {champion_metrics['log_loss']:.5f}"
