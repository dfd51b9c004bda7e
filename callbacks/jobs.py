"""Long jobs started from the page (collect, backfill, online update, batch retrain) as background callbacks.

Each runs in a worker process (Dash's DiskcacheManager): ``get_system()`` there builds that
process's own HybridLearningSystem on the same data dir, and ``run_job`` reports progress back
through diskcache. While it runs the button is disabled, the progress bar shows and Cancel is live.
"""
from __future__ import annotations

from typing import Callable

from dash import Input, Output, State, no_update

from engine.errors import ValidationError
from engine.system import check_backfill_days
from layouts.hybrid_learning import JOBS
from layouts.joblog import job_result


POLL_MS = 250  # how often the page asks a running job for progress
PROGRESS_JOBS = {"collect", "backfill", "batch_retrain"}  # the system's jobs that take a progress callback
# a job's inputs on the page: (component id, property, job keyword)
JOB_INPUTS = {"backfill": [("backfill-days", "value", "days")]}


def job_options(job: str, values: list) -> dict:
    """The page's inputs as the job's keywords, checked like the settings they stand for (ValidationError)."""
    options = {kw: value for (_, _, kw), value in zip(JOB_INPUTS.get(job, []), values)}
    if "days" in options:
        options["days"] = check_backfill_days(options["days"])
    return options


def run_from_page(system, job: str, set_progress: Callable, **options) -> dict:
    """Run ``job`` with trigger "dashboard", forwarding progress (fraction, message) as (percent, label)."""
    def progress(fraction: float, message: str = "") -> None:
        pct = max(0, min(100, round(100 * float(fraction))))
        set_progress((pct, f"{pct}% {message}".strip()))
    set_progress((0, "starting"))
    if job in PROGRESS_JOBS:
        options["progress"] = progress
    record = system.run_job(job, "dashboard", **options)
    set_progress((100, record.get("outcome", "")))
    return record


def _register(app, get_system: Callable, job: str) -> None:
    @app.callback(Output(f"{job}-result", "children"), Output(f"{job}-finished", "data"),
                  Input(f"{job}-run", "n_clicks"), *[State(cid, prop) for cid, prop, _ in JOB_INPUTS.get(job, [])],
                  background=True, prevent_initial_call=True, interval=POLL_MS,
                  running=[(Output(f"{job}-run", "disabled"), True, False),
                           (Output(f"{job}-cancel", "disabled"), False, True),
                           (Output(f"{job}-progress", "style"), {"visibility": "visible"}, {"visibility": "hidden"})],
                  progress=[Output(f"{job}-progress", "value"), Output(f"{job}-progress", "label")],
                  progress_default=[0, ""],
                  cancel=[Input(f"{job}-cancel", "n_clicks")])
    def run(set_progress, _clicks, *values):
        try:
            options = job_options(job, list(values))
        except ValidationError as exc:
            return job_result(None, error=str(exc)), no_update
        record = run_from_page(get_system(), job, set_progress, **options)
        return job_result(record), record.get("id")


def register(app, get_system: Callable) -> None:
    for job, _label, _color in JOBS:
        _register(app, get_system, job)
