"""What the direction models see: the 23 indicators plus the groups the configuration enables.

``feature_groups`` names the optional groups (engine.features.groups: returns, flow, activity,
calendar, cross) and ``feature_module`` an operator's own (engine.features.custom); their columns
follow the indicators in a fixed order (:attr:`InputSpec.names`). Every model records the names it
was trained on, so a change of groups is noticed, never mixed up. A row is usable once the
indicators and every group are past their warm-up; the ``cross`` columns may stay NaN (no bar of
the reference symbol at that time), and the models read a NaN input as "at its usual value".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.features.custom import CustomGroup, load
from engine.features.groups import GROUPS, PLAUSIBLE as GROUP_RANGES, WARMUP, compute_group
from engine.features.indicators import (FEATURE_COLUMNS, HISTORY_BARS, PLAUSIBLE as INDICATOR_RANGES, WARMUP_BARS,
                                        compute_features, make_labels)

OPTIONAL_GROUPS = tuple(GROUPS)
ALLOWED_NAN = frozenset(GROUPS["cross"])
PLAUSIBLE = {**INDICATOR_RANGES, **GROUP_RANGES}  # an operator's own inputs need only be finite


def check_groups(groups: list) -> str | None:
    """The error message for a bad ``feature_groups`` list, or None."""
    unknown = [g for g in groups if g not in OPTIONAL_GROUPS]
    if unknown:
        return f"unknown group {unknown[0]!r}; groups are {', '.join(OPTIONAL_GROUPS)} (the indicators are always on)"
    return None if len(set(groups)) == len(groups) else "must not repeat a group"


@dataclass(frozen=True)
class InputSpec:
    """The enabled optional ``groups`` (in OPTIONAL_GROUPS order) and the operator's ``custom`` group."""

    groups: tuple[str, ...] = ()
    custom: CustomGroup | None = None

    @property
    def names(self) -> tuple[str, ...]:
        extra = tuple(name for group in self.groups for name in GROUPS[group])
        return FEATURE_COLUMNS + extra + (self.custom.names if self.custom else ())

    @property
    def warmup(self) -> int:
        """Leading rows without every required input."""
        return max([WARMUP_BARS] + [WARMUP[g] for g in self.groups])

    @property
    def needs_reference(self) -> bool:
        return "cross" in self.groups


def reserved_names() -> tuple[str, ...]:
    """Every built-in input name (an operator's group must not repeat one)."""
    return FEATURE_COLUMNS + tuple(n for g in OPTIONAL_GROUPS for n in GROUPS[g])


def spec(config: dict) -> InputSpec:
    """The inputs ``config`` enables (``feature_groups``, ``feature_module``)."""
    groups = tuple(g for g in OPTIONAL_GROUPS if g in config.get("feature_groups", ()))
    module = config.get("feature_module") or ""
    return InputSpec(groups, load(module, reserved_names()) if module else None)


def compute_inputs(candles: pd.DataFrame, inputs: InputSpec, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every input of ``inputs`` for each candle (index open_time); ``reference``: the cross group's candles."""
    frame = compute_features(candles)
    extra = {}
    for group in inputs.groups:
        extra.update(compute_group(group, candles, reference))
    if inputs.custom is not None:
        extra.update(inputs.custom.columns(candles.reset_index(drop=True)))
    if extra:
        frame = pd.concat([frame, pd.DataFrame(extra, index=frame.index)], axis=1)
        frame.iloc[:inputs.warmup] = np.nan
    return frame


def usable(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose inputs are all known (the cross group's may be missing)."""
    required = [c for c in frame.columns if c not in ALLOWED_NAN]
    return np.isfinite(frame[required].to_numpy()).all(axis=1)


def build_inputs(candles: pd.DataFrame, horizon: int, inputs: InputSpec,
                 reference: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """(X, y) like engine.features.build_dataset, with every input of ``inputs``."""
    frame = compute_inputs(candles, inputs, reference)
    labels = make_labels(pd.Series(candles["close"].to_numpy(dtype=np.float64), index=frame.index), horizon)
    keep = usable(frame) & labels.notna().to_numpy()
    return frame[keep], labels[keep].astype(np.int64)


def latest_inputs(candles: pd.DataFrame, inputs: InputSpec,
                  reference: pd.DataFrame | None = None) -> tuple[int, dict[str, float]]:
    """(open_time, {input: value}) of the last candle (engine.features.latest_features with every input)."""
    from engine.errors import NotReady

    tail = candles.iloc[-(HISTORY_BARS + 1):].reset_index(drop=True)
    if len(tail) <= inputs.warmup:
        raise NotReady(f"features need {inputs.warmup + 1} candles, got {len(tail)}")
    if reference is not None:
        reference = reference[reference["open_time"] >= int(tail["open_time"].iat[0]) - 100 * 86_400_000]
    frame = compute_inputs(tail, inputs, reference)
    return int(frame.index[-1]), {name: float(v) for name, v in frame.iloc[-1].items()}


def reference_candles(store, config: dict, symbol: str, start_ms: int | None, end_ms: int | None):
    """The cross group's candles for ``symbol`` from ``store`` (engine.store.CandleStore): the
    ``cross_reference_symbol``'s bars in [start_ms, end_ms], None for the reference itself."""
    ref = config.get("cross_reference_symbol")
    if not ref or ref == symbol:
        return None
    return store.range(ref, config["interval"], start_ms, end_ms)
