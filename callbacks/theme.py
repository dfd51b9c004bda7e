"""The theme toggle: a browser-side callback (assets/dashboard.js) flips Bootstrap's data-bs-theme on the page
and remembers it; the button's label and the charts follow through CSS, so nothing runs on page load and
no figure is rebuilt on the server."""
from __future__ import annotations

from typing import Callable

from dash import ClientsideFunction, Input, Output


def register(app, get_system: Callable) -> None:
    app.clientside_callback(ClientsideFunction("hls", "toggleTheme"), Output("theme", "data"),
                            Input("theme-toggle", "n_clicks"), prevent_initial_call=True)
