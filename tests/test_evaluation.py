"""Walk-forward replay on real candles: honest (no label used before it is known) and complete."""
import json

import numpy as np
import pandas as pd
import pytest

from engine.candles import load_sample
from engine.cli import main
from engine.config import validate
from engine.db import Database
from engine.errors import ValidationError
from engine.evaluation import MODELS, VOTERS, _learn, walk_forward
from engine.report import rolling_accuracy
from engine.labels import LABEL_KINDS
from engine.metrics import BASELINES
from engine.store import CandleStore
from engine.trade_evaluation import STRATEGIES, verdict
from engine.trading import backtest

CONFIG = validate({"batch_window_days": 20, "outcome_warmup_days": 28, "outcome_threshold": 0.99,
                   "signal_confidence_threshold": 0.51})
PROB_COLUMNS = [f"p_{m}" for m in (*MODELS, "ensemble", *BASELINES)]
WEIGHT_COLUMNS = [f"w_{v}" for v in VOTERS]
START = 700  # first evaluated bar of the span


@pytest.fixture(scope="module")
def span(btc_candles):
    return btc_candles.iloc[30000:31200].reset_index(drop=True)


def run(candles, label="direction", **changes):
    return walk_forward(candles, validate(changes, CONFIG), online_every=6, retrain_every=24,
                        start_ms=int(candles.open_time[START]), label=label, random_seeds=5)


@pytest.fixture(scope="module")
def result(span):
    return run(span)


def test_report_has_every_model_hybrid_and_baseline(result, span):
    r = result.report
    assert set(r["models"]) == {"sgd", "passive_aggressive", "mlp_online", "batch"}
    assert set(r["baselines"]) == {"majority_class", "always_up", "persistence", "reversal"}
    for scores in (*r["models"].values(), r["hybrid"], *r["baselines"].values()):
        assert scores["n"] == 499  # the last bar's label is unknown
        for key in ("accuracy", "balanced_accuracy", "brier"):
            assert 0.0 <= scores[key] <= 1.0 and scores[f"{key}_se"] >= 0  # always_up: balanced 0.5 ± 0
        assert scores["log_loss"] > 0 and scores["log_loss_se"] > 0
    assert r["bars_evaluated"] == 500 and r["first_open_time"] == int(span.open_time[START])
    assert r["label"] == "direction" and r["horizon"] == 1
    json.dumps(r)  # serialisable as is


def test_predictions_frame(result, span):
    p = result.predictions
    assert list(p.columns) == ["open_time", "close", *PROB_COLUMNS[:5], *WEIGHT_COLUMNS, "prediction", "label",
                               "batch_model", "p_reference", *PROB_COLUMNS[5:]]
    assert p.open_time.tolist() == span.open_time[START:].tolist()
    assert p[PROB_COLUMNS].notna().all().all()  # warmed up on the bars before the span
    assert (p.prediction == (p.p_ensemble >= 0.5).astype(int)).all()
    up = (span.close.shift(-1) > span.close).astype(float).to_numpy()[START:]
    np.testing.assert_array_equal(p.label.to_numpy()[:-1], up[:-1])
    assert np.isnan(p.label.iloc[-1])  # its outcome is not in the data


@pytest.mark.parametrize("label", LABEL_KINDS)
def test_calls_gates_and_thresholds_do_not_depend_on_later_bars(result, span, label):
    """Bars after t (and so the labels and trade outcomes of t and later) cannot change the call made at t,
    nor the outcome model's judgement or the threshold in force for a signal on t."""
    full = result if label == "direction" else run(span, label)
    cut = 1030  # not on an update boundary
    short = run(span.iloc[:cut], label)
    a = short.predictions[PROB_COLUMNS + WEIGHT_COLUMNS]
    b = full.predictions[PROB_COLUMNS + WEIGHT_COLUMNS].iloc[:len(a)].reset_index(drop=True)
    assert len(a) == cut - START
    pd.testing.assert_frame_equal(a, b)
    columns = ["bar", "side", "p_up", "p_win", "threshold", "outcome_excluded", "outcome_ok", "cost_ok", "size"]
    judged = short.signals[columns].iloc[:-1]  # the last signal bar has no next bar in the short run
    pd.testing.assert_frame_equal(judged, full.signals[columns].iloc[:len(judged)])
    assert judged["p_win"].notna().sum() > 100


