"""The Dash dashboard: ``create_app(config)`` builds a fresh app; ``python app.py`` serves it with gunicorn.

Nothing happens at import time. The app mounts the REST API blueprint and /metrics on ``app.server``,
guards every route (server.auth: open on loopback, login or bearer token elsewhere), serves Bootstrap's
CSS from the installed bootstrap-flask package (no CDN) and competes to run the scheduler (one per data
dir). A page load is one layout request (the first tab's panels come filled in, no callback round trip),
preloaded while the browser compiles cacheable scripts, plotly.js among them (layouts.plotly_bundle picks
which). Long jobs run as background callbacks in other processes that open their own HybridLearningSystem
on the same data directory: diskcache workers on this machine, or Celery workers when REDIS_URL is set
(``python app.py worker``), which then also run the scheduled jobs.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
from pathlib import Path

import dash
import diskcache
import flask_bootstrap
import psutil
from flask import request, send_file, send_from_directory

from api import create_blueprint
from api.security import InsecureBind
from callbacks import initial_props, register_callbacks
from callbacks.figures import TRACE_TYPES
from engine import paths
from engine.jobs import log_to_stdout
from engine.system import HybridLearningSystem, SystemHandle
from layouts import plotly_bundle
from layouts.shell import build_layout
from server import auth
from server.wsgi import Server

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
    (a round trip per file). A short max-age lets a revisit take them from the cache. Files of assets/ come
    with their modification time in the URL (?m=...): versioned, cacheable for a year."""
    if request.path.startswith("/_dash-component-suites/") and not response.cache_control.max_age:
        response.cache_control.public = True
        response.cache_control.max_age = UNVERSIONED_MAX_AGE
    elif request.path.startswith("/assets/") and request.args.get("m"):
        response.cache_control.public = True
        response.cache_control.max_age = VERSIONED_MAX_AGE
    return response


class DashboardApp(dash.Dash):
    """Dash without the DataTable bundle, which Dash puts on every page: the dashboard's tables are plain
    HTML (layouts.widgets.table), so that script would only be downloaded and parsed for nothing.

    Dash's one-time setup (on the first request) marks itself done before it has registered the page's
    scripts and background-callback cancels: in a fresh gunicorn worker, the browser's parallel script
    requests then raced past it and got 500s. Here the first requests wait for it to finish."""

    def __init__(self, *args, **kwargs):
        self._setup_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def _setup_server(self):
        with self._setup_lock:
            super()._setup_server()

    def interpolate_index(self, **kwargs):
        kwargs["scripts"] = "\n".join(tag for tag in kwargs["scripts"].split("\n") if "/dash_table/" not in tag)
        return super().interpolate_index(**kwargs)


def create_app(config: dict | None = None) -> dash.Dash:
    """A new app. Keys: data_dir, start_scheduler (True), host ("127.0.0.1"), api_token (None),
    secret_key (None), redis_url (None), environ."""
    cfg = {"data_dir": None, "start_scheduler": True, "api_token": None, "secret_key": None, "host": "127.0.0.1",
           "redis_url": None, "environ": None, **(config or {})}
    access = auth.Access(cfg["host"], cfg["api_token"], cfg["secret_key"])
    access.check()
    data_dir = paths.data_dir(cfg["data_dir"])
    get_system = SystemHandle(data_dir, cfg["environ"])
    celery = None
    if cfg["redis_url"]:  # background callbacks and scheduled jobs on Celery workers
        from engine.tasks import dispatch, make_celery  # Celery is needed only with a Redis URL
        celery = make_celery(cfg["redis_url"], get_system)
        get_system.dispatch = dispatch(celery)  # the scheduler enqueues its jobs
        manager = dash.CeleryManager(celery)
    else:  # diskcache worker processes on this machine
        manager = dash.DiskcacheManager(diskcache.Cache(str(data_dir / "cache")))
    system = get_system()
    app = DashboardApp(__name__, title="Hybrid Learning", update_title=None, assets_folder=str(ASSETS_DIR),
                       external_stylesheets=[BOOTSTRAP_URL], background_callback_manager=manager,
                       serve_locally=True)
    # plotly.js as a page script ahead of Dash's (a versioned URL cached for a year) instead of dcc.Graph
    # fetching it only once mounted: the first tab draws a chart anyway.
    plotly_js = plotly_bundle.choose(TRACE_TYPES)
    app.index_string = (app.index_string.replace("{%css%}", "{%css%}\n" + _preload_links())
                        .replace("{%scripts%}", f'<script src="{plotly_js.url}"></script>\n{{%scripts%}}'))
    auth.install(app.server, access, lambda: get_system().db)
    app.server.add_url_rule(plotly_js.url, "vendor_plotly", lambda: send_file(
        plotly_js.path, mimetype="text/javascript", max_age=VERSIONED_MAX_AGE, conditional=True))
    app.server.after_request(_cache_unversioned_scripts)
    app.server.add_url_rule(BOOTSTRAP_URL, "vendor_bootstrap",
                            lambda: send_from_directory(BOOTSTRAP_DIR, "bootstrap.min.css", max_age=86400))
    app.server.register_blueprint(create_blueprint(system))
    from server import metrics  # imported here, never at module level: see server.metrics on multiprocess mode
    metrics.install(app.server, get_system)
    logout = None if access.open else auth.LOGOUT_PATH
    app.validation_layout = build_layout(system.config.current(), logout_path=logout)  # no data read at startup

    def page():
        current = get_system()
        return build_layout(current.config.current(), initial_props(current), logout)
    app.layout = page
    register_callbacks(app, get_system)
    app.system, app.plotly_js, app.celery = system, plotly_js, celery  # for the entry points and tests
    if cfg["start_scheduler"]:
        system.start()
    return app


