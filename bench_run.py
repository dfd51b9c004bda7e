
import sys, time
sys.path.insert(0, '/work/main')
from engine.candles import INTERVAL_MS, load_sample
from engine.config import DEFAULTS
from engine.evaluation import DAY_MS, walk_forward
config = DEFAULTS
burn_in = (config["batch_window_days"] + config["outcome_warmup_days"]) * DAY_MS + 72 * INTERVAL_MS["1h"]
candles = load_sample("BTCUSDT")
candles = candles[candles.open_time >= 1640995200000 - burn_in].reset_index(drop=True)
if __name__ == "__main__":
    t = time.perf_counter()
    result = walk_forward(candles, config, 6, 24, start_ms=1640995200000)
    print(time.perf_counter() - t, result.report["hybrid"]["accuracy"], result.report["bars_evaluated"])
