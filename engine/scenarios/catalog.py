"""The named scenario markets: each a schedule of laws whose edge changes, or none at all.

Periods cycle until the requested length (default ``DEFAULT_DAYS``). The edges are set so that
the best possible next-bar accuracy is in the range real markets allow (0.53-0.60), not more:
a scenario that a model finds easy teaches nothing about a real market.

- ``trend``: a hidden drift whose sign persists for days; every 60 days its strength and
  persistence change (strong and slow, weak and fast, ...);
- ``mean_reversion``: prices pulled back to their 24-bar mean; every 60 days the pull changes
  (strong, then weak);
- ``regime_switch``: 60 days of trend, then 60 days of mean reversion, and again: the pattern
  that paid in one regime loses in the next;
- ``pattern``: the first seed's example: "RSI < 30 and MACD > 0 -> often up" (here: RSI < 45 with
  the MACD turning up) holds for 90 days, then fails and a volume spike with an RSI divergence
  takes over, and back;
- ``small_edge``: a real short-term reversal (like hourly BTC's), too small to pay the costs;
- ``random_walk``: nothing to learn.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from engine.errors import ValidationError
from engine.scenarios.laws import HiddenDrift, NoEdge, Pattern, Reversion, ShortReversal
from engine.scenarios.market import Period, ScenarioMarket, simulate

DEFAULT_DAYS = 640
DEFAULT_START_MS = 1_577_836_800_000  # 2020-01-01 00:00 UTC


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    periods: Callable[[], list[Period]]  # fresh laws per run (they keep state)
    tradeable: bool  # whether the edge is meant to be larger than the trading costs

    def generate(self, seed: int = 0, days: float = DEFAULT_DAYS, start_ms: int = DEFAULT_START_MS) -> ScenarioMarket:
        """The scenario's candles and oracle for ``days`` days from ``start_ms``."""
        if not 1 <= days <= 36500:
            raise ValidationError("days", "must be between 1 and 36500")
        return simulate(self.periods(), seed, start_ms, bars=int(round(days * 24)))


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("trend", "hidden drift, its sign kept for days; strength and persistence change every 60 days",
             lambda: [Period(HiddenDrift(0.25, 120), 60), Period(HiddenDrift(0.18, 72), 60),
                      Period(HiddenDrift(0.2, 240), 60)], True),
    Scenario("mean_reversion", "pulled back to the 24-bar mean; the pull changes every 60 days",
             lambda: [Period(Reversion(0.35, 24), 60), Period(Reversion(0.15, 24), 60)], True),
    Scenario("regime_switch", "60 days of trend, 60 days of mean reversion, and again",
             lambda: [Period(HiddenDrift(0.25, 120), 60), Period(Reversion(0.3, 24), 60)], True),
    Scenario("pattern", "RSI < 45 with the MACD turning up drifts up for 90 days, then fails; a volume spike "
                        "with an RSI divergence takes over for 90 days, and back",
             lambda: [Period(Pattern("rsi_macd", 0.45), 90), Period(Pattern("volume_divergence", 0.6), 90)], True),
    Scenario("small_edge", "short-term reversal: 0.1 of each bar's shock undone; real, but smaller than the costs",
             lambda: [Period(ShortReversal(0.1), 365)], False),
    Scenario("random_walk", "no edge at all", lambda: [Period(NoEdge(), 365)], False),
)}


def scenario(name: str) -> Scenario:
    """The scenario called ``name``; ValidationError naming the ones there are."""
    if name not in SCENARIOS:
        raise ValidationError("scenario", f"unknown scenario {name!r}; have {', '.join(SCENARIOS)}")
    return SCENARIOS[name]
