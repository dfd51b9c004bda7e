"""Fixtures shared by every test area (area-specific ones live in tests/<area>_fixtures.py)."""
from __future__ import annotations

import pytest

from engine.candles import load_sample


@pytest.fixture(scope="session")
def btc_candles():
    """All bundled BTCUSDT 1h candles (real data, gaps and quirks included)."""
    return load_sample("BTCUSDT")


@pytest.fixture
def data_dir(tmp_path):
    """A fresh, empty instance data directory."""
    d = tmp_path / "data"
    d.mkdir()
    return d
