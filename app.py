"""The Dash dashboard: ``create_app(config)`` builds a fresh app; ``python app.py`` serves it.

Nothing happens at import time. The app mounts the REST API blueprint on ``app.server``,
serves Bootstrap's CSS from the installed bootstrap-flask package (no CDN) and starts the
system's scheduler thread. A page load is one layout request (the first tab's panels come filled in,
no callback round trip), preloaded while the browser compiles cacheable scripts, plotly.js among them
(layouts.plotly_bundle picks which). Long jobs run as background callbacks in worker processes that
open their own HybridLearningSystem on the same data directory.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import dash
import diskcache
import flask_bootstrap
from flask import request, send_file, send_from_directory

from api import create_blueprint
from api.security import InsecureBind, check_bind
from callbacks import initial_props, register_callbacks
from callbacks.figures import TRACE_TYPES
from engine import paths
from engine.system import HybridLearningSystem
from layouts import plotly_bundle
from layouts.shell import build_layout

BOOTSTRAP_DIR = Path(flask_bootstrap.__file__).parent / "static" / "bootstrap5" / "css"
BOOTSTRAP_URL = "/vendor/bootstrap.min.css"
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
VERSIONED_MAX_AGE = 365 * 86400  # s; for URLs that change with their content
# dcc's lazy chunks the first tab needs, requested once a component is mounted, and the layout and callback
# map, requested once the scripts have run: preloaded from <head>, they download (and the server builds the
# layout) while the browser compiles the scripts, instead of after.
PRELOAD = ("/_dash-component-suites/dash/dcc/async-graph.js", "/_dash-component-suites/dash/dcc/async-slider.js")
PRELOAD_FETCH = ("/_dash-layout", "/_dash-dependencies")
UNVERSIONED_MAX_AGE = 3600  # s; these URLs carry no version, so a Dash upgrade is picked up within the hour


def _preload_links() -> str:
    scripts = [f'<link rel="preload" href="{url}" as="script">' for url in PRELOAD]
    fetches = [f'<link rel="preload" href="{url}" as="fetch" crossorigin="anonymous">' for url in PRELOAD_FETCH]
    return "\n".join(scripts + fetches)


def _cache_unversioned_scripts(response):
    """Dash serves dcc's lazy chunks under fixed URLs with only an ETag: every page load revalidates each
    (a round trip per file). A short max-age lets a revisit take them from the cache."""
    if request.path.startswith("/_dash-component-suites/") and not response.cache_control.max_age:
        response.cache_control.public = True
        response.cache_control.max_age = UNVERSIONED_MAX_AGE
    return response


class DashboardApp(dash.Dash):
    """Dash without the DataTable bundle, which Dash puts on every page: the dashboard's tables are plain
    HTML (layouts.widgets.table), so that script would only be downloaded and parsed for nothing."""

    def interpolate_index(self, **kwargs):
        kwargs["scripts"] = "\n".join(tag for tag in kwargs["scripts"].split("\n") if "/dash_table/" not in tag)
        return super().interpolate_index(**kwargs)


class SystemHandle:
    """This process's HybridLearningSystem for one data dir; a forked worker process builds its own."""

    def __init__(self, data_dir: Path, environ: dict[str, str] | None = None):
        self.data_dir, self.environ = data_dir, environ
        self._pid: int | None = None
        self._system: HybridLearningSystem | None = None

    def __call__(self) -> HybridLearningSystem:
        if self._pid != os.getpid():
            self._system, self._pid = HybridLearningSystem(self.data_dir, self.environ), os.getpid()
        return self._system


def create_app(config: dict | None = None) -> dash.Dash:
    """A new app. Keys: data_dir, start_scheduler (True), api_token (None), host ("127.0.0.1"), environ."""
    cfg = {"data_dir": None, "start_scheduler": True, "api_token": None, "host": "127.0.0.1", "environ": None,
           **(config or {})}
    check_bind(cfg["host"], cfg["api_token"])
    data_dir = paths.data_dir(cfg["data_dir"])
    get_system = SystemHandle(data_dir, cfg["environ"])
    system = get_system()
    manager = dash.DiskcacheManager(diskcache.Cache(str(data_dir / "cache")))
    app = DashboardApp(__name__, title="Hybrid Learning", update_title=None, assets_folder=str(ASSETS_DIR),
                    external_stylesheets=[BOOTSTRAP_URL], background_callback_manager=manager,
                    serve_locally=True)
    # plotly.js as a page script ahead of Dash's (a versioned URL cached for a year) instead of dcc.Graph
    # fetching it only once mounted: the first tab draws a chart anyway.
    plotly_js = plotly_bundle.choose(TRACE_TYPES)
    app.index_string = (app.index_string.replace("{%css%}", "{%css%}\n" + _preload_links())
                        .replace("{%scripts%}", f'<script src="{plotly_js.url}"></script>\n{{%scripts%}}'))
    app.server.add_url_rule(plotly_js.url, "vendor_plotly", lambda: send_file(
        plotly_js.path, mimetype="text/javascript", max_age=VERSIONED_MAX_AGE, conditional=True))
    app.server.after_request(_cache_unversioned_scripts)
    app.server.add_url_rule(BOOTSTRAP_URL, "vendor_bootstrap",
                            lambda: send_from_directory(BOOTSTRAP_DIR, "bootstrap.min.css", max_age=86400))
    app.server.register_blueprint(create_blueprint(system, token=cfg["api_token"]))
    app.validation_layout = build_layout(system.config.current())  # the skeleton: no data read at startup

    def page():
        current = get_system()
        return build_layout(current.config.current(), initial_props(current))
    app.layout = page
    register_callbacks(app, get_system)
    app.system, app.plotly_js = system, plotly_js  # for the entry point and tests
    if cfg["start_scheduler"]:
        system.start()
    return app


def parse_args(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> argparse.Namespace:
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(description="Serve the Hybrid Learning dashboard and REST API.")
    parser.add_argument("--host", default=env.get("HOST", "127.0.0.1"), help="bind address (env HOST)")
    parser.add_argument("--port", type=int, default=int(env.get("PORT", "8050")), help="port (env PORT)")
    parser.add_argument("--data-dir", default=env.get("DATA_DIR"), help="instance data directory (env DATA_DIR)")
    parser.add_argument("--api-token", default=env.get("HLS_API_TOKEN"),
                        help="bearer token for POST endpoints; required off loopback (env HLS_API_TOKEN)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        app = create_app({"data_dir": args.data_dir, "api_token": args.api_token, "host": args.host})
    except InsecureBind as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    source = ("replay: replaying bundled candles (offline)" if app.system.collector.source == "replay"
              else "live: Binance")
    print(f"Hybrid Learning dashboard: http://{args.host}:{args.port}/  (data dir {app.system.data_dir}; "
          f"data source {source})", flush=True)
    if not app.plotly_js.partial:
        print("note: serving the full plotly.js (4.8 MB); `npm ci` installs the 1.3 MB finance bundle, "
              "which draws the first chart about twice as fast", flush=True)
    try:
        app.run(host=args.host, port=args.port, debug=False)
    finally:
        app.system.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