def test_thresholds_are_chosen_on_the_earlier_window_only(result, span):
    """Prices inside the reported period change every trade there, but not the threshold chosen before it."""
    changed = span.copy()
    rng = np.random.default_rng(1)
    factor = np.r_[np.ones(START), np.cumprod(1 + rng.normal(0, 0.01, len(span) - START))]
    for column in ("open", "high", "low", "close"):
        changed[column] = span[column] * factor
    changed["high"] = changed[["open", "high", "close"]].max(axis=1)
    changed["low"] = changed[["open", "low", "close"]].min(axis=1)
    other = run(changed)
    before, after = result.report["trading"], other.report["trading"]
    assert before["outcome_model"]["learned_before_span"] >= 100  # enough to choose on (not the fallback)
    assert before["thresholds"]["first"] != CONFIG["outcome_threshold"]
    assert after["thresholds"]["first"] == before["thresholds"]["first"]
    judged = ["bar", "side", "p_up", "p_win", "threshold", "outcome_excluded"]  # what was known at the signal
    pd.testing.assert_frame_equal(other.signals.loc[other.signals.bar < START, judged],
                                  result.signals.loc[result.signals.bar < START, judged])
    assert not other.predictions["p_ensemble"].equals(result.predictions["p_ensemble"])  # the period did change


def test_adaptive_weights_mix_every_voter_and_the_report_says_how_much_each_counted(result):
    p = result.predictions
    weights = p[WEIGHT_COLUMNS].to_numpy()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    mix = sum(p[f"w_{m}"] * p[f"p_{m}"] for m in MODELS) + p.w_abstain * 0.5
    np.testing.assert_allclose(p.p_ensemble, mix)
    assert (weights > 0).all()  # every model answered every bar, and abstain always competes
    assert result.report["hybrid_mode"] == "adaptive"
    for v in VOTERS:
        assert result.report["mean_weight"][v] == pytest.approx(p[f"w_{v}"].mean())
    assert set(result.report["batch_choice_share"]) <= {"7d", "14d", "20d", "20d trees"}  # batch_window_days 20
    assert sum(result.report["batch_choice_share"].values()) == pytest.approx(1.0)


def test_fixed_weights_leave_out_models_worse_than_their_baseline(span):
    p = run(span, hybrid_mode="fixed", online_health_window=100).predictions
    online = p[["w_sgd", "w_passive_aggressive", "w_mlp_online"]]
    voting = (online > 0).sum(axis=1)
    batch = p.w_batch > 0
    np.testing.assert_allclose(online.sum(axis=1), np.where(voting > 0, np.where(batch, 0.3, 1.0), 0.0))
    np.testing.assert_allclose(p.w_batch, np.where(batch, np.where(voting > 0, 0.7, 1.0), 0.0))
    assert (online == 0).to_numpy().any() and p[["p_sgd", "p_passive_aggressive", "p_mlp_online"]].notna().all().all()
    np.testing.assert_allclose(p.p_ensemble, sum(p[f"w_{m}"] * p[f"p_{m}"] for m in MODELS) + p.w_abstain * 0.5)