def parse_args(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> argparse.Namespace:
    """``[serve] [options]`` (the default) or ``worker [options] [celery worker options...]``."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(description="Serve the Hybrid Learning dashboard and REST API (gunicorn), "
                                                 "or run a Celery worker for it (`worker`, needs REDIS_URL).")
    parser.add_argument("command", nargs="?", choices=("serve", "worker"), default="serve")
    parser.add_argument("--host", default=env.get("HOST", "127.0.0.1"), help="bind address (env HOST)")
    parser.add_argument("--port", type=int, default=int(env.get("PORT", "8050")), help="port (env PORT)")
    parser.add_argument("--data-dir", default=env.get("DATA_DIR"), help="instance data directory (env DATA_DIR)")
    parser.add_argument("--api-token", default=env.get("HLS_API_TOKEN"),
                        help="access token: required off loopback, for the login page and as "
                             "'Authorization: Bearer' (env HLS_API_TOKEN)")
    parser.add_argument("--workers", type=int, default=int(env.get("WORKERS", "2")),
                        help="server worker processes (env WORKERS)")
    parser.add_argument("--threads", type=int, default=int(env.get("THREADS", "8")),
                        help="request threads per worker (env THREADS)")
    parser.add_argument("--shutdown-timeout", type=float, default=float(env.get("SHUTDOWN_TIMEOUT", "20")),
                        help="on SIGTERM, seconds to wait for running jobs before recording them interrupted "
                             "(env SHUTDOWN_TIMEOUT)")
    parser.add_argument("--redis-url", default=env.get("REDIS_URL") or None,
                        help="Celery broker and result backend, e.g. redis://127.0.0.1:6379/0: background "
                             "callbacks and scheduled jobs then run on Celery workers (env REDIS_URL)")
    parser.add_argument("--concurrency", type=int, default=int(env.get("WORKER_CONCURRENCY", "2")),
                        help="worker: job processes (env WORKER_CONCURRENCY)")
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "worker":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.worker_options = rest  # passed on to `celery worker`
    args.secret_key = env.get("HLS_SECRET_KEY")
    for name in ("workers", "threads", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def _metrics_dir(data_dir: Path) -> Path:
    """A fresh folder for this server's per-process metrics (prometheus-client multiprocess mode), named by
    the server's pid; the folders of servers no longer running are removed."""
    root = data_dir / "metrics"
    root.mkdir(exist_ok=True)
    for old in root.iterdir():
        if not (old.name.isdigit() and psutil.pid_exists(int(old.name))) or int(old.name) == os.getpid():
            shutil.rmtree(old, ignore_errors=True)
    path = root / str(os.getpid())
    path.mkdir()
    return path


def serve(args) -> int:
    config = {"data_dir": args.data_dir, "api_token": args.api_token, "secret_key": args.secret_key,
              "host": args.host, "redis_url": args.redis_url}
    auth.Access(args.host, args.api_token, args.secret_key).check()
    data_dir = paths.data_dir(args.data_dir)
    if "prometheus_client" in sys.modules:  # its multiprocess mode must be chosen before the first import
        raise RuntimeError("prometheus_client was imported before the server chose its metrics folder")
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_metrics_dir(data_dir)))
    jobs = f"Celery workers via {args.redis_url}" if args.redis_url else "diskcache worker processes"
    collector = HybridLearningSystem(data_dir).collector  # probed here, once: the workers inherit no connection
    source = f"{collector.source}: {collector.stats()['source_reason']}"
    print(f"Hybrid Learning dashboard: http://{args.host}:{args.port}/  (data dir {data_dir}; data source "
          f"{source}; gunicorn, {args.workers} worker(s) x {args.threads} threads; background jobs: {jobs})",
          flush=True)
    if not plotly_bundle.choose(TRACE_TYPES).partial:
        print("note: serving the full plotly.js (4.8 MB); `npm ci` installs the 1.3 MB finance bundle, "
              "which draws the first chart about twice as fast", flush=True)
    Server(lambda: create_app(config), args.host, args.port, workers=args.workers, threads=args.threads,
           shutdown_timeout=args.shutdown_timeout).run()
    return 0


def work(args) -> int:
    """A Celery worker: the engine's job task and the dashboard's background callbacks."""
    if not args.redis_url:
        print("error: the worker needs REDIS_URL (or --redis-url)", file=sys.stderr)
        return 2
    app = create_app({"data_dir": args.data_dir, "redis_url": args.redis_url, "start_scheduler": False})
    app.celery.worker_main(["worker", "--loglevel", "INFO", "--concurrency", str(args.concurrency),
                        *args.worker_options])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log_to_stdout()
    try:
        return work(args) if args.command == "worker" else serve(args)
    except InsecureBind as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
