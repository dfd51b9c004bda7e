"""Benchmark: GET /ml/hybrid/predict over real HTTP on loopback (threaded WSGI server).

A load process (spawned) keeps ``--concurrency`` keep-alive connections busy for ``--seconds``
and reports the median / p95 latency and requests per second. The same run measures GET
/ml/hybrid/config (no model work) as the reference, so the ratio shows what prediction adds.
Goal: median <= 5 ms and >= 200 req/s on 2 cores, no errors.

    python bench/api_predict.py [--seconds 10] [--concurrency 2]
"""
from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def load(port: int, path: str, seconds: float, concurrency: int, out) -> None:
    """Runs in the load process: ``concurrency`` threads, each with one keep-alive connection."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, bad = [], 0
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            mine.append(time.perf_counter() - t0)
            bad += resp.status != 200
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    lat = sorted(latencies)
    out.put({"n": len(lat), "errors": errors[0], "rps": len(lat) / elapsed,
             "median_ms": 1000 * statistics.median(lat), "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))]})


def prepare(data_dir: str):
    """A system on replayed bundled candles with trained online and batch models."""
    from engine.system import HybridLearningSystem

    system = HybridLearningSystem(data_dir, environ={"HLS_DATA_SOURCE": "replay"})
    for job in ("collect", "online_update", "batch_retrain"):
        run = system.run_job(job, "cli")
        print(f"setup {job}: {run['outcome']} in {run['duration_ms'] / 1000:.1f} s {run['error'] or ''}")
    return system


def serve(system):
    from flask import Flask
    from werkzeug.serving import WSGIRequestHandler, make_server

    from api import create_blueprint

    app = Flask("bench")
    app.register_blueprint(create_blueprint(system))
    class QuietHandler(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as browsers and clients use

        def log_request(self, *args):  # no access log on the measured path
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        system = prepare(tmp)
        print("prediction:", {k: system.predict("BTCUSDT")[k] for k in ("status", "ensemble_prediction",
                                                                         "ensemble_confidence")})
        times = []
        for _ in range(200):  # the work the endpoint's 1 s cache saves (see HybridLearningSystem.predict)
            t0 = time.perf_counter()
            system.hybrid.predict("BTCUSDT", store_prediction=False)
            times.append(time.perf_counter() - t0)
        print(f"uncached HybridEnsemble.predict in-process: median {1000 * statistics.median(times):.2f} ms")
        server = serve(system)
        ctx = mp.get_context("spawn")
        results = {}
        for name, path in (("reference GET /ml/hybrid/config", "/ml/hybrid/config"),
                           ("GET /ml/hybrid/predict", "/ml/hybrid/predict?symbol=btcusdt")):
            out = ctx.Queue()
            proc = ctx.Process(target=load, args=(server.server_port, path, args.seconds, args.concurrency, out))
            proc.start()
            results[name] = out.get(timeout=args.seconds + 60)
            proc.join()
            r = results[name]
            print(f"{name:34} n={r['n']:6d} errors={r['errors']} {r['rps']:7.1f} req/s "
                  f"median {r['median_ms']:.2f} ms p95 {r['p95_ms']:.2f} ms")
        server.shutdown()
        ref, pred = results.values()
        print(f"predict / reference: median x{pred['median_ms'] / ref['median_ms']:.2f}, "
              f"throughput x{pred['rps'] / ref['rps']:.2f}")
        ok = pred["median_ms"] <= 5 and pred["rps"] >= 200 and pred["errors"] == 0
        print("goal (median <= 5 ms, >= 200 req/s, no errors):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
