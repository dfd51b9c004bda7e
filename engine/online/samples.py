"""What a valid training sample is: the 23 features, a 0/1 target, a known symbol and a source.

Rules (a failure raises ValidationError naming the field; a whole sample is checked at once by
:func:`check_sample`, which reports every field at fault in :class:`SampleErrors`, in words an operator
reads, never a Python type name):
- features: a mapping with every FEATURE_COLUMNS key and, optionally, other model inputs by name
  (engine.features.inputs: the optional groups, an operator's own); each value a finite int/float
  (numpy numbers too), never a bool or a string, and inside the range real markets produce
  (engine.features.inputs.PLAUSIBLE: rsi 0-100, return_1 -0.9..2, ...), so one absurd sample cannot
  reach a model.
- target: 0 or 1 as an int, or the floats 0.0 / 1.0 (JSON and label series give those);
  rejected: bools (True is almost always a client's type slip), strings like "1", 0.5, NaN.
- symbol: a string in config ``symbols``, matched case-insensitively, returned upper-case.
- source: one of SOURCES. open_time: None or an int epoch-ms (not a bool, not negative, not µs).
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from engine.candles import MICROS_THRESHOLD
from engine.errors import ValidationError
from engine.features import FEATURE_COLUMNS
from engine.features.inputs import PLAUSIBLE, reserved_names

SOURCES: tuple[str, ...] = ("candle", "trade", "api", "dashboard")


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _missing(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class SampleErrors(ValidationError):
    """Every field at fault in one sample, ``errors`` = {field: message} (target first, then symbol, then
    the features in FEATURE_COLUMNS order); ``field``/``message`` name the first."""

    def __init__(self, errors: dict[str, str]):
        field, message = next(iter(errors.items()))
        more = len(errors) - 1
        super().__init__(field, message + (f" (and {more} more field{'s' * (more > 1)})" if more else ""))
        self.message, self.errors = message, dict(errors)


def _plausible(name: str, value: float) -> str | None:
    low, high = PLAUSIBLE.get(name, (-np.inf, np.inf))
    return None if low <= value <= high else f"must be between {low:g} and {high:g} (the range real markets produce)"


def feature_errors(features, known: Sequence[str] | None = None) -> tuple[dict[str, float], dict[str, str]]:
    """({input: value} of the valid ones, the indicators first; {field: message} for each bad one), in words an
    operator reads: "required", "must be a number", "must be a finite number", "must be between ...",
    "unknown feature". ``known``: the inputs besides the indicators a sample may carry (default: every
    built-in one)."""
    if not isinstance(features, Mapping):
        return {}, {"features": "required" if features is None else
                    "must be an object mapping feature names to numbers"}
    extras = [n for n in (reserved_names() if known is None else known) if n not in FEATURE_COLUMNS]
    errors = {f"features.{name}": "unknown feature"
              for name in sorted(set(map(str, features)) - set(FEATURE_COLUMNS) - set(extras))}
    values = {}
    for name in (*FEATURE_COLUMNS, *extras):
        value = features.get(name)
        if name not in FEATURE_COLUMNS and name not in features:
            continue
        if _missing(value):
            errors[f"features.{name}"] = "required"
            continue
        if not _is_number(value):
            errors[f"features.{name}"] = "must be a number"
            continue
        try:
            value = float(value)
        except OverflowError:
            value = float("inf")
        problem = "must be a finite number" if not np.isfinite(value) else _plausible(name, value)
        if problem:
            errors[f"features.{name}"] = problem
            continue
        values[name] = value
    return values, errors


def check_features(features, known: Sequence[str] | None = None) -> dict[str, float]:
    """The valid inputs by name (see :func:`feature_errors`); SampleErrors naming every bad one."""
    values, errors = feature_errors(features, known)
    if errors:
        raise SampleErrors(errors)
    return values


def _target_error(target) -> str | None:
    if _missing(target):
        return "required"
    return None if _is_number(target) and float(target) in (0.0, 1.0) else "must be 0 or 1"


def _symbol_error(symbol, symbols: list[str]) -> str | None:
    if _missing(symbol):
        return f"required (one of {', '.join(symbols)})"
    ok = isinstance(symbol, str) and symbol.strip().upper() in symbols
    return None if ok else f"must be one of {', '.join(symbols)}"


def check_target(target, field: str = "target") -> int:
    error = _target_error(target)
    if error:
        raise ValidationError(field, error)
    return int(target)


def check_symbol(symbol, symbols: Iterable[str]) -> str:
    known = list(symbols)
    error = _symbol_error(symbol, known)
    if error:
        raise ValidationError("symbol", error)
    return symbol.strip().upper()


def check_sample(features, target, symbol, symbols: Iterable[str],
                 known: Sequence[str] | None = None) -> tuple[dict[str, float], int, str]:
    """One labelled sample checked whole: ({input: value}, target, symbol), or SampleErrors with every
    field at fault, target first.

    >>> try:
    ...     check_sample({"rsi": "high"}, None, "btcusdt", ["BTCUSDT"])
    ... except SampleErrors as exc:
    ...     list(exc.errors.items())[:3]
    [('target', 'required'), ('features.return_1', 'required'), ('features.momentum_10', 'required')]
    """
    values, feature_problems = feature_errors(features, known)
    errors = {field: error for field, error in (("target", _target_error(target)),
                                                ("symbol", _symbol_error(symbol, list(symbols)))) if error}
    errors.update(feature_problems)
    if errors:
        raise SampleErrors(errors)
    return values, int(target), symbol.strip().upper()


def check_source(source) -> str:
    if source not in SOURCES:
        raise ValidationError("source", f"must be one of {', '.join(SOURCES)}, got {source!r}")
    return source


def check_open_time(open_time, field: str = "open_time") -> int | None:
    if open_time is None:
        return None
    if (not isinstance(open_time, numbers.Integral) or isinstance(open_time, (bool, np.bool_))
            or not 0 <= open_time < MICROS_THRESHOLD):
        raise ValidationError(field, f"must be an epoch-millisecond integer or null, got {open_time!r}")
    return int(open_time)


def check_frame(X: pd.DataFrame, y, open_times=None,
                known: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[int | None], tuple[str, ...]]:
    """Bulk samples (computed from candles, so only checked for shape and finiteness): (X's values n x k, 0/1
    targets, open times or Nones, the k input names in ``known`` order). X holds every FEATURE_COLUMNS column
    and any other ``known`` inputs (default: every built-in one); NaN is allowed in the cross group's columns
    (no reference bar at that time)."""
    from engine.features.inputs import ALLOWED_NAN

    if not isinstance(X, pd.DataFrame):
        raise ValidationError("X", "must be a DataFrame with the FEATURE_COLUMNS columns")
    known = reserved_names() if known is None else tuple(known)
    unknown = [c for c in X.columns if c not in known]
    if unknown:
        raise ValidationError(f"X.{unknown[0]}", "unknown input column")
    for name in FEATURE_COLUMNS:
        if name not in X.columns:
            raise ValidationError(f"X.{name}", "missing column")
    for name in X.columns:
        if not pd.api.types.is_numeric_dtype(X[name]) or pd.api.types.is_bool_dtype(X[name]):
            raise ValidationError(f"X.{name}", f"must be numeric, got {X[name].dtype}")
    X = X[[name for name in known if name in X.columns]]
    values = X.to_numpy(dtype=float)
    bad = ~np.isfinite(values) & ~np.isin(np.array(X.columns), list(ALLOWED_NAN))[None, :]
    bad |= np.isinf(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValidationError(f"X.{X.columns[col]}", f"must be finite (row {row})")
    targets = np.asarray(y)
    if targets.shape != (len(values),):
        raise ValidationError("y", f"must hold one target per row ({len(values)}), got shape {targets.shape}")
    if len(targets) and (targets.dtype.kind not in "iuf" or not np.isin(targets, (0, 1)).all()):
        raise ValidationError("y", "targets must be 0 or 1")
    if open_times is None:
        times = [None] * len(values)
    else:
        times = list(open_times)
        if len(times) != len(values):
            raise ValidationError("open_times", f"must hold one time per row ({len(values)}), got {len(times)}")
        times = [check_open_time(t, "open_times") for t in times]
    return values, targets.astype(int), times, tuple(X.columns)
