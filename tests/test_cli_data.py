"""The data commands: backfill, collect, features, import-archive (run in-process through engine.cli.main)."""
from __future__ import annotations

import zipfile

import pytest

from engine.cli import build_parser, main
from engine.config import ConfigStore
from engine.features import FEATURE_COLUMNS
from tests.fake_binance import FakeBinance

H = 3_600_000


@pytest.fixture
def fake(btc_candles):
    with FakeBinance({"BTCUSDT": btc_candles.iloc[:2000].reset_index(drop=True)}) as server:
        yield server


def run(data_dir, capsys, *argv) -> tuple[int, str, str]:
    code = main(["--data-dir", str(data_dir), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_lists_the_data_commands():
    out = build_parser().format_help()  # what `python -m engine --help` prints
    for command in ("backfill", "collect", "features", "import-archive"):
        assert command in out


def test_live_backfill_collect_and_features(data_dir, capsys, fake):
    ConfigStore(data_dir).update({"binance_base_url": fake.url, "symbols": ["BTCUSDT"]})
    fake.now_ms -= 3 * H
    code, out, err = run(data_dir, capsys, "backfill", "--days", "30", "--source", "live")
    assert code == 0 and "source: live" in out and "BTCUSDT: 720 new candles; 720 stored" in out
    assert "BTCUSDT: 720/720 candles" in err  # progress
    fake.now_ms += 3 * H
    code, out, _ = run(data_dir, capsys, "collect", "--source", "live")
    assert code == 0 and "BTCUSDT: 3 new closed candles; 723 stored" in out
    code, out, _ = run(data_dir, capsys, "features", "--symbol", "BTCUSDT", "--tail", "4")
    assert code == 0 and "latest 4 feature rows" in out
    assert all(name in out for name in FEATURE_COLUMNS)


def test_errors_are_shown_with_a_failing_exit_code(data_dir, capsys, fake):
    ConfigStore(data_dir).update({"binance_base_url": fake.url})
    code, out, err = run(data_dir, capsys, "backfill", "--symbols", "BTCUSDT,NOPEUSDT", "--days", "2",
                         "--source", "live")
    assert code == 1 and "BTCUSDT: 48 new candles" in out and "NOPEUSDT: FAILED" in err and "Invalid symbol" in err
    code, _, err = run(data_dir, capsys, "backfill", "--days", "0")
    assert code == 2 and "backfill_days" in err
    code, _, err = run(data_dir, capsys, "features", "--symbol", "ETHUSDT")
    assert code == 1 and "backfill" in err


def test_import_archive_reports_each_file(tmp_path, data_dir, capsys, btc_candles):
    good = tmp_path / "BTCUSDT-1h-2017-09.zip"
    bars = btc_candles.iloc[:100].assign(ignore=0)
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("BTCUSDT-1h-2017-09.csv", bars.to_csv(header=False, index=False))
    bad = tmp_path / "BTCUSDT-1h-2017-10.zip"
    bad.write_bytes(good.read_bytes()[:500])
    code, out, err = run(data_dir, capsys, "import-archive", str(good), str(bad), "--symbol", "BTCUSDT",
                         "--interval", "1h")
    assert code == 1 and "100 candles new or changed" in out and "BTCUSDT 1h: 100 stored" in out
    assert "REJECTED, nothing imported" in err and "truncated or corrupt" in err
