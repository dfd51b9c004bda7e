"""Archive import: ms and µs files import alike; bad files are rejected whole with a clear message."""
from __future__ import annotations

import zipfile

import pandas as pd
import pytest

from engine.archive import ArchiveError, import_archive
from engine.db import Database
from engine.errors import ValidationError
from engine.store import CandleStore


@pytest.fixture
def store(data_dir):
    return CandleStore(Database(data_dir / "market.db"))


@pytest.fixture(scope="module")
def bars(btc_candles):
    return btc_candles.iloc[2000:2720].reset_index(drop=True)  # about a month


def csv_text(bars: pd.DataFrame, micros: bool = False) -> str:
    out = bars.copy()
    if micros:
        out["open_time"] = out["open_time"] * 1000
        out["close_time"] = out["close_time"] * 1000 + 999
    out["ignore"] = 0
    return out.to_csv(header=False, index=False)


def write_zip(path, text: str, name: str = "data.csv"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, text)
    return path


def test_millisecond_and_microsecond_files_import_to_the_same_bars(tmp_path, data_dir, bars):
    ms_file = write_zip(tmp_path / "BTCUSDT-1h-2017-11.zip", csv_text(bars), "BTCUSDT-1h-2017-11.csv")
    us_file = write_zip(tmp_path / "BTCUSDT-1h-2025-01.zip", csv_text(bars, micros=True))
    a = CandleStore(Database(data_dir / "a.db"))
    b = CandleStore(Database(data_dir / "b.db"))
    assert import_archive(a, ms_file, "BTCUSDT", "1h") == len(bars)
    assert import_archive(b, us_file, "BTCUSDT", "1h") == len(bars)
    pd.testing.assert_frame_equal(a.range("BTCUSDT", "1h"), b.range("BTCUSDT", "1h"))
    pd.testing.assert_frame_equal(a.range("BTCUSDT", "1h"), bars)
    assert import_archive(a, ms_file, "BTCUSDT", "1h") == 0  # importing again changes nothing


def test_plain_csv_with_a_header_row_imports(tmp_path, store, bars):
    path = tmp_path / "klines.csv"
    path.write_text("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                    "taker_buy_volume,taker_buy_quote_volume,ignore\n" + csv_text(bars.iloc[:50]))
    assert import_archive(store, path, "ETHUSDT", "1h") == 50
    pd.testing.assert_frame_equal(store.range("ETHUSDT", "1h"), bars.iloc[:50])


def _edit(bars, row, **values):
    out = bars.copy()
    for col, value in values.items():
        out[col] = out[col].astype(object)
        out.loc[row, col] = value
    return csv_text(out)


def _ragged(text: str, line: int) -> str:
    lines = text.split("\n")
    lines[line] += ",7"
    return "\n".join(lines)


BAD_FILES = {
    "truncated zip": (lambda b: None, "truncated or corrupt"),
    "not a zip": (lambda b: None, "truncated or corrupt"),
    "two files in the zip": (lambda b: None, "one .csv inside"),
    "11 columns": (lambda b: csv_text(b).replace(",0\n", "\n"), "expected 12 columns, found 11"),
    "ragged row": (lambda b: _ragged(csv_text(b), 100), "Expected 12 fields in line 101, saw 13"),
    "garbage value": (lambda b: _edit(b, 500, close="12x.5"), "line 501, column close: '12x.5'"),
    "empty cell": (lambda b: _edit(b, 3, volume=""), "line 4, column volume"),
    "fractional time": (lambda b: _edit(b, 7, open_time=1.5e12 + 0.5), "line 8, column open_time"),
    "high below low": (lambda b: _edit(b, 42, high=1.0), "high below low (row 43"),
    "negative price": (lambda b: _edit(b, 9, open=-5.0), "non-positive price (row 10"),
    "negative volume": (lambda b: _edit(b, 9, volume=-1.0), "negative volume"),
    "repeated open_time": (lambda b: csv_text(pd.concat([b, b.iloc[[5]]])), "repeated open_time"),
    "mixed units": (lambda b: csv_text(b.iloc[:10]) + csv_text(b.iloc[10:], micros=True), "outside 2009-2100"),
    "empty file": (lambda b: "", "empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_are_rejected_whole(tmp_path, store, bars, case):
    store.upsert("BTCUSDT", "1h", bars.iloc[:3])
    make, message = BAD_FILES[case]
    path = tmp_path / "BTCUSDT-1h-2017-11.zip"
    if case == "truncated zip":
        write_zip(path, csv_text(bars))
        path.write_bytes(path.read_bytes()[:4000])
    elif case == "not a zip":
        path.write_text(csv_text(bars))
    elif case == "two files in the zip":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("a.csv", csv_text(bars))
            zf.writestr("b.csv", csv_text(bars))
    else:
        write_zip(path, make(bars))
    with pytest.raises(ArchiveError) as err:
        import_archive(store, path, "BTCUSDT", "1h")
    assert isinstance(err.value, ValidationError) and err.value.field == path.name
    assert message in str(err.value)
    assert store.counts()[0]["rows"] == 3  # nothing half-imported


def test_wrong_symbol_or_missing_file_is_rejected(tmp_path, store, bars):
    path = write_zip(tmp_path / "ETHUSDT-1h-2017-11.zip", csv_text(bars))
    with pytest.raises(ArchiveError, match="file name says ETHUSDT 1h"):
        import_archive(store, path, "BTCUSDT", "1h")
    with pytest.raises(ArchiveError, match="no such file"):
        import_archive(store, tmp_path / "missing.zip", "BTCUSDT", "1h")
    with pytest.raises(ValidationError, match="symbol"):
        import_archive(store, path, "eth", "1h")
    assert store.counts() == []
