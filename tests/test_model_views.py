"""The model views' pure builders (accuracy per symbol on bar time, calibration, importance, health beside the
baselines, job lines, the retrain card, versions) on data shaped as the engine returns it, and their thin
views against a real system."""
from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

import callbacks.models
import engine.health
import layouts.health
import layouts.joblog
from callbacks.model_figures import (MIN_POINTS, accuracy_figure, accuracy_series, calibration_bins,
                                     calibration_figure, importance_figure, rolling_accuracy)
from callbacks.models import importance_view, rollback
from callbacks.status import accuracy_view, history_view, joblog_view
from layouts import panels
from layouts.health import health_view
from layouts.joblog import job_log, job_result, retrain_card, run_detail
from layouts.models import versions_table
from tests.dashboard_fixtures import HOUR, T0, find, sample_status, text_of
from tests.system_fixtures import make_system

BTC_2017, ETH_2024 = 1_502_000_000_000, 1_717_000_000_000


@pytest.mark.parametrize("module", [engine.health, layouts.health, layouts.joblog, callbacks.models])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def _scored(start: int, n: int, seed: int = 0, **override) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(int)
    frame = pd.DataFrame({"open_time": start + HOUR * np.arange(n), "outcome": y,
                          "ensemble": np.where(y == 1, 0.6, 0.4), "batch": rng.random(n), "sgd": rng.random(n),
                          "passive_aggressive": np.full(n, np.nan), "mlp_online": rng.random(n)})
    return frame.assign(**override)


def test_rolling_accuracy_carries_its_standard_error_and_sample_count():
    r = rolling_accuracy([40, 10, 20, 30], [True, True, False, False], window=2)
    assert r["open_time"].tolist() == [10, 20, 30, 40] and r["n"].tolist() == [1, 2, 2, 2]
    assert r["accuracy"].tolist() == [1.0, 0.5, 0.0, 0.5] and r["se"].iloc[1] == pytest.approx(0.5 / 2 ** 0.5)


def test_accuracy_series_is_on_bar_time_with_both_baselines():
    scored = _scored(BTC_2017, 80)
    series = accuracy_series(scored, horizon=1, window=50)
    assert set(series) == {"hybrid", "batch", "sgd", "mlp_online", "baseline: majority class", "baseline: reversal"}
    assert series["hybrid"]["open_time"].tolist() == scored["open_time"].tolist()  # market time, not wall clock
    assert series["hybrid"]["accuracy"].iloc[-1] == 1.0  # it always knew
    y = scored["outcome"].to_numpy()
    reversal_right = (1 - y[:-1]) == y[1:]  # bar t guesses the opposite of bar t-1's outcome
    assert series["baseline: reversal"]["accuracy"].iloc[-1] == pytest.approx(reversal_right[-50:].mean())
    assert accuracy_series(scored.iloc[:0], horizon=1) == {}


def test_accuracy_figure_one_panel_per_symbol_each_on_its_own_time_axis():
    fig = accuracy_figure({"BTCUSDT": accuracy_series(_scored(BTC_2017, 120), 1),
                           "ETHUSDT": accuracy_series(_scored(ETH_2024, 120, seed=1), 1)})
    hybrid = [t for t in fig.data if t.name == "hybrid"]
    assert [t.xaxis for t in hybrid] == ["x", "x2"]  # never one axis joining 2017 and 2024
    assert fig.layout.xaxis2.matches is None and fig.layout.xaxis.matches is None
    assert pd.Timestamp(hybrid[0].x[0]).year == 2017 and pd.Timestamp(hybrid[1].x[0]).year == 2024
    assert [t.showlegend for t in hybrid] == [True, False]  # one legend entry per model
    solid = np.asarray(hybrid[0].y, dtype=float)
    assert np.isnan(solid[:MIN_POINTS - 1]).all() and np.isfinite(solid[MIN_POINTS - 1:]).all()
    faded = next(t for t in fig.data if t.name == f"hybrid (< {MIN_POINTS} samples)")
    assert faded.opacity < 0.5 and len(faded.x) == MIN_POINTS
    band = next(t for t in fig.data if t.name == "hybrid ±2 SE")
    assert band.fill == "toself" and min(band.y) >= 0 and max(band.y) <= 1
    assert next(t for t in fig.data if t.name == "baseline: majority class").line.dash == "dash"
    assert next(t for t in fig.data if t.name == "sgd").visible == "legendonly"
    assert fig.layout.height == 2 * 340
    empty = accuracy_figure({"BTCUSDT": {}})
    assert not empty.data and "No scored predictions" in empty.layout.annotations[0].text


