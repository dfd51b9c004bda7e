"""Model health beside its baselines (pure renderers): every accuracy and log loss with its standard
error and the majority-class / reversal baselines on the same rows (engine.health shapes)."""
from __future__ import annotations

from typing import Any, Mapping

from dash import html

from engine.health import VERDICTS
from layouts.format import DASH, number, percent
from layouts.widgets import badge, table


def with_se(value: float | None, se: float | None, pct: bool = True) -> str:
    """A score and its standard error: "52.1% ± 1.2", "0.6921 ± 0.0012".

    >>> with_se(0.5213, 0.0121), with_se(0.69213, 0.00121, pct=False), with_se(None, None)
    ('52.1% ± 1.2', '0.6921 ± 0.0012', '—')
    """
    if value is None:
        return DASH
    if pct:
        return percent(value) + (f" ± {100 * se:.1f}" if se is not None else "")
    return f"{value:.4f}" + (f" ± {se:.4f}" if se is not None else "")


VERDICT_STYLE = {"beats": "success", "no_better": "secondary", "worse": "danger", "too_few": "light"}


def verdict(said: str | None, min_samples: int = 30) -> Any:
    """A badge with engine.health's verdict: beats baseline (better by > 2 SE), no better than baseline, worse than
    baseline (by > 2 SE), or too few scored predictions to say."""
    if said is None:
        return None
    text = VERDICTS.get(said, said) + (f" (n < {min_samples})" if said == "too_few" else "")
    return badge(text, VERDICT_STYLE.get(said, "secondary"))


def health_table(symbol: str, health: Mapping, min_samples: int) -> html.Div:
    """One symbol's models (the hybrid first): accuracy and log loss ± SE beside the baselines on the same rows,
    the verdict, and each model's share in the newest prediction."""
    rows = []
    for name, m in (health.get("models") or {}).items():
        base = m.get("baselines") or {}
        majority, reversal = base.get("majority_class") or {}, base.get("reversal") or {}
        rows.append((html.Strong(name) if name == "hybrid" else name, number(m.get("n")),
                     with_se(m.get("accuracy"), m.get("accuracy_se")),
                     with_se(majority.get("accuracy"), majority.get("accuracy_se")),
                     with_se(reversal.get("accuracy"), reversal.get("accuracy_se")),
                     with_se(m.get("log_loss"), m.get("log_loss_se"), pct=False),
                     with_se(majority.get("log_loss"), majority.get("log_loss_se"), pct=False),
                     verdict(m.get("verdict"), min_samples), percent(m.get("weight")) if m.get("weight") is not None
                     else DASH))
    return html.Div([html.Div(f"{symbol} · last {number(health.get('n'))} scored predictions",
                              className="hls-stat-label mt-2"),
                     table(("model", "n", "accuracy", "majority", "reversal", "log loss", "baseline log loss",
                            "verdict", "weight now"), rows, empty=f"No scored predictions for {symbol} yet.",
                           id=f"health-{symbol}")])


def health_view(model_health: Mapping | None, symbols: list[str]) -> html.Div:
    """Health tables for ``symbols`` (one, or every symbol for "All symbols"); nothing when not reported."""
    if not model_health:
        return html.Div()
    per_symbol = model_health.get("symbols") or {}
    min_samples = model_health.get("min_samples", 30)
    return html.Div([html.Div("Log loss decides (lower is better), row by row against the majority-class baseline "
                              "on the same predictions: \"beats\" or \"worse\" only beyond 2 standard errors. ± is "
                              "one standard error. Reversal predicts the opposite of the last move. Weight now: the "
                              "model's share in the newest prediction.", className="small text-muted"),
                     *[health_table(s, per_symbol[s], min_samples) for s in symbols if s in per_symbol]],
                    id="model-health-tables")
