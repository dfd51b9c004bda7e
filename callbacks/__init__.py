"""Dash callbacks, registered on one app with ``app.callback`` (never the global registry).

Each module's ``register(app, get_system)`` adds its callbacks; ``get_system()`` returns this
process's HybridLearningSystem. Callbacks stay thin: unpack inputs, call the engine, render with
the pure builders in layouts/ and callbacks/figures.py.
"""
from __future__ import annotations

from typing import Callable

from callbacks import jobs, market, prediction, settings, status, trades

REGISTRARS = (status.register, jobs.register, prediction.register, settings.register, market.register,
              trades.register)


def register_callbacks(app, system_factory: Callable) -> None:
    for register in REGISTRARS:
        register(app, system_factory)
