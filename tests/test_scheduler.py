"""Scheduler: plan from config, rescheduling on config change (even from another process), failures contained."""
from __future__ import annotations

import os
import signal
import time

import pytest

from engine.config import DEFAULTS, ConfigStore, validate
from engine.db import Database
from engine.jobs import JobRunner, now_ms
from engine.scheduler import Leadership, Scheduler, plan, scheduler_state

JOBS = ("collect", "online_update", "batch_retrain", "evaluate", "cleanup")


def test_plan_follows_config_and_replay_rule():
    live = plan(DEFAULTS, replaying=False)
    assert live == {"collect": ("every", 300.0), "online_update": ("every", 1800.0),
                    "batch_retrain": ("every", 86400.0), "evaluate": ("every", 3600.0),
                    "cleanup": ("daily", "02:00")}
    replay = plan(DEFAULTS, replaying=True)
    assert replay["collect"] == ("every", 5.0) and replay["online_update"] == ("every", 30.0)
    assert replay["batch_retrain"] == live["batch_retrain"]
    off = plan(validate({"data_collection_enabled": False, "auto_retrain_enabled": False}), replaying=False)
    assert off["collect"] is None and off["batch_retrain"] is None and off["evaluate"] == live["evaluate"]


def make(data_dir, jobs, **kw):
    runner = JobRunner(Database(data_dir / "market.db"), data_dir / "locks")
    for name in JOBS:
        runner.register(name, jobs.get(name, lambda: {}))
    return runner, Scheduler(runner, ConfigStore(data_dir, environ={}).current, **kw)


def test_intervals_follow_config_changes_from_another_process(data_dir):
    runner, sched = make(data_dir, {}, heartbeat_s=0.0)
    sched.tick()
    t0 = now_ms()
    first = sched.next_runs()
    assert first["collect"] == pytest.approx(t0 + 300_000, abs=3_000)
    assert first["cleanup"] is not None and 0 < first["cleanup"] - t0 <= 86_400_000
    running, on_disk = scheduler_state(runner)
    assert running and on_disk == first

    # another process (its own ConfigStore) edits the config file: the next tick reschedules
    ConfigStore(data_dir, environ={}).update({"data_collection_interval_minutes": 10, "auto_retrain_enabled": False})
    sched.tick()
    after = sched.next_runs()
    assert after["collect"] == pytest.approx(now_ms() + 600_000, abs=3_000)
    assert after["batch_retrain"] is None
    assert after["online_update"] == first["online_update"]  # unchanged jobs keep their time
    assert scheduler_state(runner)[1] == after

    runner.save_schedule({})  # a second scheduler (another process) stopped and cleared the plan
    sched.tick()
    assert scheduler_state(runner) == (True, after)  # this one, still running, saves it again

    sched.stop()
    assert scheduler_state(runner) == (False, {})


@pytest.mark.slow
def test_failing_job_is_recorded_retried_and_never_stops_the_scheduler(data_dir):
    ConfigStore(data_dir, environ={}).update({"data_collection_interval_minutes": 0.05})  # every 3 s
    calls = []

    def flaky():
        calls.append(1)
        raise ConnectionError("no route to exchange")

    runner, sched = make(data_dir, {"collect": flaky}, tick_s=0.05)
    sched.start(run_now=["evaluate"])
    try:
        deadline = time.monotonic() + 20
        while len([r for r in runner.history(job="collect") if r["outcome"] == "error"]) < 2:
            assert time.monotonic() < deadline, "collect was not retried at its next time"
            time.sleep(0.05)
        assert sched.running
    finally:
        sched.stop()
    runs = runner.history()
    assert {(r["job"], r["trigger"]) for r in runs} == {("collect", "schedule"), ("evaluate", "schedule")}
    assert all("no route" in r["error"] for r in runs if r["job"] == "collect")
    starts = sorted(r["start"] for r in runs if r["job"] == "collect")
    assert starts[1] - starts[0] >= 2_500  # at its interval, not in a tight loop


def test_replaying_collects_every_few_seconds(data_dir):
    runner, sched = make(data_dir, {}, replaying=lambda: True)
    sched.tick()
    assert sched.next_runs()["collect"] - now_ms() <= 5_000


def test_one_leader_and_a_standby_takes_over_when_it_dies(data_dir):
    led = []
    a = Leadership(data_dir / "locks", lambda: led.append("a"), lambda timeout: led.append("a resigned"), retry_s=0.05)
    b = Leadership(data_dir / "locks", lambda: led.append("b"), lambda timeout: led.append("b resigned"), retry_s=0.05)
    assert a.start() and not b.start() and led == ["a"]
    child = os.fork()  # like a background-callback process forked from the leader
    if child == 0:
        time.sleep(30)
        os._exit(0)
    try:
        os.close(a.lock._fd)  # the leader dies (its descriptor closes without an unlock)
        deadline = time.monotonic() + 10
        while not b.leading:  # the child's inherited descriptor does not keep the lock
            assert time.monotonic() < deadline, "the standby never took over"
            time.sleep(0.05)
        assert led == ["a", "b"]
        b.stop()
        assert led[-1] == "b resigned" and not b.leading
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