def test_calibration_groups_have_enough_predictions_and_a_diagonal():
    p = np.linspace(0.4, 0.6, 200)
    y = (np.random.default_rng(0).random(200) < p).astype(int)
    bins = calibration_bins(p, y)
    assert len(bins) == 10 and bins["n"].sum() == 200 and (bins["predicted"].diff().dropna() > 0).all()
    assert len(calibration_bins(p[:50], y[:50])) == 2  # at least 20 per group
    fig = calibration_figure({"BTCUSDT": bins, "ETHUSDT": bins.iloc[:0]})
    assert [t.name for t in fig.data] == ["perfectly calibrated", "hybrid · BTCUSDT"]
    assert list(fig.data[1].error_y.array) == pytest.approx((2 * bins["se"]).tolist())
    assert "No scored predictions" in calibration_figure({}).layout.annotations[0].text


def test_importance_figure_puts_the_most_useful_feature_on_top():
    fig = importance_figure({"rsi": {"mean": 0.002, "std": 0.0005}, "atr": {"mean": -0.001, "std": 0.0001},
                             "macd": {"mean": 0.004, "std": 0.001}}, version=3)
    assert list(fig.data[0].y) == ["atr", "rsi", "macd"] and "v3" in fig.layout.xaxis.title.text
    assert "No feature importance" in importance_figure(None, None).layout.annotations[0].text


HEALTH = {"window": 200, "min_samples": 30, "symbols": {"BTCUSDT": {"n": 120, "window": 200, "models": {
    "hybrid": {"n": 120, "accuracy": 0.55, "accuracy_se": 0.045, "log_loss": 0.689, "log_loss_se": 0.004,
               "baselines": {"majority_class": {"n": 120, "accuracy": 0.51, "accuracy_se": 0.046, "log_loss": 0.693,
                                                "log_loss_se": 0.001},
                             "reversal": {"n": 120, "accuracy": 0.54, "accuracy_se": 0.045, "log_loss": 15.0,
                                          "log_loss_se": 1.0}}, "beats_baseline": True, "verdict": "beats",
               "weight": None},
    "sgd": {"n": 12, "accuracy": 0.4, "accuracy_se": 0.14, "log_loss": 0.8, "log_loss_se": 0.05,
            "baselines": {"majority_class": {"n": 12, "accuracy": 0.5, "accuracy_se": 0.14, "log_loss": 0.7,
                                             "log_loss_se": 0.01},
                          "reversal": {"n": 12, "accuracy": 0.5, "accuracy_se": 0.14, "log_loss": 9.0,
                                       "log_loss_se": 1.0}}, "beats_baseline": None, "verdict": "too_few",
            "weight": 0.0}}}}}


