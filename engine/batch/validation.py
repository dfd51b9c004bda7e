"""Time-ordered hold-out split with a purge gap, the scores a batch model is judged by, and the
promotion rule (:func:`judge`), the same live (engine.batch.trainer) and in the walk-forward.
The hold-out judges a first version only; later ones are judged on their live record
(engine.batch.track).

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


def judge(metrics: dict, evidence: str, choice: str, records: dict[str, dict] | None = None) -> tuple[bool, str]:
    """(promote?, the decision in words) for a version whose serving candidate scored ``metrics`` (log loss beside
    the majority-class baseline's on the same rows) on its ``evidence``: "live" (the candidate's record on the
    bars after its earlier fits, engine.batch.track) or "hold-out". Never promoted when worse than the baseline
    there, not even as the first model. ``records``: every candidate's record, for the text.

    >>> base = {"log_loss": 0.69301}
    >>> judge({"log_loss": 0.69427, "baseline": base, "n": 400}, "hold-out", "90d")[1]
    "refused: the 90-day window's hold-out log loss 0.69427 over 400 rows is worse than the majority-class baseline 0.69301"
    >>> judge({"log_loss": 0.6921, "baseline": base, "n": 900}, "live", "90d trees")[1]
    "promoted: the 90-day trees' live log loss 0.69210 over 900 rows beats the majority-class baseline 0.69301"
    """
    from engine.batch.track import describe

    ours, baseline = metrics["log_loss"], metrics["baseline"]["log_loss"]
    named = describe(choice)
    what = f"the {named}{chr(39) if named.endswith('s') else chr(39) + 's'} {evidence} log loss"
    if ours is None or baseline is None:
        return False, f"refused: too few rows to judge {what} ({metrics.get('n', 0)})"
    others = ""
    if records and len(records) > 1:
        scored = [f"{d} {w['log_loss']:.5f}" for d, w in records.items() if w.get("log_loss") is not None]
        others = f" (live records: {', '.join(scored)})" if scored else ""
    if ours > baseline:
        return False, (f"refused: {what} {ours:.5f} over {metrics['n']} rows is worse than the majority-class "
                       f"baseline {baseline:.5f}{others}")
    return True, f"promoted: {what} {ours:.5f} over {metrics['n']} rows beats the majority-class baseline {baseline:.5f}{others}"
