"""The one validated configuration: defaults, validation, atomic persistence, profiles, env overrides.

Every way of changing settings (dashboard sliders, REST API, profile files, environment)
goes through :func:`validate`, which rejects bad values with a message naming the field
and never changes anything on failure.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from engine.atomic import atomic_write_json, file_stamp
from engine.errors import ValidationError

ENV_PREFIX = "HLS_"
DEPLOYMENT_ONLY = ("feature_module",)  # importing a module runs its code: never set through the API or the page  # e.g. HLS_ENSEMBLE_WEIGHT_BATCH=0.6 overrides ensemble_weight_batch
PROFILE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
SYMBOL = re.compile(r"^[A-Z0-9]{5,20}$")
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
DATA_SOURCES = ("auto", "live", "replay")


class ConfigError(ValidationError):
    """A rejected setting; ``field`` names it."""


@dataclass(frozen=True)
class Field:
    default: Any
    kind: type
    check: Callable[[Any], str | None] = lambda v: None  # returns an error message or None
    help: str = ""
    item: Callable[[str], str] = str.upper  # lists: how each string item is written (symbols: upper case)


def _range(lo: float, hi: float) -> Callable[[Any], str | None]:
    return lambda v: None if lo <= v <= hi else f"must be between {lo} and {hi}"


def _symbols(v: list) -> str | None:
    if not v or not all(isinstance(s, str) and SYMBOL.match(s) for s in v):
        return "must be a non-empty list of upper-case symbols like BTCUSDT"
    return None if len(set(v)) == len(v) else "must not repeat a symbol"


def _feature_groups(v: list) -> str | None:
    from engine.features.inputs import check_groups

    if not all(isinstance(g, str) for g in v):
        return "must be a list of group names"
    return check_groups(v)


def _feature_module(v: str) -> str | None:
    if not v:
        return None
    from engine.features.custom import load
    from engine.features.inputs import reserved_names

    try:
        load(v, reserved_names())
    except ValidationError as exc:
        return exc.message
    return None


def _hhmm(v: str) -> str | None:
    m = re.fullmatch(r"(\d{2}):(\d{2})", v)
    return None if m and int(m[1]) < 24 and int(m[2]) < 60 else "must be HH:MM (24h, UTC)"


SCHEMA: dict[str, Field] = {
    # scheduling
    "data_collection_interval_minutes": Field(5, float, _range(0.05, 1440), "collect candles every N minutes"),
    "online_update_interval_minutes": Field(30, float, _range(0.05, 1440), "online update every N minutes"),
    "batch_retrain_interval_hours": Field(24, float, _range(0.01, 720), "batch retrain every N hours"),
    "evaluation_interval_minutes": Field(60, float, _range(0.05, 1440), "score predictions every N minutes"),
    "cleanup_time": Field("02:00", str, _hhmm, "daily retention cleanup, UTC"),
    "data_collection_enabled": Field(True, bool, help="run the collection job"),
    "auto_retrain_enabled": Field(True, bool, help="run the batch retrain job"),
    # learning
    "min_data_points_for_update": Field(50, int, _range(1, 100_000), "new samples needed before an online update"),
    "buffer_size": Field(1000, int, _range(10, 1_000_000), "rolling online training buffer"),
    "label_horizon": Field(1, int, _range(1, 100), "predict close[t+h] > close[t]"),
    "batch_window_days": Field(90, int, _range(7, 3650), "batch model training window"),
    "batch_keep_versions": Field(5, int, _range(1, 100), "batch model files kept for rollback"),
    "ensemble_weight_batch": Field(0.7, float, _range(0.0, 1.0), "batch model's share of the vote"),
    "ensemble_weight_online": Field(0.3, float, _range(0.0, 1.0), "online models' share of the vote"),
    "hybrid_mode": Field("adaptive", str, lambda v: None if v in ("fixed", "adaptive") else "must be fixed or adaptive",
                         "fixed: the weights above; adaptive: each model's share follows its recent log loss, "
                         "the weights above as the starting point"),
    "hybrid_memory_days": Field(30.0, float, _range(1.0, 3650.0),
                                "adaptive mode: a scored bar's evidence counts half after this many days"),
    "online_health_window": Field(500, int, _range(100, 2000),
                                  "an online model is judged on its last N scored samples (weight 0 while its "
                                  "log loss is worse than the majority-class baseline's)"),
    "feature_groups": Field(["returns", "flow"], list, _feature_groups,
                            "input groups beside the 23 indicators: returns, flow, activity, calendar, cross",
                            item=str.lower),
    "feature_module": Field("", str, _feature_module,
                            "an operator's own input group: a module name or .py path defining NAMES and "
                            "compute(candles) (environment or config file only)"),
    "cross_reference_symbol": Field("BTCUSDT", str, lambda v: None if SYMBOL.match(v) else
                                    "must be an upper-case symbol like BTCUSDT",
                                    "the symbol whose returns the cross group gives the others"),
    # data
    "symbols": Field(["BTCUSDT", "ETHUSDT"], list, _symbols, "symbols to collect and predict"),
    "interval": Field("1h", str, lambda v: None if v in INTERVALS else f"must be one of {', '.join(INTERVALS)}"),
    "data_source": Field("auto", str, lambda v: None if v in DATA_SOURCES else "must be auto, live or replay",
                         "auto: Binance, falling back to the bundled replay when unreachable"),
    "binance_base_url": Field("https://api.binance.com", str,
                              lambda v: None if re.match(r"^https?://[^\s/]+", v) else "must be an http(s) URL"),
    "backfill_days": Field(30, int, _range(1, 3650), "days to backfill on first start"),
    "replay_speed": Field(1800.0, float, _range(1.0, 1e7), "replayed market seconds per real second"),
    "candle_retention_days": Field(3650, int, _range(30, 100_000), "delete older candles (models' windows kept)"),
    "prediction_retention_days": Field(365, int, _range(1, 100_000), "delete older predictions and job runs"),
    # paper trading
    "signal_confidence_threshold": Field(0.55, float, _range(0.5, 1.0), "min confidence for a LONG/SHORT signal"),
    "trade_stake_usdt": Field(1000.0, float, _range(1.0, 1e9), "paper position size"),
    "trade_fee_pct": Field(0.1, float, _range(0.0, 5.0), "fee per side, percent"),
    "trade_slippage_pct": Field(0.05, float, _range(0.0, 5.0), "slippage per side, percent"),
    "take_profit_pct": Field(2.0, float, _range(0.01, 100.0), "take-profit distance, percent"),
    "stop_loss_pct": Field(1.0, float, _range(0.01, 100.0), "stop-loss distance, percent"),
    "max_holding_bars": Field(24, int, _range(1, 10_000), "close a trade after N bars"),
    "max_open_trades_per_symbol": Field(1, int, _range(1, 100), "open paper trades per symbol"),
    "cost_gate_enabled": Field(True, bool, help="trade only when the hybrid's expected move exceeds the round-trip "
                                                "fees and slippage"),
    "expected_move_window_bars": Field(720, int, _range(24, 100_000),
                                       "bars whose mean absolute label move sizes the expected move"),
    "outcome_gate_enabled": Field(True, bool, help="trade only when the outcome model's P(profitable) reaches "
                                                   "the threshold"),
    "outcome_threshold": Field(0.5, float, _range(0.0, 1.0), "outcome model P(profitable) a signal needs (fixed, "
                                                             "or until the automatic choice has data)"),
    "outcome_threshold_auto": Field(True, bool, help="choose the outcome threshold on past scored outcomes"),
    "outcome_size_max": Field(1.0, float, _range(1.0, 3.0), "stake multiple at P(profitable) = 1 (1: no scaling)"),
    "outcome_warmup_days": Field(30, int, _range(0, 3650), "days of simulated trades the outcome model learns "
                                                           "from before it gates"),
    "trading_enabled": Field(True, bool, help="open paper trades from new signals (off: paused, signals are "
                                              "recorded but open no trade; open trades are still managed)"),
}
DEFAULTS: dict[str, Any] = {k: f.default for k, f in SCHEMA.items()}


def _tidy(value: float) -> float:
    """A float without binary noise (12 significant digits): 0.9000000000000001 -> 0.9, so answers read well.

    >>> _tidy(0.1 + 0.2), _tidy(1 - 0.9)
    (0.3, 0.1)
    """
    return float(f"{float(value):.12g}")


def _coerce(key: str, value: Any) -> Any:
    kind = SCHEMA[key].kind
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(key, "must be true or false")
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, "must be a number")
        if not math.isfinite(value):
            raise ConfigError(key, "must be a finite number")
        if kind is int:
            if value != int(value):
                raise ConfigError(key, "must be a whole number")
            return int(value)
        return _tidy(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(key, "must be a string")
        return value.strip()
    if kind is list:
        if not isinstance(value, list):
            raise ConfigError(key, "must be a list")
        return [SCHEMA[key].item(s.strip()) if isinstance(s, str) else s for s in value]
    raise AssertionError(kind)


def validate(changes: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return ``base`` (default: DEFAULTS) updated with ``changes``, all validated, or raise ConfigError.

    Setting only one ensemble weight sets the other to its complement, so they sum to 1.
    """
    if not isinstance(changes, dict):
        raise ConfigError("config", "must be a JSON object")
    unknown = sorted(set(changes) - set(SCHEMA))
    if unknown:
        raise ConfigError(unknown[0], "unknown setting")
    out = dict(DEFAULTS if base is None else base)
    for key, value in changes.items():
        value = _coerce(key, value)
        error = SCHEMA[key].check(value)
        if error:
            raise ConfigError(key, error)
        out[key] = value
    weights = ("ensemble_weight_batch", "ensemble_weight_online")
    given = [w for w in weights if w in changes]
    if len(given) == 1:
        other = weights[1 - weights.index(given[0])]
        out[other] = _tidy(1.0 - out[given[0]])
    if abs(out[weights[0]] + out[weights[1]] - 1.0) > 1e-6:
        raise ConfigError("ensemble_weight_batch", "ensemble weights must sum to 1")
    return out