def test_health_view_puts_every_score_beside_its_baseline_and_standard_error():
    text = text_of(health_view(HEALTH, ["BTCUSDT"]))
    for shown in ("55.0% ± 4.5", "51.0% ± 4.6", "54.0% ± 4.5", "0.6890 ± 0.0040", "0.6930 ± 0.0010",
                  "beats baseline", "too few to judge (n < 30)", "weight now", "0.0%"):
        assert shown in text, shown
    assert "15.0" not in text  # the reversal's log loss (a hard 0/1 guess) means nothing: not shown
    no_better = {**HEALTH["symbols"]["BTCUSDT"]["models"]["hybrid"], "verdict": "no_better", "beats_baseline": False}
    health = {**HEALTH, "symbols": {"BTCUSDT": {**HEALTH["symbols"]["BTCUSDT"], "models": {"hybrid": no_better}}}}
    text = text_of(health_view(health, ["BTCUSDT"]))
    assert "no better than baseline" in text and "beats" not in text.replace("\"beats\"", "")
    assert text_of(health_view(None, ["BTCUSDT"])) == ""


def test_status_cards_show_batch_scores_beside_the_baseline_and_learning_fields_only_when_there():
    metrics = {"accuracy": 0.522, "accuracy_se": 0.03, "log_loss": 0.69427, "log_loss_se": 0.002,
               "beats_baseline": False, "baseline": {"accuracy": 0.51, "log_loss": 0.69301}}
    status = sample_status(batch_model={"loaded": True, "version": 2, "trained_at": T0, "age_s": 60.0,
                                        "metrics": metrics})
    text = text_of(panels.status_cards(status))
    assert "0.6943 ± 0.0020 vs baseline 0.6930" in text and "52.2% ± 3.0 vs baseline 51.0%" in text
    assert "below baseline" in text and "serving" not in text
    status["batch_model"].update(serving=False, note="no batch model beats the majority-class baseline; "
                                                      "predictions use the online models only")
    text = text_of(panels.status_cards(status))
    assert "not serving" in text and "online models only" in text


def test_prediction_shows_the_weights_used_and_exclusions_only_when_reported():
    pred = {"status": "ok", "ensemble_prediction": 1, "ensemble_confidence": 0.6, "batch_prediction": 1,
            "individual_predictions": {"sgd": 1, "mlp_online": 0}, "probabilities": {"batch": 0.6, "sgd": 0.7},
            "weights": {"batch": 0.75, "sgd": 0.25}, "model_versions": {}}
    text = text_of(panels.prediction_result(pred))
    assert "75.0%" in text and "25.0%" in text and "excluded" not in text
    pred["excluded"] = {"mlp_online": "recent log loss worse than the baseline's"}
    assert "recent log loss worse" in text_of(panels.prediction_result(pred))


def test_network_failure_reads_in_words_with_the_detail_behind_a_toggle():
    reason = ("Binance unreachable at https://api.binance.com (ConnectionError ([Errno -2] Name or service not "
              "known)); replaying the bundled candles")
    status = sample_status(replaying=True)
    status["data_collection"]["reason"] = reason
    line = find(panels.status_cards(status), "status-source-line")
    assert line.children[0].children == panels.UNREACHABLE_TEXT  # the summary an operator reads first
    assert "Errno" in text_of(line.children[1])  # the raw text, inside the closed <details>
    chosen = sample_status(replaying=True)
    chosen["data_collection"]["reason"] = "data_source is replay"
    assert "Replay chosen in settings" in text_of(panels.status_cards(chosen))
    error = panels.last_error({"text": "ConnectionError ([Errno -2] Name or service not known)", "time": T0})
    assert text_of(error).startswith("Last error: Binance unreachable")


RETRAIN = {"version": 2, "promoted": True, "champion_version": 1, "decision": "promoted: hold-out log loss 0.69210 "
           "vs v1 0.69300", "metrics": {"n": 267, "accuracy": 0.53, "accuracy_se": 0.03, "log_loss": 0.6921,
                                          "log_loss_se": 0.002, "beats_baseline": True,
                                          "baseline": {"accuracy": 0.51, "accuracy_se": 0.03, "log_loss": 0.6931,
                                                       "log_loss_se": 0.001}},
           "champion_metrics": {"accuracy": 0.52, "accuracy_se": 0.03, "log_loss": 0.6930, "log_loss_se": 0.002},
           "rows_train": 1064, "rows_holdout": 267, "holdout_window": [T0, T0 + 266 * HOUR]}


