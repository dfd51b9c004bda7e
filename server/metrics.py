"""GET /metrics in Prometheus text format (guarded like every route by server.auth).

Disk is the truth: job runs and durations, candles per symbol, Binance requests and weight, online and
batch model scores, live (scored-prediction) accuracy and the scheduler heartbeat are read from SQLite and
the model files at scrape time (``SystemCollector``), so every worker and server of an instance answers the
same. Request latency (``hls_http_request_duration_seconds``, by route: /ml/hybrid/predict is the prediction
latency) is measured per process; under gunicorn, prometheus-client's multiprocess mode merges the workers'
histograms from PROMETHEUS_MULTIPROC_DIR (app.serve sets it to <data dir>/metrics/<server pid>,
fresh at start). Without that variable (one process, e.g. tests) the histogram is this app's own.

prometheus-client chooses its value store when it is first imported, from that variable: import this module
only once it is set (app.create_app imports it inside the function; app.serve checks nobody did earlier).
"""
from __future__ import annotations

import os
import time
from typing import Callable, Iterator

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from engine.scheduler import scheduler_state

PATH = "/metrics"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _gauge(name: str, doc: str, samples: dict[tuple, float | None], labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    for key, value in samples.items():
        if value is not None:
            family.add_metric(list(key), float(value))
    return family


class SystemCollector:
    """A prometheus-client collector reading one HybridLearningSystem's state from disk at each scrape."""

    def __init__(self, get_system: Callable):
        self.get_system = get_system

    def collect(self) -> Iterator[Metric]:
        system = self.get_system()
        yield from self._jobs(system)
        yield from self._data(system)
        yield from self._models(system)

    @staticmethod
    def _jobs(system) -> Iterator[Metric]:
        runs = CounterMetricFamily("hls_job_runs", "Job runs recorded, by outcome (cleanup drops those older "
                                                   "than prediction_retention_days)", labels=["job", "outcome"])
        durations = SummaryMetricFamily("hls_job_duration_seconds", "Time spent in finished job runs",
                                        labels=["job"])
        totals: dict[str, list[float]] = {}
        for row in system.db.query("SELECT job, outcome, COUNT(*) AS n, SUM(duration_ms) AS ms FROM job_runs "
                                   "GROUP BY job, outcome"):
            runs.add_metric([row["job"], row["outcome"]], row["n"])
            if row["outcome"] != "running":
                total = totals.setdefault(row["job"], [0, 0.0])
                total[0] += row["n"]
                total[1] += (row["ms"] or 0) / 1000
        for job, (count, seconds) in totals.items():
            durations.add_metric([job], count_value=count, sum_value=seconds)
        yield runs
        yield durations
        last = system.jobs.last_runs()
        yield _gauge("hls_job_last_start_timestamp_seconds", "Start of the latest run",
                     {(job, run["outcome"]): run["start"] / 1000 for job, run in last.items()}, ("job", "outcome"))
        yield _gauge("hls_job_last_duration_seconds", "Duration of the latest run",
                     {(job,): run["duration_ms"] / 1000 for job, run in last.items()}, ("job",))
        ok = system.db.query("SELECT job, MAX(started_at) AS t FROM job_runs WHERE outcome='ok' GROUP BY job")
        yield _gauge("hls_job_last_success_timestamp_seconds", "Start of the latest successful run",
                     {(r["job"],): r["t"] / 1000 for r in ok}, ("job",))
        running, _ = scheduler_state(system.jobs)
        yield _gauge("hls_scheduler_up", "1 when a scheduler's heartbeat is fresh", {(): int(running)})

    @staticmethod
    def _data(system) -> Iterator[Metric]:
        stats = system.collector.stats()
        counts = system.store.counts()
        labels = ("symbol", "interval")
        yield _gauge("hls_candles_stored", "Candles in the store",
                     {(c["symbol"], c["interval"]): c["rows"] for c in counts}, labels)
        yield _gauge("hls_candle_last_open_timestamp_seconds", "Open time of the newest stored candle",
                     {(c["symbol"], c["interval"]): c["last_open_time"] and c["last_open_time"] / 1000
                      for c in counts}, labels)
        yield _gauge("hls_candle_lag_seconds", "How far the newest candle is behind the (replay) clock",
                     {(symbol, system.config.current()["interval"]): info["lag_ms"] and info["lag_ms"] / 1000
                      for symbol, info in stats["symbols"].items()}, labels)
        requests = CounterMetricFamily("hls_binance_requests", "Requests made to Binance (all processes)")
        requests.add_metric([], stats["requests"])
        yield requests
        errors = CounterMetricFamily("hls_collector_errors", "Collection errors recorded")
        errors.add_metric([], stats["errors"])
        yield errors
        yield _gauge("hls_binance_weight_used", "Request weight used in the current minute, as Binance last "
                                                "reported (X-MBX-USED-WEIGHT-1M)", {(): stats["weight_used"]})
        yield _gauge("hls_data_source", "1 for the source in use (live or replay)",
                     {(stats["source"],): 1} if stats["source"] else {}, ("source",))

    @staticmethod
    def _models(system) -> Iterator[Metric]:
        online = system.online.stats()
        models = online.get("models") or {}
        for key, doc in (("accuracy", "Prequential accuracy (scored before learning)"),
                         ("log_loss", "Prequential log loss (scored before learning)"),
                         ("samples_seen", "Samples learned")):
            yield _gauge(f"hls_online_{key}", f"Online model: {doc}",
                         {(name, ): m.get(key) for name, m in models.items()}, ("model",))
        yield _gauge("hls_online_drift", "1 while the model's drift detector flags drift",
                     {(name,): int(bool(m.get("drift"))) for name, m in models.items()}, ("model",))
        yield _gauge("hls_online_buffer_samples", "Samples in the rolling online buffer",
                     {("stored",): online.get("buffer_size"), ("pending",): online.get("pending")}, ("state",))
        active = system.batch.active()
        metrics = (active or {}).get("metrics") or {}
        yield _gauge("hls_batch_version", "Active batch model version", {(): active and active.get("version")})
        yield _gauge("hls_batch_trained_timestamp_seconds", "When the active batch model was trained",
                     {(): active and active.get("trained_at") and active["trained_at"] / 1000})
        for key in ("accuracy", "log_loss"):
            yield _gauge(f"hls_batch_{key}", f"Active batch model: hold-out {key.replace('_', ' ')}",
                         {(): metrics.get(key)})
        live = system.hybrid.accuracy_summary()
        for key in ("accuracy", "log_loss"):
            yield _gauge(f"hls_live_{key}", f"Scored predictions: {key.replace('_', ' ')} per model and ensemble",
                         {(name,): m.get(key) for name, m in (live.get("models") or {}).items()}, ("model",))
        yield _gauge("hls_predictions", "Stored predictions, by state",
                     {("scored",): live.get("scored"), ("pending",): live.get("pending")}, ("state",))


def install(server: Flask, get_system: Callable) -> None:
    """Add /metrics and the request-latency histogram to ``server``."""
    multiprocess = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    latency = Histogram("hls_http_request_duration_seconds", "Request latency by route (served requests)",
                        ["route"], buckets=LATENCY_BUCKETS, registry=None)
    system_collector = SystemCollector(get_system)

    @server.before_request
    def start_timer():
        g.hls_started = time.perf_counter()

    @server.after_request
    def observe(response):
        started = g.pop("hls_started", None)
        if started is not None:
            rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
            latency.labels(rule).observe(time.perf_counter() - started)
        return response

    def metrics():
        registry = CollectorRegistry(auto_describe=False)
        if multiprocess:
            MultiProcessCollector(registry, path=multiprocess)
        else:
            registry.register(latency)
        registry.register(system_collector)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    server.add_url_rule(PATH, "metrics", metrics)
