"""Walk-forward replay on real candles: honest (no label used before it is known) and complete."""
import json

import numpy as np
import pandas as pd
import pytest

from engine.candles import load_sample
from engine.cli import main
from engine.config import validate
from engine.errors import ValidationError
from engine.evaluation import MODELS, _learn, rolling_accuracy, walk_forward
from engine.metrics import BASELINES
from engine.trading import backtest

CONFIG = validate({"batch_window_days": 7})
PROB_COLUMNS = [f"p_{m}" for m in (*MODELS, "ensemble", *BASELINES)]


@pytest.fixture(scope="module")
def span(btc_candles):
    return btc_candles.iloc[30000:30520].reset_index(drop=True)


@pytest.fixture(scope="module")
def result(span):
    return walk_forward(span, CONFIG, online_every=6, retrain_every=24, start_ms=int(span.open_time[200]))


def test_report_has_every_model_hybrid_and_baseline(result, span):
    r = result.report
    assert set(r["models"]) == {"sgd", "passive_aggressive", "mlp_online", "batch"}
    assert set(r["baselines"]) == {"majority_class", "always_up", "persistence", "reversal"}
    for scores in (*r["models"].values(), r["hybrid"], *r["baselines"].values()):
        assert 250 < scores["n"] <= 320
        for key in ("accuracy", "balanced_accuracy", "brier"):
            assert 0.0 <= scores[key] <= 1.0 and scores[f"{key}_se"] >= 0  # always_up: balanced 0.5 ± 0
        assert scores["log_loss"] > 0 and scores["log_loss_se"] > 0
    assert r["bars_evaluated"] == 320 and r["first_open_time"] == int(span.open_time[200])
    json.dumps(r)  # serialisable as is


def test_predictions_frame(result, span):
    p = result.predictions
    assert list(p.columns) == ["open_time", "close", *PROB_COLUMNS[:5], "prediction", "label", *PROB_COLUMNS[5:]]
    assert p.open_time.tolist() == span.open_time[200:].tolist()
    assert p[PROB_COLUMNS].notna().all().all()  # warmed up on the bars before the span
    assert (p.prediction == (p.p_ensemble >= 0.5).astype(int)).all()
    up = (span.close.shift(-1) > span.close).astype(float).to_numpy()[200:]
    np.testing.assert_array_equal(p.label.to_numpy()[:-1], up[:-1])
    assert np.isnan(p.label.iloc[-1])  # its outcome is not in the data


def test_predictions_do_not_depend_on_later_bars(result, span):
    """Bars after t (and so the labels of t and later) cannot change the call made at t."""
    cut = 430  # not on an update boundary
    short = walk_forward(span.iloc[:cut], CONFIG, online_every=6, retrain_every=24,
                         start_ms=int(span.open_time[200]))
    a = short.predictions[PROB_COLUMNS]
    b = result.predictions[PROB_COLUMNS].iloc[:len(a)].reset_index(drop=True)
    assert len(a) == cut - 200
    pd.testing.assert_frame_equal(a, b)


def test_hybrid_is_the_configured_mix(result):
    p = result.predictions
    online = p[["p_sgd", "p_passive_aggressive", "p_mlp_online"]].mean(axis=1)
    np.testing.assert_allclose(p.p_ensemble, 0.7 * p.p_batch + 0.3 * online)


def test_bad_arguments(span):
    with pytest.raises(ValidationError) as err:
        walk_forward(span, CONFIG, online_every=0)
    assert err.value.field == "online_every"
    with pytest.raises(ValidationError) as err:
        walk_forward(span.iloc[:30], CONFIG)
    assert err.value.field == "candles"


def test_rolling_accuracy(result):
    rolling = rolling_accuracy(result.predictions, window=50)
    assert set(rolling.columns) == {*MODELS, "ensemble", *BASELINES}
    p = result.predictions.iloc[-51:-1]
    expected = ((p.p_sgd >= 0.5).astype(float) == p.label).mean()
    assert rolling["sgd"].iloc[-2] == pytest.approx(expected)


def test_cli_loads_the_sample_when_the_store_is_empty(data_dir, tmp_path, capsys):
    settings = {"batch_window_days": 7, "signal_confidence_threshold": 0.5}  # trade on every call
    (data_dir / "config.json").write_text(json.dumps(settings))
    out = tmp_path / "out"
    code = main(["--data-dir", str(data_dir), "evaluate", "--symbol", "BTCUSDT", "--interval", "1h",
                 "--start", "2022-12-28", "--end", "2022-12-30", "--online-every", "12", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "loaded the bundled sample" in text and "bars/s" in text
    report = json.loads(next(out.glob("*.json")).read_text())
    assert report["symbol"] == "BTCUSDT" and report["online_every"] == 12
    assert report["bars_evaluated"] == 72 and set(report["baselines"]) == set(BASELINES)
    html = next(out.glob("*.html")).read_text()
    assert "rolling accuracy (24 bars)" in html and "<script src=\"http" not in html and len(html) > 1_000_000  # plotly inlined
    predictions = pd.read_csv(next(out.glob("*.csv")))
    assert len(predictions) == 72
    # the paper-trading rules ran over the hybrid's walk-forward calls, fees included
    calls = predictions[["open_time", "p_ensemble"]].rename(columns={"p_ensemble": "prob_up"})
    candles = load_sample("BTCUSDT")
    span = candles[candles.open_time.between(calls.open_time.iloc[0], calls.open_time.iloc[-1])]
    expected = backtest(span, calls, validate(settings))
    trading = report["trading"]
    assert trading["trades"] == expected["trades"] and trading["pnl_usdt"] == pytest.approx(expected["pnl_usdt"])
    assert trading["trades"] > 0 and trading["fees_usdt"] > 0 and "buy_and_hold" in trading
    assert "paper trading" in text
    # second run: candles are in the store now, nothing loaded
    assert main(["--data-dir", str(data_dir), "evaluate", "--symbol", "BTCUSDT", "--start", "2022-12-30",
                 "--out", str(out)]) == 0
    assert "loaded the bundled sample" not in capsys.readouterr().out


def test_cli_unknown_symbol_without_sample(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "evaluate", "--symbol", "XRPUSDT"]) == 2
    assert "symbol" in capsys.readouterr().out


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
