"""Helpers for the dashboard tests: component-tree text, and engine-shaped sample data."""
from __future__ import annotations

from typing import Any

HOUR = 3_600_000
T0 = 1_700_000_000_000  # a fixed instant (2023-11-14 22:13 UTC)


def text_of(node: Any) -> str:
    """All text in a Dash component tree, space separated."""
    if node is None or isinstance(node, bool):
        return ""
    if isinstance(node, (str, int, float)):
        return str(node)
    if isinstance(node, (list, tuple)):
        return " ".join(filter(None, (text_of(n) for n in node)))
    return text_of(getattr(node, "children", None))


def find(node: Any, id: Any) -> Any:
    """The component with ``id`` in a tree, or None."""
    if isinstance(node, (list, tuple)):
        for n in node:
            hit = find(n, id)
            if hit is not None:
                return hit
        return None
    if getattr(node, "id", None) == id:
        return node
    children = getattr(node, "children", None)
    return None if children is None else find(children, id)


def sample_status(replaying: bool = True, **changes) -> dict:
    """A status() answer shaped exactly as the system contract says."""
    status = {
        "running": True, "time": T0,
        "batch_model": {"loaded": True, "version": 3, "trained_at": T0 - 2 * HOUR, "age_s": 7200.0,
                        "metrics": {"accuracy": 0.531}},
        "data_collection": {"enabled": True, "source": "replay" if replaying else "live", "replaying": replaying,
                            "reason": "Binance unreachable" if replaying else None,
                            "symbols": {"BTCUSDT": {"last_open_time": T0 - HOUR, "lag_ms": 90_000, "rows": 720},
                                        "ETHUSDT": {"last_open_time": T0 - 2 * HOUR, "lag_ms": 150_000, "rows": 700}},
                            "last_error": None},
        "last_retrain": {"time": T0 - 2 * HOUR, "outcome": "ok", "promoted": True, "version": 3},
        "next_runs": {"collect": T0 + 5_000, "online_update": T0 + 30_000, "batch_retrain": None},
        "jobs": {}, "buffer": {"size": 420, "max": 1000, "pending": 12},
        "alerts": [{"level": "danger", "kind": "job_failed", "message": "last collect run failed: boom", "time": T0},
                   {"level": "warning", "kind": "drift", "message": "concept drift detected for sgd", "time": T0 - 1}],
        "config": {"label_horizon": 1},
    }
    status.update(changes)
    return status


def sample_prediction_row(open_time: int, outcome: int | None, ensemble: int, batch: int | None,
                          symbol: str = "BTCUSDT", scored_at: int | None = None) -> dict:
    """A HybridEnsemble.history() row."""
    preds = {"sgd": ensemble, "passive_aggressive": 1 - ensemble, "mlp_online": None, "batch": batch,
             "ensemble": ensemble}
    return {"symbol": symbol, "interval": "1h", "open_time": open_time, "horizon": 1, "created_at": open_time,
            "status": "ok", "close": 100.0, "probabilities": {m: None if p is None else 0.5 + 0.2 * (p - 0.5)
                                                              for m, p in preds.items()},
            "predictions": preds, "ensemble_prediction": ensemble, "model_versions": {}, "outcome": outcome,
            "scored_at": None if outcome is None else (scored_at or open_time + HOUR),
            "correct": {m: None if outcome is None or p is None else p == outcome for m, p in preds.items()}}
