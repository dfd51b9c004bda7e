"""Batch model commands: list the stored versions, roll back to an earlier one."""
from __future__ import annotations

import datetime as dt
import sys

from engine.errors import ValidationError


def _trainer(args):
    from engine.system import HybridLearningSystem

    return HybridLearningSystem(args.data_dir).batch


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def cmd_versions(args) -> int:
    versions = _trainer(args).versions()
    if not versions:
        print("no batch model trained yet")
        return 0
    print(f"  {'version':>7}  {'trained':20} {'trigger':10} {'rows':>6} {'log loss':>9} {'baseline':>9}  decision")
    for v in versions:
        m = v["metrics"]
        mark = "*" if v["active"] else ("-" if not v["available"] else " ")
        print(f"{mark} {v['version']:>7}  {_when(v['trained_at']):20} {v['trigger'][:10]:10} {v['rows']:>6} "
              f"{m['log_loss']:9.5f} {m['baseline']['log_loss']:9.5f}  {v['decision']}")
    print("(* active, - model file pruned: cannot roll back to it)")
    return 0


def cmd_rollback(args) -> int:
    trainer = _trainer(args)
    before = trainer.active()
    try:
        after = trainer.rollback(args.version)
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"active batch model: v{after['version']} (was v{before['version']})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("batch-versions", help="list the batch model versions (newest first), the active one marked")
    p.set_defaults(func=cmd_versions)
    p = sub.add_parser("batch-rollback", help="make an earlier batch model version active again")
    p.add_argument("--version", type=int, default=None, help="version to activate (default: the previous one)")
    p.set_defaults(func=cmd_rollback)
