"""Where things live on disk: the bundled sample (next to the code) and a data directory per instance."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """Resolve the instance's data directory (argument, then $DATA_DIR, then ./data) and create it."""
    path = Path(explicit or os.environ.get("DATA_DIR") or DEFAULT_DATA_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sample_files() -> dict[str, Path]:
    """Bundled real candle files by symbol, e.g. {"BTCUSDT": .../BTCUSDT-1h-....csv.gz}."""
    return {p.name.split("-")[0]: p for p in sorted(SAMPLE_DIR.glob("*-1h-*.csv.gz"))}
