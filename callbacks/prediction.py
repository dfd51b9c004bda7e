"""Real-time prediction for a chosen symbol, and the add-training-data form (engine validation only)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, html, no_update

from engine.errors import ValidationError
from engine.features import FEATURE_COLUMNS
from layouts.panels import prediction_result


def parse_number(text: Any) -> Any:
    """Form text -> float when it reads as a number; anything else is passed on for the engine to reject.

    >>> parse_number(" 0.25 "), parse_number(""), parse_number("abc")
    (0.25, None, 'abc')
    """
    if text is None or isinstance(text, (int, float)):
        return text
    text = str(text).strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def submit_sample(system, values: Sequence[Any], target: Any, symbol: Any) -> tuple[Any, dict[str, str]]:
    """Hand one form sample to the engine; (message component, {field: error} for every field at fault,
    target first). Nothing is stored on error."""
    features = {name: parse_number(v) for name, v in zip(FEATURE_COLUMNS, values)}
    try:
        added = system.online.add_training_data(features, parse_number(target), symbol, source="dashboard")
    except ValidationError as exc:
        errors = getattr(exc, "errors", None) or {exc.field: exc.message}
        listed = "; ".join(f"{field.removeprefix('features.')}: {message}" for field, message in errors.items())
        plural = "s need" if len(errors) > 1 else " needs"
        return dbc.Alert([html.Strong(f"Not stored — {len(errors)} field{plural} attention. "), listed],
                         color="danger", className="py-2 mb-0", id="form-error"), errors
    text = (f"Sample stored for {str(symbol).strip().upper()}; {system.online.pending_count()} pending for the next "
            "online update." if added else "This sample was already stored (duplicate); nothing changed.")
    return dbc.Alert(text, color="success" if added else "secondary", className="py-2 mb-0", id="form-ok"), {}


def form_feedback(errors: dict[str, str]) -> tuple:
    """(invalid flag per feature, error text per feature, target invalid, target error, symbol invalid,
    symbol error): what the form shows next to each field."""
    per_feature = [errors.get(f"features.{name}") for name in FEATURE_COLUMNS]
    return ([bool(e) for e in per_feature], [e or "" for e in per_feature], "target" in errors,
            errors.get("target", ""), "symbol" in errors, errors.get("symbol", ""))


def register(app, get_system: Callable) -> None:
    @app.callback(Output("predict-result", "children"),
                  Input("predict-run", "n_clicks"), State("predict-symbol", "value"), prevent_initial_call=True)
    def predict(_clicks, symbol):
        try:
            return prediction_result(get_system().predict(symbol))
        except ValidationError as exc:
            return dbc.Alert(str(exc), color="danger", className="py-2")

    @app.callback(Output("form-message", "children"),
                  Output({"type": "feature-input", "name": ALL}, "invalid"),
                  Output({"type": "feature-error", "name": ALL}, "children"),
                  Output("form-target", "invalid"), Output("form-target-error", "children"),
                  Output("form-symbol", "invalid"), Output("form-symbol-error", "children"),
                  Input("form-submit", "n_clicks"),
                  State({"type": "feature-input", "name": ALL}, "value"),
                  State("form-target", "value"), State("form-symbol", "value"), prevent_initial_call=True)
    def submit(_clicks, values, target, symbol):
        message, errors = submit_sample(get_system(), values, target, symbol)
        return message, *form_feedback(errors)

    @app.callback(Output({"type": "feature-input", "name": ALL}, "value"),
                  Input("form-fill", "n_clicks"), State("form-symbol", "value"), prevent_initial_call=True)
    def fill(_clicks, symbol):
        try:
            features = get_system().predict(symbol).get("features") or {}
        except ValidationError:  # the symbol field is checked (and named) when the form is submitted
            return [no_update] * len(FEATURE_COLUMNS)
        return [None if features.get(name) is None else round(float(features[name]), 6) for name in FEATURE_COLUMNS]
