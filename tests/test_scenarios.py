"""Scenario markets (engine.scenarios): real-looking candles, an oracle that is right about them, edges that
change where the schedule says, and the recovery measure."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.archive import import_archive
from engine.cli import main
from engine.db import Database
from engine.features import compute_features
from engine.scenarios import SCENARIOS, kline_csv, scenario
from engine.scenarios.market import DAY_BARS
from engine.scenarios.recovery import recovery
from engine.store import CandleStore


@pytest.fixture(scope="module")
def markets():
    return {name: s.generate(seed=3, days=240) for name, s in SCENARIOS.items()}


def test_every_scenario_makes_candles_any_importer_accepts(markets, tmp_path):
    store = CandleStore(Database(tmp_path / "m.db"))
    for k, (name, m) in enumerate(markets.items()):
        c = m.candles
        assert len(c) == 240 * DAY_BARS and (np.diff(c.open_time) == 3_600_000).all()
        assert (c.high >= c[["open", "close"]].max(axis=1)).all() and (c.low <= c[["open", "close"]].min(axis=1)).all()
        assert (c.open.iloc[1:].to_numpy() == c.close.iloc[:-1].to_numpy()).all()  # no gaps between bars
        assert (c.volume > 0).all() and (c.taker_buy_base <= c.volume).all() and (c.trades >= 1).all()
        path = tmp_path / f"{name}.csv"
        path.write_text(kline_csv(c))
        assert import_archive(store, path, f"SCEN{k}USDT", "1h") == len(c)
        hourly = np.diff(np.log(c.close.to_numpy()))
        assert 0.004 < hourly.std() < 0.012  # hourly volatility of a liquid crypto pair


def test_a_seed_gives_the_same_market_and_another_seed_another(markets):
    again = SCENARIOS["trend"].generate(seed=3, days=240)
    pd.testing.assert_frame_equal(again.candles, markets["trend"].candles)
    assert not SCENARIOS["trend"].generate(seed=4, days=240).candles.close.equals(markets["trend"].candles.close)


def test_the_oracle_is_calibrated_and_nothing_beats_it_on_a_random_walk():
    """The oracle's P(up) is the true conditional probability: in each band of P the share of up bars matches."""
    for name in ("trend", "mean_reversion"):
        m = scenario(name).generate(seed=5, days=640)
        up = (m.candles.close.shift(-1) > m.candles.close).to_numpy()[:-1]
        p = m.p_oracle[:-1]
        for low, high in ((0.3, 0.45), (0.45, 0.55), (0.55, 0.7)):
            band = (p >= low) & (p < high)
            assert band.sum() > 500 and abs(up[band].mean() - p[band].mean()) < 0.02, (name, low)
    walk = scenario("random_walk").generate(seed=5, days=640)
    assert np.allclose(walk.p_oracle[:-1], 0.5) and np.isnan(walk.p_oracle[-1])


def test_the_edge_changes_where_the_schedule_says(markets):
    """regime_switch: 60 days of trend (the last day's move goes on), then 60 of mean reversion (it comes back)."""
    m = markets["regime_switch"]
    assert (m.switches == np.arange(1, 4) * 60 * DAY_BARS).all()
    move = np.diff(np.log(m.candles.close.to_numpy()))
    day_move = pd.Series(move).rolling(24).sum().to_numpy()
    for k, law in enumerate(("trend", "mean reversion", "trend", "mean reversion")):
        span = slice(k * 60 * DAY_BARS + 48, (k + 1) * 60 * DAY_BARS - 2)
        corr = np.corrcoef(day_move[span][:-1], move[span][1:])[0, 1]  # the last day vs the next hour
        assert (corr > 0.02) if law == "trend" else (corr < -0.02), (k, law, corr)
        assert m.periods[k % 2].startswith(law)


def test_the_pattern_is_visible_in_the_features_it_names(markets):
    """RSI < 45 with the MACD above its signal drifts the next bar up in its periods, and not in the others."""
    m = markets["pattern"]
    f = compute_features(m.candles)
    up = (m.candles.close.shift(-1) > m.candles.close).to_numpy()
    condition = ((f.rsi < 45) & (f.macd_hist > 0)).to_numpy()
    first = np.arange(len(up)) < 90 * DAY_BARS
    second = ~first & (np.arange(len(up)) < 180 * DAY_BARS)
    assert up[condition & first].mean() > 0.57 and abs(up[condition & second].mean() - 0.5) < 0.06


def test_recovery_counts_the_days_until_a_model_captures_90_percent_of_its_earlier_share(markets):
    m = markets["regime_switch"]
    times = m.candles.open_time.to_numpy()
    oracle_calls = np.where(m.p_oracle >= 0.5, 0.9, 0.1)
    late = oracle_calls.copy()
    for switch in m.switches:  # wrong for the first 4 days after each switch, then the oracle's calls
        late[switch:switch + 4 * DAY_BARS] = 1 - oracle_calls[switch:switch + 4 * DAY_BARS]
    frame = pd.DataFrame({"open_time": times, "p_oracle": oracle_calls, "p_late": late}).iloc[14 * DAY_BARS:-1]
    out = recovery(m, frame, ("oracle", "late"), trailing_days=1)
    assert [s["models"]["oracle"]["days"] for s in out["switches"]] == [1.0] * 3  # right at once: one trailing day
    assert [s["models"]["late"]["days"] for s in out["switches"]] == pytest.approx([5.0] * 3, abs=0.15)  # 4 wrong days
    assert out["summary"]["late"]["recovered"] == out["summary"]["late"]["within_7_days"] == 3
    json.dumps(out)  # plain numbers only


def test_the_scenario_and_evaluate_commands_run_the_scenario_like_stored_candles(data_dir, tmp_path, capsys):
    out = tmp_path / "trend.csv"
    assert main(["--data-dir", str(data_dir), "scenario", "trend", "--days", "60", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "oracle accuracy" in text and "import-archive" in text and len(out.read_text().splitlines()) == 1440
    (data_dir / "config.json").write_text(json.dumps({"batch_window_days": 20, "outcome_warmup_days": 5}))
    assert main(["--data-dir", str(data_dir), "evaluate", "--scenario", "regime_switch", "--days", "150",
                 "--labels", "direction", "--out", str(tmp_path / "reports")]) == 0
    text = capsys.readouterr().out
    assert "The oracle (the best any model seeing these candles could do)" in text and "changes of law" in text
    report = json.loads(next((tmp_path / "reports").glob("*.json")).read_text())
    r = report["labels"]["direction"]["symbols"]["scenario:regime_switch"]
    assert {"oracle", "recovery", "reference", "comparisons", "verdicts"} <= set(r)
    assert r["oracle"]["accuracy"]["n"] == r["bars_evaluated"] - 1  # the same bars (the last one has no label)
    page = next((tmp_path / "reports").glob("*.html")).read_text()
    assert len(page) < 2_000_000 and "<svg" in page and "<script" not in page and "Days to get back to 90 %" in page
    rows = pd.read_csv(next((tmp_path / "reports").glob("*.csv")))
    assert set(rows.label.dropna()) == {0.0, 1.0} and set(rows.label_kind) == {"direction"}  # can be rescored
