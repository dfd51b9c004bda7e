"""Pure figure builders and panel renderers, fed plain data shaped as the engine contracts say."""
from __future__ import annotations

import doctest

import pytest

import callbacks.model_figures
import callbacks.prediction
import callbacks.settings
import callbacks.status
import layouts.format
import layouts.panels as panels
from tests.dashboard_fixtures import T0, find, sample_status, text_of


@pytest.mark.parametrize("module", [layouts.format, callbacks.model_figures, panels, callbacks.status,
                                    callbacks.settings, callbacks.prediction])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0




def test_status_cards_say_clearly_when_replaying():
    replay = text_of(panels.status_cards(sample_status(replaying=True)))
    assert panels.REPLAY_TEXT in replay and "v3" in replay and "2.0 h" in replay
    live = text_of(panels.status_cards(sample_status(replaying=False)))
    assert "Live · Binance" in live and panels.REPLAY_TEXT not in live
    undecided = sample_status(replaying=False)
    undecided["data_collection"]["source"] = None
    assert "Choosing data source" in text_of(panels.status_cards(undecided))
    stopped = panels.status_cards(sample_status(running=False, last_retrain=None))
    assert find(stopped, "status-running").color == "danger" and "never" in text_of(stopped)


def test_alerts_stand_out_newest_first():
    out = panels.alerts(sample_status())
    assert [a.color for a in out] == ["danger", "warning"]
    assert "boom" in text_of(out[0])


def test_prediction_panel_shows_ensemble_batch_and_every_online_vote():
    pred = {"symbol": "BTCUSDT", "open_time": T0, "ensemble_prediction": 1, "ensemble_confidence": 0.62,
            "batch_prediction": 0, "individual_predictions": {"sgd": 1, "passive_aggressive": 0, "mlp_online": None},
            "probabilities": {"sgd": 0.7, "passive_aggressive": 0.4, "mlp_online": None, "batch": 0.45,
                              "ensemble": 0.62}, "model_versions": {"batch": 2, "sgd": 5},
            "status": "degraded", "notes": ["online model mlp_online is not trained yet; left out"]}
    out = panels.prediction_result(pred)
    text = text_of(out)
    for expected in ("UP", "62.0%", "batch", "sgd", "passive_aggressive", "mlp_online", "45.0%", "not trained"):
        assert expected in text
    not_ready = panels.prediction_result({"status": "not_ready", "notes": ["no candles stored"]})
    assert "no candles stored" in text_of(not_ready)


def test_online_stats_panel():
    stats = {"models": {"sgd": {"samples_seen": 1200, "version": 4, "last_update": T0, "accuracy": 0.52,
                                "log_loss": 0.69, "drift": True}},
             "buffer_size": 300, "buffer_max": 1000, "pending": 7, "drift_events": [{"model": "sgd"}]}
    text = text_of(panels.online_stats(stats))
    assert "1,200" in text and "52.0%" in text and "drift" in text and "300" in text
    assert "recent vs base" not in text  # the learning side's recent window is not reported here
