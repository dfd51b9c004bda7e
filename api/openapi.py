"""OpenAPI 3 description built from the registered routes (so it cannot miss one)."""
from __future__ import annotations

import re
from typing import Iterable

from api.routes import Route

ERROR = {"$ref": "#/components/schemas/Error"}


def _path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _operation(r: Route) -> dict:
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", r.rule)]
    params += [{"name": name, "in": "query", "required": "required" in text, "description": text,
                "schema": {"type": "string"}} for name, text in r.query.items()]
    op = {"operationId": r.view.__name__, "summary": r.summary, "parameters": params,
          "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
                        "400": {"description": "Bad input; `field` names it",
                                "content": {"application/json": {"schema": ERROR}}}}}
    if r.body:
        op["requestBody"] = {"required": True, "description": r.body,
                             "content": {"application/json": {"schema": {"type": "object"}}}}
        op["responses"]["413"] = {"description": "Body too large", "content": {"application/json": {"schema": ERROR}}}
    op["security"] = [{"bearer": []}]
    op["responses"]["401"] = {"description": "Missing or wrong bearer token (servers bound beyond loopback)",
                              "content": {"application/json": {"schema": ERROR}}}
    return op


def build_spec(routes: Iterable[Route], extra_paths: dict | None = None) -> dict:
    paths: dict[str, dict] = dict(extra_paths or {})
    for r in routes:
        paths.setdefault(_path(r.rule), {})[r.method.lower()] = _operation(r)
    return {
        "openapi": "3.0.3",
        "info": {"title": "Hybrid learning system API", "version": "1.0",
                 "description": "Predictions, learning jobs and settings of the self-improving signal engine. "
                                "A server bound beyond loopback answers only requests with 'Authorization: Bearer "
                                "<token>' (HLS_API_TOKEN) or a login session; on loopback none is needed."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["error", "field"],
                                  "properties": {"error": {"type": "string"}, "field": {"type": "string"},
                                                 "message": {"type": "string"}}}},
        },
    }
