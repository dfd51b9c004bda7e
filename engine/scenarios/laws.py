"""What moves a scenario market: each law decides the next bar's drift from what is known now.

A bar's log return is ``r = s * (a + e)``: ``s`` the bar's volatility (known before the bar),
``e`` a standardised Student-t(5) shock and ``a`` the law's *edge*, the drift in units of ``s``.
A law sees the market as it stands after each close (:class:`Tape`) and says the next bar's true
edge and the edge the **oracle** expects: the best forecaster that knows the law and its
parameters but, like every model, only the bars so far (a hidden state is filtered from them,
never read). The clairvoyant edge (hidden state known) is kept too, as an upper bound.

Laws (one concept each):
- :class:`NoEdge` -- a random walk;
- :class:`HiddenDrift` -- a trend: a slowly wandering drift that keeps its sign for days (the
  oracle follows it with the Kalman filter);
- :class:`Reversion` -- prices pulled back to their ``window``-bar mean with strength ``kappa``;
- :class:`ShortReversal` -- the last bar's shock is partly undone (hourly BTC's small edge);
- :class:`Pattern` -- a feature-conditional edge: while a condition on the indicators holds (RSI low
  with the MACD turning up, or a volume spike with an RSI divergence) the next bar drifts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SHOCK_DOF = 5.0
SHOCK_SCALE = math.sqrt((SHOCK_DOF - 2.0) / SHOCK_DOF)  # Student-t(5) x this has variance 1


@dataclass
class Tape:
    """The market after a close, as the laws may read it (all causal): log closes ``x`` and their
    prefix sums ``cx``, standardised shocks ``e``, volatilities ``s`` and volume ratios
    ``volume_ratio`` of bars <= ``t``, RSI(14) and the MACD(12, 26, 9) histogram of each bar."""

    x: np.ndarray
    cx: np.ndarray
    e: np.ndarray
    s: np.ndarray
    rsi: np.ndarray
    macd_hist: np.ndarray
    volume_ratio: np.ndarray
    t: int = 0


@dataclass
class Edge:
    """The next bar's edge: ``true`` (what drives it), ``oracle`` (expected from the bars so far) and
    ``clairvoyant`` (expected with the hidden state known)."""

    true: float
    oracle: float
    clairvoyant: float


class Law:
    """A law decides the next bar's :class:`Edge` after each close (:meth:`next`), then sees the bar
    (:meth:`observe`). ``name`` and ``describe()`` say what it is in words."""

    name = "law"

    def start(self, rng: np.random.Generator) -> None:
        """Called when the law takes over the market (a new period)."""

    def next(self, tape: Tape) -> Edge:
        raise NotImplementedError

    def observe(self, r_over_s: float) -> None:
        """The bar that just closed, as return / volatility (= edge + shock)."""

    def describe(self) -> str:
        return self.name


class NoEdge(Law):
    name = "random walk"

    def next(self, tape: Tape) -> Edge:
        return Edge(0.0, 0.0, 0.0)


@dataclass
class HiddenDrift(Law):
    """A drift that wanders slowly: a = rho x previous a + noise, so it keeps its sign for about
    ``persistence`` bars (rho = 1 - 1 / persistence) with a typical size ``strength`` (its standard
    deviation, in units of s). The oracle follows it with the Kalman filter from the bars so far
    (each bar shows edge + shock, the shock of variance 1): the best linear forecast of it."""

    strength: float
    persistence: float
    name = "trend"
    drift: float = field(default=0.0, init=False)
    mean: float = field(default=0.0, init=False)  # the filter's estimate of the next bar's drift ...
    var: float = field(default=0.0, init=False)  # ... and its variance
    _rng: np.random.Generator | None = field(default=None, init=False, repr=False)

    @property
    def rho(self) -> float:
        return 1.0 - 1.0 / self.persistence

    def start(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self.drift = float(rng.normal(0.0, self.strength))
        self.mean, self.var = 0.0, self.strength ** 2

    def next(self, tape: Tape) -> Edge:
        rho, q = self.rho, self.strength ** 2 * (1.0 - self.rho ** 2)
        self.drift = rho * self.drift + math.sqrt(q) * float(self._rng.normal())
        self.mean, self.var = rho * self.mean, rho * rho * self.var + q
        return Edge(self.drift, self.mean, self.drift)

    def observe(self, r_over_s: float) -> None:
        gain = self.var / (self.var + 1.0)
        self.mean += gain * (r_over_s - self.mean)
        self.var *= 1.0 - gain

    def describe(self) -> str:
        return f"trend: a hidden drift of typical size {self.strength:g} σ, keeping its sign ~{self.persistence:g} bars"


@dataclass
class Reversion(Law):
    """a = -kappa x z, z = (log close - its ``window``-bar mean) / (s sqrt(window / 3)), capped at ±``cap``."""

    kappa: float
    window: int
    cap: float = 0.6
    name = "mean reversion"

    def next(self, tape: Tape) -> Edge:
        t, w = tape.t, self.window
        if t + 1 < w:
            return Edge(0.0, 0.0, 0.0)
        mean = (tape.cx[t + 1] - tape.cx[t + 1 - w]) / w
        z = (tape.x[t] - mean) / (tape.s[t] * math.sqrt(w / 3.0))
        a = min(max(-self.kappa * z, -self.cap), self.cap)
        return Edge(a, a, a)

    def describe(self) -> str:
        return f"mean reversion: pulled back to the {self.window}-bar mean, strength {self.kappa:g}"


@dataclass
class ShortReversal(Law):
    """a = -phi x the last bar's shock: a part of each move is undone by the next bar."""

    phi: float
    name = "short reversal"

    def next(self, tape: Tape) -> Edge:
        a = -self.phi * float(tape.e[tape.t])
        return Edge(a, a, a)

    def describe(self) -> str:
        return f"short-term reversal: {self.phi:g} of each bar's shock undone by the next"


