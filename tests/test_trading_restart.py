"""A paper-trading process SIGKILLed mid-way; a new process resumes: one trade, closed once, learned once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.db import Database
from engine.store import CandleStore
from engine.trading import PaperTrader
from trading_fixtures import config

CHILD = Path(__file__).with_name("trading_child.py")
ROOT = Path(__file__).resolve().parent.parent


def run_child(db_path: Path, stop_at: str | None) -> list[str]:
    """Run the child; if ``stop_at`` is given, SIGKILL it once it reports that step. Returns its lines."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(CHILD.parent)]))
    env.pop("TRADING_STOP_AT", None)
    if stop_at:
        env["TRADING_STOP_AT"] = stop_at
    proc = subprocess.Popen([sys.executable, str(CHILD), str(db_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line.strip())
            if stop_at and lines[-1] == stop_at:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.stdout.close()
        proc.stdin.close()
        code = proc.wait(timeout=60)
    assert code == (-signal.SIGKILL if stop_at else 0), lines
    return lines


@pytest.mark.parametrize("stop_at", ["signal", "filled", "in_learn", "closed"])
def test_killed_trader_resumes_without_losing_or_repeating_anything(data_dir, stop_at):
    db_path = data_dir / "market.db"
    first = run_child(db_path, stop_at)
    assert first[-1] == stop_at
    second = run_child(db_path, None)
    closed_by_resume = int(second[-1].split()[1])

    db = Database(db_path)
    trader = PaperTrader(db, CandleStore(db), config)
    [trade] = trader.trades()
    assert trade["status"] == "closed" and trade["exit_reason"] == "take_profit"
    assert len(trader.signals()) == 1
    [event] = trader.learning_events()
    assert (event["trade_id"], event["status"], event["target"]) == (trade["id"], "delivered", 1)
    assert [tuple(r) for r in db.query("SELECT symbol, target FROM learned")] == [("BTCUSDT", 1)]
    # the killed run had closed the trade already from "in_learn" on: the resume must not close it again
    assert closed_by_resume == (1 if stop_at in ("signal", "filled") else 0)
