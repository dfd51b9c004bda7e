"""Job runner: outcomes recorded in SQLite, failures contained, one run at a time across processes."""
from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest

from engine.db import Database
from engine.errors import NotReady, ValidationError
from engine.jobs import JobRunner


def make_runner(data_dir: Path, **jobs) -> JobRunner:
    runner = JobRunner(Database(data_dir / "market.db"), data_dir / "locks")
    for name, func in jobs.items():
        runner.register(name, func)
    return runner


def boom():
    raise RuntimeError("exchange down")


def not_ready():
    raise NotReady("only 10 labelled rows in the window")


def test_outcomes_and_results_are_recorded(data_dir):
    runner = make_runner(data_dir, good=lambda n=1: {"rows": n, "loss": float("nan")},
                         lazy=lambda: {"status": "skipped", "reason": "not enough data"}, bad=boom,
                         early=not_ready)
    assert runner.run("good", "api", n=7)["outcome"] == "ok"
    assert runner.run("lazy", "schedule")["outcome"] == "skipped"
    early = runner.run("early", "schedule")
    assert early["outcome"] == "skipped" and "10 labelled rows" in early["result"]["reason"]
    failed = runner.run("bad", "cli")  # never raises
    assert failed["outcome"] == "error" and "exchange down" in failed["error"]

    # a fresh runner (another process) reads the same records from disk
    last = make_runner(data_dir).last_runs()
    assert last["good"]["result"] == {"rows": 7, "loss": None} and last["good"]["trigger"] == "api"
    assert last["lazy"]["outcome"] == "skipped"
    assert last["bad"]["error"].startswith("RuntimeError") and "Traceback" in last["bad"]["result"]["traceback"]
    assert [r["job"] for r in runner.history()] == ["bad", "early", "lazy", "good"]
    assert [r["job"] for r in runner.history(job="good")] == ["good"]
    assert runner.last_run("bad", outcome="ok") is None


def test_unknown_job_or_trigger_is_rejected_and_nothing_recorded(data_dir):
    runner = make_runner(data_dir, good=lambda: {})
    with pytest.raises(ValidationError) as err:
        runner.run("nope", "api")
    assert err.value.field == "job"
    with pytest.raises(ValidationError) as err:
        runner.run("good", "browser")
    assert err.value.field == "trigger"
    assert runner.history() == []


def test_cleanup_deletes_old_runs_only(data_dir):
    clock = iter([1_000, 5_000]).__next__
    runner = JobRunner(Database(data_dir / "market.db"), data_dir / "locks", clock=clock)
    runner.register("good", lambda: {})
    runner.run("good", "cli")
    runner.run("good", "cli")
    assert runner.cleanup(older_than_ms=2_000) == 1
    assert [r["start"] for r in runner.history()] == [5_000]


def _slow_job_in_child(data_dir: str) -> None:
    def slow():
        Path(data_dir, "started").touch()
        deadline = time.monotonic() + 20
        while not Path(data_dir, "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return {"done": True}

    make_runner(Path(data_dir), slow=slow).run("slow", "dashboard")


def _start_slow_job_in_child(data_dir: Path):
    """A spawned process running job "slow" (trigger dashboard), returned once the job has started."""
    child = mp.get_context("spawn").Process(target=_slow_job_in_child, args=(str(data_dir),))
    child.start()
    deadline = time.monotonic() + 20
    while not (data_dir / "started").exists():
        assert time.monotonic() < deadline and child.is_alive(), "child job never started"
        time.sleep(0.01)
    return child


def test_a_job_never_runs_twice_at_once_across_processes(data_dir):
    child = _start_slow_job_in_child(data_dir)
    try:
        runner = make_runner(data_dir, slow=lambda: {"done": "twice?"})
        busy = runner.run("slow", "api")
        assert busy["outcome"] == "busy" and "already running" in busy["error"]
    finally:
        (data_dir / "release").touch()
        child.join(20)
    assert child.exitcode == 0
    outcomes = sorted((r["trigger"], r["outcome"]) for r in runner.history())
    assert outcomes == [("api", "busy"), ("dashboard", "ok")]
    assert runner.run("slow", "api")["outcome"] == "ok"  # the lock is free again


def test_schedule_plan_is_saved_for_other_processes(data_dir):
    runner = make_runner(data_dir, a=lambda: {}, b=lambda: {})
    runner.save_schedule({"a": (123, 60.0), "b": (None, None)})
    next_runs, beat = make_runner(data_dir).schedule()
    assert next_runs == {"a": 123, "b": None} and beat is not None
    runner.save_schedule({})
    assert make_runner(data_dir).schedule() == ({}, None)


def test_a_run_shows_as_running_and_a_killed_one_as_interrupted(data_dir):
    """What a Cancel on the page does: the job's process is killed (SIGKILL) mid-run. Its run was recorded
    as running; once the process is gone it reads as interrupted, and the job runs again normally."""
    child = _start_slow_job_in_child(data_dir)
    try:
        runner = make_runner(data_dir, slow=lambda: {"done": True})
        running = runner.last_runs()["slow"]
        assert (running["outcome"], running["trigger"], running["error"]) == ("running", "dashboard", None)
        assert runner.history()[0]["outcome"] == "running"  # still held: not taken for dead
    finally:
        child.kill()
        child.join(20)
    interrupted = runner.last_run("slow")
    assert interrupted["outcome"] == "interrupted" and "cancelled or killed" in interrupted["error"]
    assert interrupted["id"] == running["id"]  # the same run, settled: no second record
    assert runner.run("slow", "api")["outcome"] == "ok"  # the lock died with the process
    assert [r["outcome"] for r in runner.history()] == ["ok", "interrupted"]
