"""The REST endpoints: one small function each, registered with :func:`route`.

A view takes the HybridLearningSystem and returns a dict (200) or (dict, status). Bad input
raises engine.errors.ValidationError, answered 400 {"error", "field"} by the blueprint. To add
endpoints from another module of the ``api`` package (e.g. api/trading.py), decorate functions
with ``@route`` there: create_blueprint imports every module of the package, and the OpenAPI
description is built from the same ROUTES list.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import request

from engine.errors import ValidationError
from engine.system import check_backfill_days

MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(ValidationError):
    """A request body over MAX_BODY_BYTES (answered 413)."""


@dataclass(frozen=True)
class Route:
    rule: str
    method: str
    view: Callable
    summary: str
    query: dict[str, str] = field(default_factory=dict)  # name -> description
    body: str | None = None  # description of the JSON body, when there is one


ROUTES: list[Route] = []


def route(rule: str, method: str = "GET", summary: str = "", query: dict[str, str] | None = None,
          body: str | None = None) -> Callable:
    def register(view: Callable) -> Callable:
        ROUTES.append(Route(rule, method, view, summary or (view.__doc__ or "").strip(), query or {}, body))
        return view
    return register


def _find_non_finite(obj: Any, path: str) -> str | None:
    if isinstance(obj, float) and not math.isfinite(obj):
        return path or "body"
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        bad = _find_non_finite(value, f"{path}.{key}" if path else str(key))
        if bad:
            return bad
    return None


def json_body(optional: bool = False) -> dict:
    """The request's JSON object; NaN/Infinity, non-JSON, non-objects and oversized bodies are rejected.
    An empty body is {} when ``optional``."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise BodyTooLarge("body", f"larger than {MAX_BODY_BYTES} bytes")
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise BodyTooLarge("body", f"larger than {MAX_BODY_BYTES} bytes")
    if optional and not raw.strip():
        return {}
    try:
        obj = json.loads(raw or b"null")
    except ValueError as exc:
        raise ValidationError("body", f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ValidationError("body", "must be a JSON object")
    bad = _find_non_finite(obj, "")
    if bad:
        raise ValidationError(bad, "must be a finite number (NaN and Infinity are not allowed)")
    return obj


def body_fields(allowed: set[str], required: tuple[str, ...] = (), optional_body: bool = False) -> dict:
    """The JSON body, with ``required`` keys present and no key outside ``allowed``; an empty body is {}
    when ``optional_body``."""
    body = json_body(optional=optional_body)
    for key in required:
        if key not in body:
            raise ValidationError(key, "is required")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationError(unknown[0], "unknown field")
    return body


def int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(name, f"must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ValidationError(name, f"must be between {lo} and {hi}")
    return value


def symbol_arg(system, required: bool) -> str | None:
    raw = request.args.get("symbol")
    if raw is None and not required:
        return None
    return system.check_symbol(raw)


def job_answer(record: dict) -> tuple[dict, int]:
    """A job run as an HTTP answer: the job's summary at the top level, plus the run record."""
    status = {"ok": 200, "skipped": 200, "busy": 409, "error": 500}[record["outcome"]]
    run = {k: v for k, v in record.items() if k != "result"}
    out = {**(record["result"] or {}), "outcome": record["outcome"], "run": run}
    if record["error"]:
        out["error"] = record["error"]
    return out, status


# --- hybrid -------------------------------------------------------------------------------
@route("/ml/hybrid/status", summary="System snapshot: models, data collection, jobs, buffer, alerts, config")
def hybrid_status(system):
    return system.status()


@route("/ml/hybrid/predict", summary="Ensemble prediction for the latest closed candle of a symbol",
       query={"symbol": "configured symbol, case-insensitive (required)"})
def hybrid_predict(system):
    return system.predict(symbol_arg(system, required=True))


@route("/ml/hybrid/config", summary="The effective configuration")
def config_get(system):
    return {"config": system.config.current()}


@route("/ml/hybrid/config", "POST", summary="Change settings (partial config; validated, saved atomically)",
       body="object of setting -> value, e.g. {\"ensemble_weight_batch\": 0.6}")
def config_post(system):
    return {"status": "updated", "config": system.config.update(json_body())}


@route("/ml/hybrid/config/profiles", summary="Names of the saved configuration profiles")
def profiles_list(system):
    return {"profiles": system.config.profiles()}


@route("/ml/hybrid/config/profiles/<name>", "POST", summary="Save the current configuration as a named profile")
def profile_save(system, name):
    system.config.save_profile(name)
    return {"status": "saved", "profile": name, "profiles": system.config.profiles()}


@route("/ml/hybrid/config/profiles/<name>/load", "POST", summary="Make a saved profile the current configuration")
def profile_load(system, name):
    return {"status": "loaded", "profile": name, "config": system.config.load_profile(name)}


# --- online learning ----------------------------------------------------------------------
@route("/ml/online/stats", summary="Online models: samples seen, accuracy, drift, recent health beside the "
       "majority-class baseline, excluded; buffer")
def online_stats(system):
    return system.online.stats()


@route("/ml/online/update", "POST", summary="Run an online update now on the samples waiting (skipped when none)",
       query={"batch_size": "samples per partial_fit step, 1-10000 (default 50)"})
def online_update(system):
    return job_answer(system.run_job("online_update", "api", batch_size=int_arg("batch_size", 50, 1, 10_000)))


@route("/ml/online/add_training_data", "POST", summary="Add one labelled sample to the online buffer",
       body='{"features": {23 feature names -> number}, "target": 0|1, "symbol": "BTCUSDT"}')
def online_add(system):
    body = body_fields({"features", "target", "symbol", "open_time"})
    # the engine checks the whole sample at once: a 400 names every field at fault in "errors"
    added = system.online.add_training_data(body.get("features"), body.get("target"), body.get("symbol"),
                                            source="api", open_time=body.get("open_time"))
    return {"status": "added" if added else "duplicate", "added": added,
            "pending": system.online.pending_count()}, 201 if added else 200


# --- batch, data, jobs, predictions -------------------------------------------------------
@route("/ml/batch/retrain", "POST", summary="Retrain the batch model now (waits for the result)")
def batch_retrain(system):
    return job_answer(system.run_job("batch_retrain", "api"))


@route("/ml/batch/versions", summary="Batch model versions, newest first: metrics, decision, active, file kept")
def batch_versions(system):
    return {"versions": system.batch.versions()}


@route("/ml/batch/rollback", "POST", summary="Make an earlier batch model version active again",
       body='{"version": n} (optional; default: the previously active version)')
def batch_rollback(system):
    body = body_fields({"version"}, optional_body=True)
    before = system.batch.active()
    active = system.rollback_batch(body.get("version"))
    return {"status": "rolled back", "active": active, "previous_version": before and before["version"]}


@route("/ml/data_collection/backfill", "POST", summary="Store the last N days of closed candles per symbol now",
       body='{"days": 1-3650} (optional; default: config backfill_days)')
def data_collection_backfill(system):
    days = body_fields({"days"}, optional_body=True).get("days")
    return job_answer(system.run_job("backfill", "api", days=None if days is None else check_backfill_days(days)))


@route("/ml/data_collection/stats", summary="Candle collection: source, lag and rows per symbol, errors")
def data_collection_stats(system):
    return system.data_collection()


@route("/ml/jobs", summary="Recent job runs (newest first) and next scheduled runs",
       query={"job": "only this job", "outcome": "only this outcome (ok, skipped, error, busy, running, interrupted)",
              "routine": "false: leave out scheduled collects that went fine (default true)",
              "limit": "1-1000 (default 50)", "offset": "runs to skip, for paging (default 0)"})
def jobs(system):
    job = request.args.get("job")
    if job is not None and job not in system.jobs.names:
        raise ValidationError("job", f"unknown job; have {', '.join(system.jobs.names)}")
    routine = request.args.get("routine", "true")
    if routine not in ("true", "false"):
        raise ValidationError("routine", "must be true or false")
    filters = {"job": job, "outcome": request.args.get("outcome"), "routine": routine == "true"}
    return {"runs": system.jobs.history(limit=int_arg("limit", 50, 1, 1000),
                                        offset=int_arg("offset", 0, 0, 10**9), **filters),
            "total": system.jobs.count(**filters), "next_runs": system.status()["next_runs"]}


@route("/ml/predictions", summary="Stored predictions, newest first, with their outcomes once known, and live accuracy",
       query={"symbol": "only this symbol (case-insensitive); newest bar first", "limit": "1-5000 (default 100)",
              "offset": "predictions to skip, for paging (default 0)"})
def predictions(system):
    symbol = symbol_arg(system, required=False)
    rows = system.hybrid.history(symbol, int_arg("limit", 100, 1, 5000), int_arg("offset", 0, 0, 10**8))
    return {"symbol": symbol, "predictions": rows, "total": system.hybrid.log.count(symbol),
            "accuracy": system.hybrid.accuracy_summary(symbol)}