def test_strategies_rules_match_the_backtest_and_the_gates_only_take_what_passed(result, span):
    t = result.report["trading"]
    s, signals = t["strategies"], result.signals
    reported = signals[signals["bar"] >= START]
    calls = result.predictions[["open_time", "p_ensemble"]].rename(columns={"p_ensemble": "prob_up"})
    expected = backtest(span.iloc[START:], calls, CONFIG)
    assert s["rules"]["trades"] == expected["trades"] and s["rules"]["pnl_usdt"] == pytest.approx(expected["pnl_usdt"])
    assert s["rules"]["win_rate"] == pytest.approx(expected["win_rate"])
    assert t["signals"] == len(reported) and t["cost_ok"] == reported["cost_ok"].sum()
    assert s["rules_cost"]["trades"] <= reported["cost_ok"].sum()
    assert s["rules_outcome"]["trades"] <= reported["outcome_ok"].sum()
    assert s["always_flat"]["pnl_usdt"] == 0 and s["always_flat"]["pnl_usdt_ci"] == [0.0, 0.0]
    assert s["buy_and_hold"]["trades"] == 1 and t["live"] == "rules_cost_outcome"
    for name in STRATEGIES:
        low, high = s[name]["pnl_usdt_ci"]
        assert low <= s[name]["pnl_usdt"] <= high
        assert s[name]["random"]["trades"]["mean"] == s[name]["trades"] and s[name]["random"]["seeds"] == 5
    assert "always-flat" in verdict(s, "rules", "Today's rules")


def test_bad_arguments(span):
    with pytest.raises(ValidationError) as err:
        walk_forward(span, CONFIG, online_every=0)
    assert err.value.field == "online_every"
    with pytest.raises(ValidationError) as err:
        walk_forward(span.iloc[:30], CONFIG)
    assert err.value.field == "candles"


def test_rolling_accuracy(result):
    rolling = rolling_accuracy(result.predictions, window=50)
    assert set(rolling.columns) == {*MODELS, "ensemble", "reference", *BASELINES}
    p = result.predictions.iloc[-51:-1]
    expected = ((p.p_sgd >= 0.5).astype(float) == p.label).mean()
    assert rolling["sgd"].iloc[-2] == pytest.approx(expected)