def test_retrain_result_is_a_readable_card():
    card = retrain_card(RETRAIN)
    text = text_of(card)
    assert "Version 2 promoted — now serving" in text and "beats the baseline" in text
    assert "0.6921 ± 0.0020" in text and "0.6930 ± 0.0020" in text and "0.6931 ± 0.0010" in text
    assert "rows_hol" not in text and "promoted=True" not in text
    kept = text_of(retrain_card({**RETRAIN, "promoted": False, "metrics": {**RETRAIN["metrics"],
                                                                          "beats_baseline": False}}))
    assert "not promoted — v1 keeps serving" in kept and "does not beat the baseline" in kept
    first_loses = text_of(retrain_card({**RETRAIN, "promoted": False, "champion_version": None,
                                        "champion_metrics": None}))
    assert "not promoted — no batch model serves yet" in first_loses and "vNone" not in first_loses
    shown = job_result({"job": "batch_retrain", "outcome": "ok", "duration_ms": 1200, "result": RETRAIN})
    assert find(shown, "retrain-card") is not None


@pytest.mark.parametrize("run, line", [
    ({"job": "collect", "result": {"source": "replay", "new_candles": {"BTCUSDT": 2, "ETHUSDT": 0}}},
     "BTCUSDT +2 candles (replay)"),
    ({"job": "collect", "result": {"source": "live", "new_candles": {"BTCUSDT": 1}, "failed": {
        "ETHUSDT": "BinanceUnavailable: ConnectionError (x)"}}},
     "BTCUSDT +1 candles (live) · ETHUSDT failed: Binance unreachable"),
    ({"job": "collect", "outcome": "error", "error": "CollectError: BinanceUnavailable: timed out"},
     "failed: Binance unreachable"),
    ({"job": "online_update", "result": {"status": "updated", "samples": 41, "update_results": {"sgd": 0.5}}},
     "learned 41 samples · scored before learning: sgd 50.0%"),
    ({"job": "online_update", "outcome": "skipped", "result": {"status": "skipped", "reason": "no new samples waiting"}},
     "skipped: no new samples waiting"),
    ({"job": "batch_retrain", "result": RETRAIN}, "v2 promoted — hold-out log loss 0.6921 vs v1 0.6930 · baseline 0.6931"),
    ({"job": "evaluate", "result": {"scored": 12}}, "scored 12 predictions"),
    ({"job": "cleanup", "result": {"candles": 0, "predictions": 3, "temp_files": 0}}, "deleted 3 predictions"),
    ({"job": "collect", "outcome": "interrupted", "error": "ended before finishing"},
     "stopped before finishing (cancelled or its process ended)"),
])
def test_each_job_run_reads_as_one_line(run, line):
    assert run_detail(run) == line


def test_job_log_says_how_many_routine_runs_it_hides():
    runs = [{"id": 2, "job": "online_update", "trigger": "dashboard", "start": T0, "duration_ms": 420,
             "outcome": "ok", "result": {"samples": 3, "update_results": {}}, "error": None}]
    log = job_log(runs, total=1, hidden=250)
    assert "250 routine scheduled collects hidden" in text_of(log) and "0.42 s" in text_of(log)
    assert "No job run matches" in text_of(job_log([], 0))


