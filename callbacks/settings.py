"""Configuration: the weight slider, intervals, switches and profiles, all through system.config.update."""
from __future__ import annotations

from typing import Callable

import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, no_update

from engine.errors import ValidationError
from layouts.hybrid_learning import INTERVAL_FIELDS, SWITCH_FIELDS

WEIGHT_CONTROLS = ("weight-slider", "weight-input")


def weight_label(config: dict) -> str:
    """ "batch 70 % / online 30 %" from the two ensemble weights.

    >>> weight_label({"ensemble_weight_batch": 0.7, "ensemble_weight_online": 0.3})
    'batch 70 % / online 30 %'
    """
    return (f"batch {100 * config['ensemble_weight_batch']:.0f} % / "
            f"online {100 * config['ensemble_weight_online']:.0f} %")


def apply_change(store, trigger: str | None, weight: float | None, switches: dict, intervals: dict,
                 profile_name: str | None, profile_choice: str | None) -> tuple[dict, str]:
    """Perform what ``trigger`` (the control's id) asks of the ConfigStore; (effective config, message).
    ``weight`` is the batch weight from whichever weight control changed.

    Raises ValidationError (nothing changed) when the engine rejects the change.
    """
    if trigger in WEIGHT_CONTROLS:  # the slider, or the batch weight typed in its box: validated, never clamped
        config = store.update({"ensemble_weight_batch": weight})
        return config, f"Ensemble weights saved: {weight_label(config)}."
    if trigger == "cfg-apply":
        return store.update(intervals), "Intervals saved; the scheduler picks them up within a second."
    if trigger in {f"cfg-{key}" for key, _ in SWITCH_FIELDS}:
        key = trigger.removeprefix("cfg-")
        return store.update({key: switches[key]}), f"{key.replace('_', ' ').capitalize()}: {'on' if switches[key] else 'off'}."
    if trigger == "profile-save":
        store.save_profile(profile_name or "")
        return store.current(), f"Profile {profile_name!r} saved."
    if trigger == "profile-load":
        if not profile_choice:
            raise ValidationError("profile", "choose a saved profile to load")
        return store.load_profile(profile_choice), f"Profile {profile_choice!r} loaded."
    return store.current(), ""


def profile_options(store) -> list[dict]:
    return [{"label": p, "value": p} for p in store.profiles()]


def initial_props(system) -> dict[tuple[str, str], object]:
    """What the settings callback would show on load, served inside the layout (no round trip)."""
    store = system.config
    return {("weight-label", "children"): weight_label(store.current()),
            ("profile-select", "options"): profile_options(store)}


def register(app, get_system: Callable) -> None:
    switch_ids = [f"cfg-{key}" for key, _ in SWITCH_FIELDS]
    interval_ids = [f"cfg-{key}" for key, _ in INTERVAL_FIELDS]

    @app.callback(Output("settings-message", "children"), Output("weight-label", "children"),
                  Output("profile-select", "options"), Output("weight-slider", "value"), Output("weight-input", "value"),
                  *[Output(i, "value") for i in switch_ids], *[Output(i, "value") for i in interval_ids],
                  Input("weight-slider", "value"), Input("weight-input", "value"), Input("cfg-apply", "n_clicks"),
                  *[Input(i, "value") for i in switch_ids],
                  Input("profile-save", "n_clicks"), Input("profile-load", "n_clicks"),
                  *[State(i, "value") for i in interval_ids],
                  State("profile-name", "value"), State("profile-select", "value"), prevent_initial_call=True)
    def settings(slider, typed, _apply, *args):
        switches = dict(zip((k for k, _ in SWITCH_FIELDS), args[:len(switch_ids)]))
        rest = args[len(switch_ids) + 2:]
        intervals = dict(zip((k for k, _ in INTERVAL_FIELDS), rest[:len(interval_ids)]))
        name, choice = rest[len(interval_ids):]
        store = get_system().config
        weight = typed if ctx.triggered_id == "weight-input" else slider
        try:
            config, text = apply_change(store, ctx.triggered_id, weight, switches, intervals, name, choice)
        except ValidationError as exc:
            controls = [no_update] * (2 + len(switch_ids) + len(interval_ids))  # keep what the user entered
            return (dbc.Alert(f"Not saved — {exc}", color="danger", className="py-2 mb-0", id="settings-error"),
                    no_update, profile_options(store), *controls)
        message = dbc.Alert(text, color="success", className="py-2 mb-0", id="settings-ok",
                            duration=4000) if text else ""
        return (message, weight_label(config), profile_options(store),
                config["ensemble_weight_batch"], config["ensemble_weight_batch"],
                *[config[k] for k, _ in SWITCH_FIELDS], *[config[k] for k, _ in INTERVAL_FIELDS])
