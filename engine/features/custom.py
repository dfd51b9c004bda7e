"""An operator's own input group: a Python module named by the ``feature_module`` setting.

The module (a dotted module name on the server's path, or the path of a ``.py`` file) defines::

    NAMES = ("my_feature", ...)          # 1-20 new lower-case names
    def compute(candles):                # candles: DataFrame of CANDLE_COLUMNS, oldest first
        return {"my_feature": array}     # or a DataFrame; one value per candle, row t from bars <= t

It is loaded and checked once (:func:`load`), when the configuration naming it is validated -- at
start for the environment and the config file -- and refused with the reason, naming
``feature_module``: names that clash or are not identifiers, a compute that fails, returns the wrong
shape or non-numbers, leaves values missing after its first ``MAX_WARMUP`` rows, or **looks ahead**
(row t changes when later bars are added). Only the environment or the config file may name a module:
the API and the page cannot (importing a module runs its code). An example: docs/examples/my_features.py.
"""
from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from engine.errors import ValidationError

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_NAMES, MAX_WARMUP, CHECK_BARS = 20, 300, 700


@dataclass(frozen=True)
class CustomGroup:
    """A loaded, checked operator group: its module reference, ``names`` and ``compute``."""

    module: str
    names: tuple[str, ...]
    compute: Callable[[pd.DataFrame], object]

    def columns(self, candles: pd.DataFrame) -> dict[str, np.ndarray]:
        """Its columns for ``candles`` as float arrays."""
        return _columns(self.compute(candles), self.names, len(candles))


def _fail(message: str) -> ValidationError:
    return ValidationError("feature_module", message)


def _columns(result, names: tuple[str, ...], n: int) -> dict[str, np.ndarray]:
    if isinstance(result, pd.DataFrame):
        result = {c: result[c].to_numpy() for c in result.columns}
    if not isinstance(result, dict):
        raise _fail(f"compute() must return a dict or DataFrame of columns, got {type(result).__name__}")
    missing = [name for name in names if name not in result]
    if missing:
        raise _fail(f"compute() did not return {', '.join(missing)}")
    out = {}
    for name in names:
        try:
            column = np.asarray(result[name], dtype=float)
        except (TypeError, ValueError):
            raise _fail(f"compute() column {name} is not numbers") from None
        if column.shape != (n,):
            raise _fail(f"compute() column {name} has shape {column.shape}, expected ({n},): one value per candle")
        out[name] = column
    return out


def _import(module: str):
    if module.endswith(".py"):
        path = Path(module)
        if not path.is_file():
            raise _fail(f"no such file: {module}")
        spec = importlib.util.spec_from_file_location(f"hls_custom_features_{abs(hash(str(path.resolve())))}", path)
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return loaded
    return importlib.import_module(module)


def _stamp(module: str) -> float | None:
    return Path(module).stat().st_mtime if module.endswith(".py") and Path(module).is_file() else None


def load(module: str, reserved: tuple[str, ...]) -> CustomGroup:
    """The checked group of ``module``; ValidationError("feature_module") saying what is wrong. ``reserved``:
    the built-in input names its names must not repeat."""
    return _load(module, reserved, _stamp(module))


@lru_cache(maxsize=8)
def _load(module: str, reserved: tuple[str, ...], stamp: float | None) -> CustomGroup:
    try:
        loaded = _import(module)
    except ValidationError:
        raise
    except Exception as exc:  # an operator's module may raise anything while importing
        raise _fail(f"cannot import {module!r}: {type(exc).__name__}: {exc}") from None
    names, compute = getattr(loaded, "NAMES", None), getattr(loaded, "compute", None)
    if not isinstance(names, (tuple, list)) or not 1 <= len(names) <= MAX_NAMES:
        raise _fail(f"{module} must define NAMES, a tuple of 1-{MAX_NAMES} feature names")
    bad = [n for n in names if not isinstance(n, str) or not NAME.match(n)]
    if bad:
        raise _fail(f"{module}: NAMES must be lower-case identifiers (letters, digits, _), got {bad[0]!r}")
    clash = sorted(set(names) & set(reserved))
    if clash or len(set(names)) != len(names):
        raise _fail(f"{module}: NAMES must be new and unique; {', '.join(clash) or 'a name repeats'}")
    if not callable(compute):
        raise _fail(f"{module} must define compute(candles)")
    group = CustomGroup(module, tuple(names), compute)
    _check(group)
    return group


def _check(group: CustomGroup) -> None:
    """Run it on the bundled candles: values after the warm-up, and no look-ahead."""
    from engine.candles import load_sample
    from engine.paths import sample_files

    candles = load_sample(next(iter(sample_files()))).iloc[:CHECK_BARS].reset_index(drop=True)
    try:
        full = group.columns(candles)
        part = group.columns(candles.iloc[:CHECK_BARS // 2].reset_index(drop=True))
    except ValidationError:
        raise
    except Exception as exc:
        raise _fail(f"compute() failed on the bundled candles: {type(exc).__name__}: {exc}") from None
    for name, column in full.items():
        earlier = part[name]
        same = np.isclose(earlier, column[:len(earlier)], rtol=1e-9, atol=1e-12) | (np.isnan(earlier) & np.isnan(
            column[:len(earlier)]))
        if not same.all():
            row = int(np.argmin(same))
            raise _fail(f"compute() looks ahead: column {name} at row {row} changed when later candles were added "
                        "(row t may use bars <= t only)")
        if not np.isfinite(column[MAX_WARMUP:]).all():
            raise _fail(f"compute() column {name} has missing or infinite values after its first {MAX_WARMUP} rows")