def test_versions_side_by_side_with_rollback_buttons():
    base = {"trained_at": T0, "trigger": "schedule", "rows_train": 1000, "rows_holdout": 250,
            "by_symbol": {"BTCUSDT": {"train_window": [BTC_2017, BTC_2017 + 99 * HOUR],
                                      "holdout_window": [BTC_2017 + 100 * HOUR, BTC_2017 + 120 * HOUR]}},
            "metrics": RETRAIN["metrics"], "decision": "promoted"}
    versions = [{**base, "version": 3, "active": True, "promoted": True, "available": True},
                {**base, "version": 2, "active": False, "promoted": False, "available": True,
                 "champion_version": 1, "champion_metrics": {"log_loss": 0.69}},
                {**base, "version": 1, "active": False, "promoted": True, "available": False}]
    table = versions_table(versions)
    text = text_of(table)
    assert "BTCUSDT" in text and "train 2017-08-06 – 2017-08-10" in text and "v1 0.6900" in text and "file removed" in text
    assert find(table, {"type": "rollback", "version": 2}) is not None
    assert find(table, {"type": "rollback", "version": 3}) is None  # the active one serves


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    sys_ = make_system(tmp_path_factory.mktemp("views") / "data", collect=True)
    for _ in range(2):
        assert sys_.run_job("batch_retrain", "cli")["outcome"] == "ok"
    return sys_


def test_views_page_and_follow_the_symbol(system):
    log = system.hybrid.log
    for i in range(40):  # BTC from 2017 and ETH from 2024, scored
        for symbol, start in (("BTCUSDT", BTC_2017), ("ETHUSDT", ETH_2024)):
            log.record(symbol, "1h", start + i * HOUR, 1, {"ensemble": 0.6, "batch": 0.4}, "ok", created_at=T0 + i)
    system.db.query("UPDATE predictions SET outcome = open_time / 3600000 % 2, scored_at = 1 WHERE outcome IS NULL")
    content, n_pages, page = history_view(system, "ETHUSDT", 2)
    assert page == 2 and n_pages == -(-log.count("ETHUSDT") // 15)
    assert "ETHUSDT" in text_of(content) and "BTCUSDT" not in text_of(find(content, "prediction-history-table"))
    assert history_view(system, "ETHUSDT", 99)[2] == n_pages  # past the end: the last page
    fig, weights, version = accuracy_view(system, "ALL")
    assert {t.xaxis for t in fig.data if t.name == "hybrid"} == {"x", "x2"}
    assert "No prediction has recorded its weights" in weights.layout.annotations[0].text  # recorded without them
    assert accuracy_view(system, "ALL", version) == (accuracy_view(system, "ALL", version)[0],) * 3  # no redraw
    log.record("ETHUSDT", "1h", ETH_2024 + 50 * HOUR, 1, {"ensemble": 0.6, "batch": 0.4}, "ok",
               weights={"batch": 0.7, "abstain": 0.3})
    fig, weights, again = accuracy_view(system, "ETHUSDT", version)
    assert again != version and [t.y[-1] for t in weights.data if t.name in ("batch", "abstain")] == [0.7, 0.3]
    assert [t.name for t in weights.data] == ["batch", "sgd", "passive_aggressive", "mlp_online", "abstain"]
    for _ in range(3):
        system.run_job("collect", "schedule")
    log_all, _, _ = joblog_view(system, "any", "any", True, 1)
    log_quiet, _, _ = joblog_view(system, "any", "any", False, 1)
    assert "collect" in text_of(log_all) and "routine scheduled collects hidden" in text_of(log_quiet)
    retrains, _, _ = joblog_view(system, "batch_retrain", "ok", False, 1)
    assert text_of(find(retrains, "job-log-note")).startswith("2 runs")


def test_rollback_from_the_page_uses_the_engine_rule(system):
    versions = system.batch.versions()
    figure, options, chosen = importance_view(versions, None)
    assert chosen == system.batch.active()["version"] and len(figure.data[0].y) == len(system.batch.active()["inputs"])
    assert [o["value"] for o in options] == [v["version"] for v in versions]
    target = next(v["version"] for v in versions if not v["active"] and v["available"])
    assert "is active again" in text_of(rollback(system, target))
    assert system.batch.active()["version"] == target
    refused = rollback(system, 999)
    assert refused.id == "rollback-error" and "no stored model file for version 999" in text_of(refused)
    assert callbacks.models.calibration_view(system, "BTCUSDT").data