@dataclass
class Pattern(Law):
    """While ``trigger`` holds at a close, the next bar drifts by ``k`` in the trigger's direction; the
    condition is in the bar's own indicators, so a model seeing them can learn it.

    Triggers (bullish; the bearish mirror drifts down):
    - ``"rsi_macd"``: RSI(14) below ``oversold`` while the MACD is above its signal line (oversold and
      turning: the seed's "RSI < 30 and MACD > 0"; MACD > 0 itself almost never meets RSI < 30 on hourly
      bars), mirror RSI above 100 - ``oversold`` with the MACD below its signal;
    - ``"volume_divergence"``: volume over ``spike`` x its 20-bar mean while the close is below its level 6 bars
      ago but the RSI above its own (a bullish divergence on heavy volume), and the mirror.
    """

    trigger: str
    k: float
    spike: float = 1.0
    oversold: float = 45.0
    name = "pattern"

    def fired(self, tape: Tape) -> int:
        t = tape.t
        if self.trigger == "rsi_macd":
            rsi, hist = tape.rsi[t], tape.macd_hist[t]
            return 1 if rsi < self.oversold and hist > 0 else -1 if rsi > 100 - self.oversold and hist < 0 else 0
        if t < 6 or not tape.volume_ratio[t] > self.spike:
            return 0
        price_down, rsi_up = tape.x[t] < tape.x[t - 6], tape.rsi[t] > tape.rsi[t - 6]
        return 1 if price_down and rsi_up else -1 if not price_down and not rsi_up else 0

    def next(self, tape: Tape) -> Edge:
        a = self.fired(tape) * self.k
        return Edge(a, a, a)

    def describe(self) -> str:
        what = (f"RSI < {self.oversold:g} with the MACD above its signal (and the mirror)" if self.trigger == "rsi_macd"
                else f"volume > {self.spike:g}x its mean with an RSI divergence (and the mirror)")
        return f"pattern: {what} drifts the next bar by {self.k:g} σ"