def test_cli_loads_the_sample_when_the_store_is_empty(data_dir, tmp_path, capsys):
    settings = {"batch_window_days": 20, "outcome_warmup_days": 5}
    (data_dir / "config.json").write_text(json.dumps(settings))
    out = tmp_path / "out"
    code = main(["--data-dir", str(data_dir), "evaluate", "--symbol", "BTCUSDT", "--interval", "1h",
                 "--start", "2022-12-28", "--end", "2022-12-30", "--online-every", "12", "--labels", "direction",
                 "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "loaded the bundled sample" in text and "bars/s" in text
    report = json.loads(next(out.glob("*.json")).read_text())
    assert report["symbols"] == ["BTCUSDT"] and list(report["labels"]) == ["direction"]
    r = report["labels"]["direction"]["symbols"]["BTCUSDT"]
    assert r["online_every"] == 12 and "together" not in report["labels"]["direction"]
    assert r["bars_evaluated"] == 72 and set(r["baselines"]) == set(BASELINES)
    assert set(r["trading"]["strategies"]) == {*STRATEGIES, "always_flat", "buy_and_hold"}
    html = next(out.glob("*.html")).read_text()
    assert "Rolling accuracy (24 bars)" in html and "<script" not in html and len(html) < 2_000_000  # no script at all
    predictions = pd.read_csv(next(out.glob("*.csv")))
    assert len(predictions) == 72 and set(predictions.symbol) == {"BTCUSDT"}
    for words in ("today's rules", "random entry, same trades", "always flat", "buy and hold", "always-flat (0 USDT)",
                  "block-bootstrap interval"):
        assert words in text
    # second run: candles are in the store now, nothing loaded
    assert main(["--data-dir", str(data_dir), "evaluate", "--symbol", "BTCUSDT", "--start", "2022-12-30",
                 "--labels", "direction", "--out", str(out)]) == 0
    assert "loaded the bundled sample" not in capsys.readouterr().out


def test_cli_reports_each_symbol_and_together_on_4h_bars_and_both_labels(data_dir, tmp_path, capsys):
    """Each symbol over its own stored history (BTC ends 2022, ETH 2026): pooled per symbol, never on one axis."""
    store = CandleStore(Database(data_dir / "market.db"))
    for symbol in ("BTCUSDT", "ETHUSDT"):
        store.upsert(symbol, "1h", load_sample(symbol).iloc[-2400:])  # 100 days, 600 4h bars
    (data_dir / "config.json").write_text(json.dumps({"batch_window_days": 60, "outcome_warmup_days": 10}))
    out = tmp_path / "out"
    code = main(["--data-dir", str(data_dir), "evaluate", "--symbols", "btcusdt,ETHUSDT", "--interval", "4h",
                 "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    report = json.loads(next(out.glob("*.json")).read_text())
    assert report["interval"] == "4h" and list(report["labels"]) == list(LABEL_KINDS)
    for label, part in report["labels"].items():
        btc, eth = part["symbols"]["BTCUSDT"], part["symbols"]["ETHUSDT"]
        assert btc["last_open_time"] == 1672516800000  # 2022-12-31 20:00, the last 4h bar of the BTC sample
        assert eth["last_open_time"] == 1778673600000  # 2026-05-13 12:00
        assert btc["bars_evaluated"] == eth["bars_evaluated"] == 600 - 72  # all but the inputs' warm-up
        together = part["together"]
        assert together["symbols"] == ["BTCUSDT", "ETHUSDT"]
        assert together["hybrid"]["n"] == btc["hybrid"]["n"] + eth["hybrid"]["n"]
        for name, s in together["trading"]["strategies"].items():
            ours = [r["trading"]["strategies"][name] for r in (btc, eth)]
            assert s["trades"] == sum(o["trades"] for o in ours)
            assert s["pnl_usdt"] == pytest.approx(sum(o["pnl_usdt"] for o in ours))
            assert s["max_drawdown_usdt"] == pytest.approx(max(o["max_drawdown_usdt"] for o in ours))
    assert btc["horizon"] == CONFIG["max_holding_bars"]  # triple barrier: known after the holding time
    assert "BTCUSDT + ETHUSDT 4h together, triple_barrier label" in text and "no shared time axis" in text


def test_cli_refuses_an_interval_that_cannot_be_built(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "evaluate", "--symbols", "BTCUSDT", "--interval", "15m"]) == 2
    assert "interval: no BTCUSDT 15m candles stored and 15m bars cannot be built from 1h bars" in capsys.readouterr().out


def test_learning_is_chunked_and_drift_rewarms_from_the_newest_learned_rows():
    class Recorder:
        """Stands in for OnlineLearners: says 'drift' for sgd on the second chunk it sees."""

        def __init__(self):
            self.chunks, self.rewarms = [], []

        def score_then_learn(self, X, y):
            self.chunks.append(X[:, 0].tolist())
            drift = len(self.chunks) == 2
            return {"models": {"sgd": {"drift": drift}, "mlp_online": {"drift": False}}}

        def regime_length(self, name):
            return 30

        def rewarm(self, X, y, names):
            self.rewarms.append((X[:, 0].tolist(), names))

    X = np.arange(200, dtype=float).reshape(-1, 1)
    y = np.ones(200)
    learners = Recorder()
    _learn(learners, X, y, np.arange(100, 180), np.arange(0, 100), buffer_size=1000)
    assert [len(c) for c in learners.chunks] == [50, 30]
    assert learners.rewarms == [(list(np.arange(150.0, 180.0)), ["sgd"])]  # newest 30 learned, up to that chunk
    small = Recorder()
    _learn(small, X, y, np.arange(100, 180), np.arange(0, 100), buffer_size=10)
    assert small.rewarms[0][0] == list(np.arange(170.0, 180.0))  # capped by buffer_size
