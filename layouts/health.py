"""Model health beside its baselines (pure renderers): every accuracy and log loss with its standard
error and the majority-class / reversal baselines on the same rows (engine.health shapes)."""
from __future__ import annotations

from typing import Any, Mapping

from dash import html

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


def verdict(beats: bool | None, n: int | None, min_samples: int) -> Any:
    """A badge: beats the baseline, below it, or too few scored predictions to say."""
    if beats is None:
        return badge(f"too few (n < {min_samples})", "secondary")
    return badge("beats baseline", "success") if beats else badge("below baseline", "danger")


def excluded_badge(model: Mapping | None) -> Any:
    """The learning side's exclusion of an online model from the hybrid (rendered only when reported)."""
    if not model or "excluded" not in model:
        return None
    return (badge("excluded from hybrid", "warning") if model["excluded"] else badge("in hybrid", "success"))


def health_table(symbol: str, health: Mapping, min_samples: int, online_models: Mapping | None = None) -> html.Div:
    """One symbol's models (the hybrid first): accuracy and log loss ± SE beside the baselines on the same rows."""
    rows = []
    for name, m in (health.get("models") or {}).items():
        base = m.get("baselines") or {}
        majority, reversal = base.get("majority_class") or {}, base.get("reversal") or {}
        online = (online_models or {}).get(name)
        reason = online.get("excluded_reason") if online and online.get("excluded") else None
        rows.append((html.Strong(name) if name == "hybrid" else name, number(m.get("n")),
                     with_se(m.get("accuracy"), m.get("accuracy_se")),
                     with_se(majority.get("accuracy"), majority.get("accuracy_se")),
                     with_se(reversal.get("accuracy"), reversal.get("accuracy_se")),
                     with_se(m.get("log_loss"), m.get("log_loss_se"), pct=False),
                     with_se(majority.get("log_loss"), majority.get("log_loss_se"), pct=False),
                     html.Span([verdict(m.get("beats_baseline"), m.get("n"), min_samples), " ",
                                excluded_badge(online),
                                html.Div(reason, className="small text-muted") if reason else None])))
    return html.Div([html.Div(f"{symbol} · last {number(health.get('n'))} scored predictions",
                              className="hls-stat-label mt-2"),
                     table(("model", "n", "accuracy", "majority", "reversal", "log loss", "baseline log loss",
                            "verdict"), rows, empty=f"No scored predictions for {symbol} yet.",
                           id=f"health-{symbol}")])


def health_view(model_health: Mapping | None, symbols: list[str], online_models: Mapping | None = None) -> html.Div:
    """Health tables for ``symbols`` (one, or every symbol for "All symbols"); nothing when not reported."""
    if not model_health:
        return html.Div()
    per_symbol = model_health.get("symbols") or {}
    min_samples = model_health.get("min_samples", 30)
    return html.Div([html.Div("Log loss decides (lower is better): a model must beat the majority-class baseline; "
                              "± is one standard error. Reversal predicts the opposite of the last move.",
                              className="small text-muted"),
                     *[health_table(s, per_symbol[s], min_samples, online_models) for s in symbols if s in per_symbol]],
                    id="model-health-tables")
