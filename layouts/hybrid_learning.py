"""The "Hybrid Learning" tab: status, performance, controls, configuration, job log (static skeleton).

Dynamic parts are filled by callbacks with the render functions in :mod:`layouts.panels`.
"""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from engine.features import FEATURE_COLUMNS
from engine.system import JOB_NAMES
from layouts.joblog import job_filters
from layouts.widgets import card

# (job name for system.run_job, button label, button colour)
JOBS = (("collect", "Collect candles now", "secondary"),
        ("backfill", "Backfill history", "info"),
        ("online_update", "Manual online update", "primary"),
        ("batch_retrain", "Retrain batch model", "warning"))
BACKFILL_DAYS_DEFAULT = 365
INTERVAL_FIELDS = (("data_collection_interval_minutes", "Collect every (min)"),
                   ("online_update_interval_minutes", "Online update every (min)"),
                   ("batch_retrain_interval_hours", "Batch retrain every (h)"))
SWITCH_FIELDS = (("data_collection_enabled", "Data collection"), ("auto_retrain_enabled", "Auto retrain"))


def _job_options(job: str) -> list:
    """Inputs a job's button runs with (backfill: how many days of history to make sure of), and what a manual
    online update will learn, said before the press."""
    if job == "online_update":
        return [html.Span(id="online_update-waiting", className="small text-muted")]
    if job != "backfill":
        return []
    return [dbc.InputGroup([dbc.Input(id="backfill-days", type="number", step=1,
                                      value=BACKFILL_DAYS_DEFAULT, style={"maxWidth": "6rem"}),
                            dbc.InputGroupText("days")], size="sm", className="w-auto")]


def _job_controls() -> html.Div:
    rows = []
    for job, label, color in JOBS:
        rows.append(html.Div([
            html.Div([dbc.Button(label, id=f"{job}-run", color=color, size="sm", className="hls-job-button"),
                      *_job_options(job),
                      dbc.Button("Cancel", id=f"{job}-cancel", color="link", size="sm", disabled=True,
                                 className="text-danger")], className="d-flex align-items-center gap-2"),
            dbc.Progress(id=f"{job}-progress", value=0, striped=True, animated=True, className="hls-progress my-1",
                         style={"visibility": "hidden"}),
            html.Div(id=f"{job}-result", className="small hls-job-result"),
            dcc.Store(id=f"{job}-finished"),
        ], className="hls-job-row"))
    return html.Div(rows)


def _prediction_controls(symbols: list[str]) -> html.Div:
    return html.Div([
        dbc.InputGroup([dbc.Select(id="predict-symbol", options=[{"label": s, "value": s} for s in symbols],
                                   value=symbols[0]),
                        dbc.Button("Predict now", id="predict-run", color="primary")], size="sm", className="mb-3"),
        dcc.Loading(html.Div(id="predict-result", className="hls-predict-result"), type="dot"),
    ])


def _field(label: str, control, feedback_id) -> html.Div:
    """A labelled input with its own error line right under it (Bootstrap shows it when the input is invalid)."""
    return html.Div([dbc.Label(label, html_for=control.id if isinstance(control.id, str) else None,
                               className="hls-form-label"), control, dbc.FormFeedback(id=feedback_id, type="invalid")])


def _training_form(symbols: list[str]) -> html.Div:
    inputs = [dbc.Col(_field(name, dbc.Input(id={"type": "feature-input", "name": name}, type="text",
                                             inputMode="decimal", size="sm", debounce=True),
                             {"type": "feature-error", "name": name}), xs=6, md=4, xl=3, className="mb-2")
              for name in FEATURE_COLUMNS]
    return html.Div([
        dbc.Row([
            dbc.Col(_field("target (what the price did next)",
                           dbc.Select(id="form-target", size="sm", placeholder="choose…",
                                      options=[{"label": "1 — price went up", "value": "1"},
                                               {"label": "0 — price went down", "value": "0"}]),
                           "form-target-error"), md=4),
            dbc.Col(_field("symbol", dbc.Input(id="form-symbol", size="sm", value=symbols[0], type="text"),
                           "form-symbol-error"), md=4),
            dbc.Col(html.Div([dbc.Button("Fill from latest bar", id="form-fill", color="secondary", outline=True, size="sm"),
                              dbc.Button("Add sample", id="form-submit", color="success", size="sm")],
                             className="d-flex gap-2 align-items-end h-100 pb-1"), md=4),
        ], className="g-2 mb-2"),
        dbc.Row(inputs, className="g-2"),
        html.Div(id="form-message", className="mt-2"),
    ])


