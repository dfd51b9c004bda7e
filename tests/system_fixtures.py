"""Fixtures for the system/API/CLI tests: a HybridLearningSystem on replayed candles (never the internet)."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from api import create_blueprint
from engine.system import HybridLearningSystem
from server import auth

# replay the bundled candles; a short backfill and small update threshold keep tests fast
TEST_ENV = {"HLS_DATA_SOURCE": "replay", "HLS_BACKFILL_DAYS": "12", "HLS_MIN_DATA_POINTS_FOR_UPDATE": "20"}


def make_system(data_dir: Path, collect: bool = False, **env: str) -> HybridLearningSystem:
    system = HybridLearningSystem(data_dir, environ=TEST_ENV | env)
    if collect:
        run = system.run_job("collect", "cli")
        assert run["outcome"] == "ok", run
    return system


def make_client(system, access: auth.Access | None = None):
    """The API on a bare Flask app behind the server's guard (default: bound to loopback)."""
    app = Flask("test")
    auth.install(app, access or auth.Access("127.0.0.1"), lambda: system.db)
    app.register_blueprint(create_blueprint(system))
    return app, app.test_client()
