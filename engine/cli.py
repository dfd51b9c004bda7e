"""Command-line entry point; each area registers its subcommands from engine/commands/."""
from __future__ import annotations

import argparse
import importlib
import sys

# Each module defines register(subparsers); a subcommand sets func(args) -> int exit code.
COMMAND_MODULES = ("engine.commands.data", "engine.commands.learning", "engine.commands.system",
                   "engine.commands.batch")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Hybrid learning engine: operator commands.")
    parser.add_argument("--data-dir", default=None, help="instance data directory (default: $DATA_DIR or ./data)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
