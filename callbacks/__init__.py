"""Dash callbacks, registered on one app with ``app.callback`` (never the global registry).

Each module's ``register(app, get_system)`` adds its callbacks; ``get_system()`` returns this
process's HybridLearningSystem. Callbacks stay thin: unpack inputs, call the engine, render with
the pure builders in layouts/ and callbacks/figures.py. Nothing runs on page load: the first
tab's panels come filled inside the layout (``initial_props``), the other tabs draw when opened.
"""
from __future__ import annotations

from typing import Any, Callable

from callbacks import jobs, market, models, prediction, settings, status, theme, trades

REGISTRARS = (status.register, jobs.register, prediction.register, settings.register, market.register,
              trades.register, models.register, theme.register)
INITIAL = (status.initial_props, settings.initial_props)  # panels served inside the layout


def initial_props(system) -> dict[tuple[str, str], Any]:
    """{(component id, prop): value} for everything the first tab shows, read once per page load."""
    return {key: value for initial in INITIAL for key, value in initial(system).items()}


def register_callbacks(app, system_factory: Callable) -> None:
    for register in REGISTRARS:
        register(app, system_factory)
