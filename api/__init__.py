"""REST API as a Flask blueprint, mounted on the Dash server (``app.server``) or any Flask app.

``create_blueprint(system)``. Who may call it is decided for the whole server by server.auth (off
loopback: ``Authorization: Bearer <token>`` or a login session, on every route).
"""
from __future__ import annotations

import importlib
import json
import pkgutil

from flask import Blueprint, Response, jsonify, request

from api.openapi import build_spec
from api.routes import ROUTES, BodyTooLarge, Route
from engine.errors import NotReady, ValidationError
from engine.jobs import json_safe

OPENAPI_PATH = "/ml/openapi.json"
NOT_FOUND_RULE = "/ml/<path:rest>"


def route_modules() -> list[str]:
    """Every module of this package: the @route functions in them make up the API (api/routes.py,
    api/trading.py, ...), so adding an endpoint is adding a decorated function, nothing else."""
    return [f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__)]


def _error(status: int, field: str, message: str, errors: dict | None = None):
    """The error answer; ``errors`` ({field: message}, e.g. every field of a bad sample) comes as an ordered
    list ``[{"field", "message"}]`` (a JSON object's keys would be re-sorted)."""
    body = {"error": f"{field}: {message}", "field": field, "message": message}
    if errors:
        body["errors"] = [{"field": f, "message": m} for f, m in errors.items()]
    return jsonify(body), status


def strict_json(body) -> str:
    """``body`` as strict JSON: the C encoder takes an answer that is plain already (the common case, no
    copy); json_safe cleans any other (numpy scalars, NaN, objects) first."""
    try:
        return json.dumps(body, allow_nan=False, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return json.dumps(json_safe(body), sort_keys=True, separators=(",", ":"))


def _view(system, r: Route):
    def view(**path_args):
        answer = r.view(system, **path_args)
        body, status = answer if isinstance(answer, tuple) else (answer, 200)
        return Response(strict_json(body), status, mimetype="application/json")
    view.__name__ = r.view.__name__
    return view


def create_blueprint(system) -> Blueprint:
    """The /ml/... endpoints for ``system`` (a HybridLearningSystem) and /ml/openapi.json."""
    for module in route_modules():
        importlib.import_module(module)
    bp = Blueprint("ml_api", __name__)
    for r in ROUTES:
        bp.add_url_rule(r.rule, endpoint=r.view.__name__, view_func=_view(system, r),
                        methods=[r.method])
    spec = build_spec(ROUTES, {OPENAPI_PATH: {"get": {"summary": "This description", "operationId": "openapi",
                                                      "responses": {"200": {"description": "OpenAPI 3 JSON"}}}}})
    bp.add_url_rule(OPENAPI_PATH, endpoint="openapi", view_func=lambda: jsonify(spec))
    bp.register_error_handler(BodyTooLarge, lambda e: _error(413, e.field, e.message))
    bp.register_error_handler(ValidationError, lambda e: _error(400, e.field, e.message, getattr(e, "errors", None)))
    bp.register_error_handler(NotReady, lambda e: _error(503, "system", str(e)))

    # JSON 404 for any other /ml/ path or method (the Dash app would otherwise serve its page)
    bp.add_url_rule(NOT_FOUND_RULE, endpoint="not_found", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                    view_func=lambda rest: _error(404, "path", f"no endpoint {request.method} {request.path}; "
                                                               f"see {OPENAPI_PATH}"))
    return bp
