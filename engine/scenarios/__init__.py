"""Scenario markets: synthetic 1h candles with known, learnable and changing edges, and their oracle."""
from engine.scenarios.catalog import SCENARIOS, Scenario, scenario
from engine.scenarios.market import ScenarioMarket, kline_csv, up_probability

__all__ = ["SCENARIOS", "Scenario", "ScenarioMarket", "kline_csv", "scenario", "up_probability"]
