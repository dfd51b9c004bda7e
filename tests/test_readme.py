"""The README stays true: every setting, API route and CLI command it must document is in it."""
from __future__ import annotations

import re
from pathlib import Path

import app as dashboard
from api.routes import ROUTES
from engine.cli import build_parser
from engine.config import SCHEMA

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_documented():
    missing = [key for key in SCHEMA if f"`{key}`" not in README]
    assert not missing, f"README lacks settings: {missing}"


def test_every_api_route_is_documented():
    documented = README.replace("\\|", "|")
    missing = [r.rule for r in ROUTES if re.sub(r"<(\w+:)?(\w+)>", r"<\2>", r.rule) not in documented]
    assert not missing, f"README lacks routes: {missing}"


def test_every_cli_command_is_documented():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    missing = [name for name in sub.choices if f"`{name}`" not in README]
    assert not missing, f"README lacks commands: {missing}"


def test_every_server_variable_is_documented():
    variables = set(re.findall(r"\(env (\w+)\)", Path(dashboard.__file__).read_text())) | {"HLS_SECRET_KEY"}
    assert len(variables) >= 8
    missing = [v for v in sorted(variables) if f"`{v}`" not in README]
    assert not missing, f"README lacks server variables: {missing}"
