"""A model's recent health: its last scored samples beside the majority-class baseline on the same rows.

Each scored sample keeps the model's log loss and whether it was right, and the same for the
majority-class baseline *known before that sample* (the Laplace-smoothed share of ups among the
labels learned earlier, as :func:`engine.metrics.baseline_probabilities` defines it); the summary
gives the verdict of engine.health on them. The outcome model may gate trades only while its
recent log loss is no worse than its baseline's over at least ``MIN_JUDGED`` samples
(:func:`exclusion_reason`).
"""
from __future__ import annotations

import math

import numpy as np

from engine.health import verdict
from engine.metrics import sample_log_loss

MIN_JUDGED = 100  # scored samples before a model's recent health is judged
MEMORY = 2000  # samples kept (the largest online_health_window)


def _mean_se(values: np.ndarray) -> tuple[float, float | None]:
    n = len(values)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else None


class RecentScores:
    """The newest ``MEMORY`` scored samples of one model (rows: loss, correct, baseline loss, baseline correct).

    >>> r = RecentScores()
    >>> r.add(np.array([0.9, 0.2]), np.array([1, 0]), base_rate=0.5)
    >>> s = r.summary(window=10)
    >>> s["n"], s["accuracy"], round(s["log_loss"], 3), s["baseline_accuracy"]
    (2, 1.0, 0.164, 0.5)
    """

    def __init__(self) -> None:
        self.rows = np.empty((0, 4), dtype=np.float32)  # float32 keeps the saved models small

    def add(self, p: np.ndarray, y: np.ndarray, base_rate: float) -> None:
        """Record a scored batch: the model's P(up) ``p``, labels ``y`` and the baseline's P(up) before it."""
        base = np.full(len(y), base_rate)
        rows = np.column_stack([sample_log_loss(y, p), (np.asarray(p) >= 0.5) == (y == 1),
                                sample_log_loss(y, base), (base >= 0.5) == (y == 1)])
        self.rows = np.concatenate([self.rows, rows.astype(np.float32)])[-MEMORY:]

    def summary(self, window: int) -> dict:
        """{"n", "accuracy", "accuracy_se", "log_loss", "log_loss_se", "baseline_accuracy", "baseline_log_loss",
        "verdict"} over the newest ``window`` samples (values None when there are none)."""
        rows = self.rows[-window:].astype(np.float64)
        out = {"n": len(rows)}
        if not len(rows):
            return out | dict.fromkeys(("accuracy", "accuracy_se", "log_loss", "log_loss_se", "baseline_accuracy",
                                        "baseline_log_loss")) | {"verdict": "too_few"}
        accuracy = float(rows[:, 1].mean())
        log_loss, log_loss_se = _mean_se(rows[:, 0])
        gap, gap_se = _mean_se(rows[:, 0] - rows[:, 2])
        return out | {"accuracy": accuracy, "accuracy_se": math.sqrt(accuracy * (1 - accuracy) / len(rows)),
                      "log_loss": log_loss, "log_loss_se": log_loss_se,
                      "baseline_accuracy": float(rows[:, 3].mean()), "baseline_log_loss": float(rows[:, 2].mean()),
                      "verdict": verdict(gap, gap_se, len(rows))}


def exclusion_reason(name: str, recent: dict, baseline: str = "the majority-class baseline's",
                     consequence: str = "weight 0 until it recovers") -> str | None:
    """Why ``name`` must not drive decisions (its recent log loss is worse than the baseline's on the
    same samples), or None (healthy, or fewer than MIN_JUDGED samples to judge)."""
    if recent["n"] < MIN_JUDGED or recent["log_loss"] <= recent["baseline_log_loss"]:
        return None
    return (f"{name}: log loss {recent['log_loss']:.4f} over its last {recent['n']} scored samples is worse than "
            f"{baseline} {recent['baseline_log_loss']:.4f}; {consequence}")
