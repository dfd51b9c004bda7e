"""Benchmark: GET /ml/hybrid/predict over HTTP on loopback, production server vs the development server.

One prepared data dir (replayed candles, trained online and batch models) is served by
- the development server the app used before (Werkzeug, threaded: ``create_app(...).run()``),
- ``python app.py`` (gunicorn, gthread) with 1 and with 4 workers of ``--threads`` threads (the app's default),
  and with 4 workers of 2 threads (fewer threads per process contend less for its GIL: a shorter tail),
each loaded by ``--clients`` keep-alive connections (asyncio loops in ``--load-processes`` spawned
processes) for ``--seconds``, then by one connection (the latency of a request that waits for no other).
Prints req/s, p50 and p99 latency per server and the throughput ratio to Werkzeug. Goal: >= 2x
Werkzeug's throughput at 4 workers, p99 <= 20 ms. The machine's cores are shared by server and load
generator: read the figures with that in mind.

    python bench/api_predict.py [--seconds 10] [--clients 32] [--threads 8]
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import multiprocessing as mp
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PATH = "/ml/hybrid/predict?symbol=btcusdt"
CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")
CLOSE = re.compile(rb"(?i)\r\nconnection: *close")
# no jobs of the server's own during the measurement (the models are trained beforehand)
ENV = {"HLS_DATA_SOURCE": "replay", "HLS_DATA_COLLECTION_ENABLED": "false", "HLS_AUTO_RETRAIN_ENABLED": "false"}


def load(port: int, seconds: float, clients: int, out) -> None:
    """In a load process: ``clients`` keep-alive connections driven by one asyncio loop (no threads: a
    client thread waiting for its own process's GIL would count as server latency)."""
    out.put(asyncio.run(_load(port, seconds, clients)))


async def _load(port: int, seconds: float, clients: int) -> tuple[list[float], int]:
    request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    latencies: list[float] = []
    errors = 0

    async def client(deadline: float) -> None:
        nonlocal errors
        writer = None
        while (t0 := time.perf_counter()) < deadline:
            try:
                if writer is None:  # a new connection: the first, or the server closed the last (HTTP/1.0)
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(int(CONTENT_LENGTH.search(head)[1]))
            except (OSError, asyncio.IncompleteReadError, TypeError):  # TypeError: no Content-Length
                errors += 1
                if writer is not None:
                    writer.close()
                writer = None
                continue
            latencies.append(time.perf_counter() - t0)
            errors += head[9:12] != b"200"
            if head.startswith(b"HTTP/1.0") or CLOSE.search(head):
                writer.close()
                writer = None
        if writer is not None:
            writer.close()

    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(client(deadline) for _ in range(clients)))
    return latencies, errors


def measure(port: int, seconds: float, clients: int, processes: int) -> dict:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    procs = [ctx.Process(target=load, args=(port, seconds, n, out)) for n in shares if n]
    for p in procs:
        p.start()
    latencies, errors = [], 0
    for _ in procs:
        lat, err = out.get(timeout=seconds + 120)
        latencies += lat
        errors += err
    for p in procs:
        p.join()
    lat = sorted(latencies)
    pick = lambda q: 1000 * lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    return {"n": len(lat), "errors": errors, "rps": len(lat) / seconds, "p50_ms": pick(0.50), "p99_ms": pick(0.99)}


def prepare(data_dir: str) -> None:
    from engine.system import HybridLearningSystem

    system = HybridLearningSystem(data_dir, environ=ENV)
    for job in ("collect", "online_update", "batch_retrain"):
        run = system.run_job(job, "cli")
        print(f"setup {job}: {run['outcome']} in {run['duration_ms'] / 1000:.1f} s {run['error'] or ''}")


def serve_werkzeug(port: int, data_dir: str) -> None:
    """The development server as `python app.py` ran it before gunicorn (Flask's app.run: threaded Werkzeug)."""
    import logging

    import app as dashboard

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log on the measured path
    dashboard.create_app({"data_dir": data_dir, "environ": ENV}).run(host="127.0.0.1", port=port, debug=False)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], port: int, log) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HLS_")} | ENV
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", PATH)
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server on {port} did not answer: {command}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument("--serve-werkzeug", nargs=2, metavar=("PORT", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_werkzeug:
        serve_werkzeug(int(args.serve_werkzeug[0]), args.serve_werkzeug[1])
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = str(Path(tmp) / "data")
        prepare(data_dir)
        servers = {"Werkzeug dev server (threaded)": lambda port: [sys.executable, __file__, "--serve-werkzeug",
                                                                   str(port), data_dir]}
        for workers, threads in ((1, args.threads), (4, args.threads), (4, 2)):
            servers[f"gunicorn {workers} worker(s) x {threads} threads"] = (
                lambda port, w=workers, t=threads: [sys.executable, "app.py", "--port", str(port), "--data-dir",
                                                    data_dir, "--workers", str(w), "--threads", str(t)])
        print(f"{args.clients} concurrent keep-alive clients in {args.load_processes} processes, "
              f"{args.seconds:.0f} s each, {os.cpu_count()} cores shared by server and clients")
        results = {}
        with open(Path(tmp) / "servers.log", "w") as log:
            for name, command in servers.items():
                port = free_port()
                proc = start(command(port), port, log)
                try:
                    measure(port, 2.0, args.clients, args.load_processes)  # warm-up: caches, connections
                    results[name] = r = measure(port, args.seconds, args.clients, args.load_processes)
                    alone = measure(port, args.seconds / 2, 1, 1)
                finally:
                    proc.terminate()
                    proc.wait(60)
                print(f"{name:40} n={r['n']:6d} errors={r['errors']} {r['rps']:7.1f} req/s "
                      f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms | 1 client: "
                      f"p50 {alone['p50_ms']:5.2f} ms  p99 {alone['p99_ms']:5.2f} ms")
        ref = results.pop("Werkzeug dev server (threaded)")
        print("throughput vs Werkzeug:", ", ".join(f"{name.removeprefix('gunicorn ')} x{r['rps'] / ref['rps']:.2f}"
                                                   for name, r in results.items()))
        for name, r in results.items():
            if name.startswith("gunicorn 4 "):
                ok = r["rps"] >= 2 * ref["rps"] and r["p99_ms"] <= 20 and r["errors"] == 0
                print(f"goal ({name}: >= 2x Werkzeug, p99 <= 20 ms, no errors):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
