"""An operator's own input group for the hybrid learning system (set HLS_FEATURE_MODULE to this file's path,
or to a module name on the server's path, or "feature_module" in the data dir's config.json).

It is checked when the server starts: the names must be new lower-case identifiers, ``compute`` must return
one finite value per candle after its warm-up, and row t may use bars <= t only (it is computed twice, on
the first half of some candles and on all of them, and must agree). Run ``python -m engine evaluate
--symbols BTCUSDT --ablation`` to see whether it helps.
"""
import numpy as np

NAMES = ("range_24", "close_in_range_24")


def compute(candles):
    """The 24-bar high-low range relative to the close, and where the close sits inside it (0 low, 1 high)."""
    high = candles["high"].rolling(24).max()
    low = candles["low"].rolling(24).min()
    close = candles["close"]
    spread = (high - low).to_numpy()
    return {"range_24": (spread / close).to_numpy(),
            "close_in_range_24": np.where(spread > 0, ((close - low) / (high - low)).to_numpy(), 0.5)}