def env_overrides(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Settings from HLS_<KEY> environment variables, parsed as JSON (bare strings allowed)."""
    environ = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for key in SCHEMA:
        raw = environ.get(ENV_PREFIX + key.upper())
        if raw is None:
            continue
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw.split(",") if SCHEMA[key].kind is list else raw
    return out


class ConfigStore:
    """The config file under the data dir (atomic writes) and named profiles beside it.

    ``current()`` re-reads the file when another process changed it; environment overrides
    are applied on top and are not written back.
    """

    def __init__(self, data_dir: str | os.PathLike, environ: dict[str, str] | None = None):
        self.path = Path(data_dir) / "config.json"
        self.profile_dir = Path(data_dir) / "profiles"
        self._overrides = env_overrides(environ)
        validate(self._overrides)  # a bad deployment variable fails at start-up, naming the field
        self._stamp: tuple | None = None
        self._cached: dict[str, Any] = {}

    def _read_file(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        with open(self.path) as fh:
            saved = json.load(fh)
        return {k: v for k, v in saved.items() if k in SCHEMA}  # settings retired by an upgrade are dropped

    def current(self) -> dict[str, Any]:
        stamp = file_stamp(self.path)
        if stamp != self._stamp or not self._cached:
            self._cached = validate(self._overrides, validate(self._read_file()))
            self._stamp = stamp
        return dict(self._cached)

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Validate and persist ``changes``; returns the new effective config. A change to a setting the
        environment overrides is refused (ConfigError naming it): it would be saved and never take effect."""
        for key in DEPLOYMENT_ONLY:
            if isinstance(changes, dict) and key in changes:
                raise ConfigError(key, f"can only be set in the server's environment ({ENV_PREFIX}{key.upper()}) or "
                                       "its config file: loading a module runs its code")
        before = validate(self._read_file())
        saved, env = validate(changes, before), validate(self._overrides)
        for key in sorted(self._overrides):
            if saved[key] != env[key] and (key in changes or saved[key] != before[key]):
                raise ConfigError(key, f"is set by the server's environment ({ENV_PREFIX}{key.upper()}) and cannot be "
                                       "changed here")
        atomic_write_json(self.path, saved)
        return self.current()

    def save_profile(self, name: str) -> Path:
        path = self._profile_path(name)
        atomic_write_json(path, validate(self._read_file()))
        return path

    def load_profile(self, name: str) -> dict[str, Any]:
        path = self._profile_path(name)
        if not path.exists():
            raise ConfigError("profile", f"no saved profile named {name!r}")
        with open(path) as fh:
            try:
                settings = json.load(fh)
            except json.JSONDecodeError as exc:
                raise ConfigError("profile", f"profile {name!r} is not valid JSON: {exc}") from None
        if not isinstance(settings, dict):
            raise ConfigError("profile", f"profile {name!r} is not a JSON object of settings")
        return self.update({k: v for k, v in settings.items()  # the environment wins; code is never loaded this way
                            if k not in self._overrides and k not in DEPLOYMENT_ONLY})

    def profiles(self) -> list[str]:
        return sorted(p.stem for p in self.profile_dir.glob("*.json"))

    def _profile_path(self, name: str) -> Path:
        if not isinstance(name, str) or not PROFILE_NAME.match(name):
            raise ConfigError("profile", "name must be 1-40 letters, digits, '-' or '_'")
        return self.profile_dir / f"{name}.json"