def _settings(config: dict) -> html.Div:
    w = float(config["ensemble_weight_batch"])
    return html.Div([
        dbc.Label("Ensemble weights (batch + online = 100%)", className="hls-form-label"),
        html.Div(id="weight-label", className="hls-weight-value"),
        html.Div(dcc.Slider(id="weight-slider", min=0, max=1, step=0.05, value=w, allow_direct_input=False,
                            marks={0: "all online", 1: "all batch"}, updatemode="mouseup",
                            className="hls-weight-slider"), className="hls-slider"),
        dbc.InputGroup([dbc.InputGroupText("batch weight"),
                        dbc.Input(id="weight-input", type="number", step="any", value=w, debounce=True,
                                  style={"maxWidth": "7rem"}),
                        dbc.InputGroupText("0 to 1; online gets the rest")], size="sm", className="mb-3 w-auto"),
        dbc.Row([dbc.Col([dbc.Label(label, html_for=f"cfg-{key}", className="hls-form-label"),
                          dbc.Input(id=f"cfg-{key}", type="number", size="sm", value=config[key], min=0)], md=4)
                 for key, label in INTERVAL_FIELDS], className="g-2"),
        html.Div([dbc.Button("Apply intervals", id="cfg-apply", color="primary", size="sm", className="mt-2")]),
        html.Div([dbc.Switch(id=f"cfg-{key}", label=label, value=bool(config[key]), className="me-4")
                  for key, label in SWITCH_FIELDS], className="d-flex mt-3"),
        html.Hr(),
        dbc.Label("Settings profiles", className="hls-form-label"),
        dbc.Row([
            dbc.Col(dbc.InputGroup([dbc.Input(id="profile-name", placeholder="profile name", size="sm"),
                                    dbc.Button("Save", id="profile-save", color="secondary", size="sm")], size="sm"),
                    md=6),
            dbc.Col(dbc.InputGroup([dbc.Select(id="profile-select", options=[], size="sm"),
                                    dbc.Button("Load", id="profile-load", color="secondary", size="sm")], size="sm"),
                    md=6),
        ], className="g-2"),
        html.Div(id="settings-message", className="mt-2"),
    ])


def pager(id: str) -> dbc.Pagination:
    return dbc.Pagination(id=id, max_value=1, active_page=1, fully_expanded=False, first_last=True,
                          previous_next=True, size="sm", className="mt-2 mb-0")


def layout(config: dict) -> html.Div:
    """The tab's component tree; ``config`` is the current effective configuration."""
    symbols = list(config["symbols"])
    return html.Div([
        html.Div(id="alerts"),
        html.Div(id="status-cards", className="mb-3"),
        dbc.Row([
            dbc.Col(card("Accuracy over time (bar time, per symbol)",
                         [dcc.Graph(id="accuracy-graph", config={"displaylogo": False}),
                          html.Div("The hybrid's weights: each model's share in every prediction (adaptive mode: it "
                                   "follows the model's recent log loss; abstain says ½)",
                                   className="hls-stat-label mt-2"),
                          dcc.Graph(id="weights-graph", config={"displaylogo": False}),
                          dcc.Store(id="accuracy-version")]), lg=8),
            dbc.Col(card("Online models", html.Div(id="online-stats")), lg=4),
        ], className="g-3 mb-3"),
        card("Model health: live, against the baselines", html.Div(id="model-health"), className="mb-3"),
        dbc.Row([
            dbc.Col(card("Jobs", _job_controls()), lg=5),
            dbc.Col(card("Real-time prediction", _prediction_controls(symbols)), lg=7),
        ], className="g-3 mb-3"),
        dbc.Row([
            dbc.Col(card("Configuration", _settings(config)), lg=5),
            dbc.Col(card("Add training data", _training_form(symbols)), lg=7),
        ], className="g-3 mb-3"),
        dbc.Row([
            dbc.Col(card("Prediction history", [html.Div(id="prediction-history"), pager("history-pages")]), lg=7),
            dbc.Col(card("Data collection", html.Div(id="collection-stats")), lg=5),
        ], className="g-3 mb-3"),
        card("Job log", [html.Div(id="job-log"), pager("joblog-pages")],
             header_extra=job_filters(JOB_NAMES)),
    ])
