"""System commands: status, update, retrain, serve-jobs (the scheduler without the dashboard; one JSON line per
job start and end on stdout)."""
from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import threading
import time


def _system(args):
    from engine.system import HybridLearningSystem

    return HybridLearningSystem(args.data_dir)


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _print_run(run: dict) -> int:
    print(f"{run['job']}: {run['outcome']} in {run['duration_ms'] / 1000:.1f} s")
    result = run["result"] or {}
    for key, value in result.items():
        if key != "traceback":
            print(f"  {key}: {value}")
    if run["error"]:
        print(f"  error: {run['error']}", file=sys.stderr)
    return 0 if run["outcome"] in ("ok", "skipped") else 1


def cmd_status(args) -> int:
    s = _system(args).status()
    bm, dc = s["batch_model"], s["data_collection"]
    print(f"scheduler: {'running' if s['running'] else 'not running'}   time: {_when(s['time'])}")
    metrics = {k: round(v, 4) if isinstance(v, float) else v for k, v in (bm["metrics"] or {}).items()
               if k in ("accuracy", "log_loss", "beats_baseline", "n")}
    print("batch model: " + (f"v{bm['version']} trained {_when(bm['trained_at'])} hold-out {metrics}"
                              if bm["loaded"] else "none yet") + ("" if bm["serving"] else f" ({bm['note']})"))
    om = s["outcome_model"]
    print(f"outcome model: {om['samples_seen']} trade outcomes learned, threshold "
          f"{'-' if om['threshold'] is None else format(om['threshold'], '.2f')} ({om['threshold_how']})"
          + (f"; {om['excluded_reason']}" if om["excluded"] else ""))
    print(f"data: {dc['source']}{' (replaying)' if dc['replaying'] else ''}, "
          f"collection {'on' if dc['enabled'] else 'off'}" + (f", last error: {dc['last_error']}" if dc['last_error'] else ""))
    for sym, info in (dc["symbols"] or {}).items():
        print(f"  {sym}: {info.get('rows')} rows, last candle {_when(info.get('last_open_time'))}")
    b = s["buffer"]
    print(f"online buffer: {b['size']}/{b['max']} samples, {b['pending']} new")
    print("jobs:")
    for job, nxt in s["next_runs"].items():
        last = s["jobs"].get(job)
        done = f"last {last['outcome']} {_when(last['start'])}" if last else "never ran"
        print(f"  {job:14} {done:40} next {_when(nxt)}")
    for alert in s["alerts"]:
        print(f"[{alert['level']}] {alert['kind']}: {alert['message']}")
    return 0


def cmd_update(args) -> int:
    return _print_run(_system(args).run_job("online_update", "cli", batch_size=args.batch_size))


def cmd_retrain(args) -> int:
    def progress(fraction: float, message: str) -> None:
        bar = "#" * int(fraction * 30)
        print(f"\r[{bar:30}] {fraction:4.0%} {message[:60]:60}", end="", flush=True)

    run = _system(args).run_job("batch_retrain", "cli", progress=progress)
    print()
    return _print_run(run)


def cmd_serve_jobs(args) -> int:
    from engine.jobs import log_to_stdout
    from engine.system import HybridLearningSystem, SystemHandle

    log_to_stdout()
    if args.once:
        system = _system(args)
        return max(_print_run(system.run_job(name, "cli")) for name in system.jobs.names)
    dispatch = None
    if args.redis_url:  # the scheduler decides when; Celery workers (python app.py worker) run the jobs
        from engine.tasks import dispatch as queue_dispatch, make_celery
        dispatch = queue_dispatch(make_celery(args.redis_url, SystemHandle(args.data_dir)))
    system = HybridLearningSystem(args.data_dir, dispatch=dispatch)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    where = f"jobs queued to Celery via {args.redis_url}" if args.redis_url else "jobs run here"
    if system.start():
        print(f"scheduler running on {system.data_dir}, {where} (Ctrl-C to stop)", flush=True)
    else:
        print(f"another process schedules {system.data_dir}; standing by to take over (Ctrl-C to stop)", flush=True)
    try:
        stop.wait(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        t0 = time.monotonic()
        system.stop()
        print(f"scheduler stopped ({time.monotonic() - t0:.1f} s to finish running jobs)", flush=True)
    return 0


def register(sub) -> None:
    p = sub.add_parser("status", help="scheduler, models, data collection, jobs and alerts")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("update", help="run an online update now on the samples waiting (skipped only when none wait)")
    p.add_argument("--batch-size", type=int, default=50)
    p.set_defaults(func=cmd_update)
    p = sub.add_parser("retrain", help="retrain the batch model now, showing progress")
    p.set_defaults(func=cmd_retrain)
    p = sub.add_parser("serve-jobs", help="run the job scheduler without the dashboard until Ctrl-C/SIGTERM")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--once", action="store_true", help="run every job once in this process (no scheduler), then exit")
    g.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or None,
                   help="queue the scheduled jobs to Celery workers (`python app.py worker`) instead of running "
                        "them here (env REDIS_URL)")
    p.set_defaults(func=cmd_serve_jobs)
