"""Pure figure builders for model quality: live accuracy per symbol on market time, the hybrid's
calibration (reliability) and the batch model's feature importance. Plain data in (frames shaped as
engine.predictions.PredictionLog.scored returns them, version records), plotly figures out, laid out
through callbacks.figures._layout (the theme)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from callbacks.figures import COLORS, _layout, empty_figure
from engine.metrics import baseline_probabilities, to_prediction

WINDOW = 50  # scored predictions per rolling accuracy point
MIN_POINTS = 30  # a point backed by fewer samples is drawn faded
LINES = {"ensemble": "hybrid", "batch": "batch", "sgd": "sgd", "passive_aggressive": "passive_aggressive",
         "mlp_online": "mlp_online"}  # PredictionLog.scored column -> line name
BASELINE_LINES = {"majority_class": "baseline: majority class", "reversal": "baseline: reversal"}
PANEL_HEIGHT = 340  # px per symbol
MIN_BIN = 20  # predictions per calibration group at least
MAX_POINTS = 250  # per line: a rolling mean changes little from bar to bar, the page loads 4x less
SHOWN = ("hybrid", "batch")  # drawn at once; the online models are a legend click away (a calmer chart)


def rolling_accuracy(times: Sequence[int], correct: Sequence[bool], window: int = WINDOW) -> pd.DataFrame:
    """Accuracy over the last ``window`` outcomes at each bar (oldest first), with its binomial standard
    error and the number of outcomes behind it: DataFrame[open_time, accuracy, se, n].

    >>> rolling_accuracy([3, 1, 2], [True, False, True], window=2).to_dict("list")
    {'open_time': [1, 2, 3], 'accuracy': [0.0, 0.5, 1.0], 'se': [0.0, 0.3535533905932738, 0.0], 'n': [1, 2, 2]}
    """
    s = pd.Series(np.asarray(correct, dtype=float), index=np.asarray(times, dtype=np.int64)).sort_index()
    roll = s.rolling(window, min_periods=1)
    acc, n = roll.mean(), roll.count().astype(np.int64)
    se = np.sqrt(acc * (1 - acc) / n)
    return pd.DataFrame({"open_time": s.index.to_numpy(), "accuracy": acc.to_numpy(), "se": se.to_numpy(),
                         "n": n.to_numpy()})


def accuracy_series(scored: pd.DataFrame, horizon: int, window: int = WINDOW) -> dict[str, pd.DataFrame]:
    """Rolling accuracy of each model and the hybrid over one symbol's scored predictions, on the bars'
    open times, and of the majority-class and reversal baselines on the same bars (labels known before
    each bar only). {line name: rolling_accuracy frame}; a model with no answer is left out."""
    if scored.empty:
        return {}
    times, y = scored["open_time"].to_numpy(), scored["outcome"].to_numpy(dtype=float)
    series = {}
    for column, name in LINES.items():
        p = scored[column].to_numpy(dtype=float) if column in scored else np.array([])
        answered = np.isfinite(p)
        if answered.any():
            series[name] = rolling_accuracy(times[answered], to_prediction(p[answered]) == y[answered], window)
    for baseline, name in BASELINE_LINES.items():
        guess = to_prediction(baseline_probabilities(y, horizon)[baseline])
        series[name] = rolling_accuracy(times, guess == y, window)
    return series


def thin(frame: pd.DataFrame, most: int = MAX_POINTS) -> pd.DataFrame:
    """Every k-th row so that at most about ``most`` remain, the last row always kept.

    >>> thin(pd.DataFrame({"a": range(10)}), most=4)["a"].tolist()
    [0, 3, 6, 9]
    """
    step = -(-len(frame) // most)
    if step <= 1:
        return frame
    keep = np.zeros(len(frame), dtype=bool)
    keep[::step] = True
    keep[-1] = True
    return frame[keep]


def _ms(times) -> np.ndarray:
    """Epoch ms as naive UTC datetime64 (numpy arrays: plotly neither deep-copies nor slowly serialises them)."""
    return np.asarray(times, dtype=np.int64).astype("datetime64[ms]")


def _axis(row: int) -> str:
    """Plotly's suffix for the axes of panel ``row``: x/y, x2/y2, ..."""
    return "" if row == 1 else str(row)


def _series_traces(name: str, frame: pd.DataFrame, row: int, first: bool) -> list[dict]:
    """One line with its ±2 SE band on panel ``row``; points backed by fewer than MIN_POINTS outcomes drawn
    faded."""
    baseline = name.startswith("baseline")
    key = "baseline" if baseline else name
    color = COLORS.get(key, "#6c757d")
    t = _ms(frame["open_time"])
    acc, se = frame["accuracy"].to_numpy().round(4), frame["se"].to_numpy().round(4)
    solid = frame["n"].to_numpy() >= MIN_POINTS
    line = dict(color=color, width=2.6 if key == "hybrid" else 1.6,
                dash=("dash" if name.endswith("majority class") else "dot") if baseline else "solid")
    common = dict(type="scatter", xaxis=f"x{_axis(row)}", yaxis=f"y{_axis(row)}", legendgroup=name,
                  visible=True if baseline or name in SHOWN else "legendonly")
    traces = []
    if not baseline:
        upper, lower = np.clip(acc + 2 * se, 0, 1)[solid], np.clip(acc - 2 * se, 0, 1)[solid]
        traces.append(dict(common, x=np.concatenate([t[solid], t[solid][::-1]]), y=np.concatenate([upper, lower[::-1]]),
                           fill="toself", fillcolor=_rgba(color, 0.12), line=dict(width=0), hoverinfo="skip",
                           showlegend=False, name=f"{name} ±2 SE"))
    faded = ~solid
    if faded.any():
        upto = int(np.flatnonzero(faded)[-1]) + 2  # joined to the first solid point
        traces.append(dict(common, x=t[:upto], y=acc[:upto], mode="lines", opacity=0.35, showlegend=False,
                           line={**line, "width": 1.2}, name=f"{name} (< {MIN_POINTS} samples)",
                           hovertemplate="%{y:.1%} (fewer than " + str(MIN_POINTS) + " samples)"))
    traces.append(dict(common, x=t, y=np.where(solid, acc, np.nan), mode="lines", name=name, line=line,
                       showlegend=first, customdata=np.column_stack([se, frame["n"].to_numpy()]),
                       hovertemplate="%{y:.1%} ± %{customdata[0]:.1%} (n=%{customdata[1]})"))
    return traces


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _panel_axes(row: int, rows: int, symbol: str, window: int) -> dict:
    """The layout's x and y axes of panel ``row`` of ``rows`` stacked top to bottom (make_subplots' grid)."""
    spacing = 0.12 / rows
    height = (1 - spacing * (rows - 1)) / rows
    top = 1 - (row - 1) * (height + spacing)
    n = _axis(row)
    x = {"domain": [0, 1], "anchor": f"y{n}"}
    if row == rows:
        x["title"] = {"text": "bar open time (UTC)"}
    return {f"xaxis{n}": x, f"yaxis{n}": {"domain": [max(0.0, top - height), top], "anchor": f"x{n}",
                                          "title": {"text": f"{symbol} · last {window}"}, "tickformat": ".0%",
                                          "range": [0.2, 0.8]}}


def accuracy_figure(per_symbol: Mapping[str, Mapping[str, pd.DataFrame]], window: int = WINDOW) -> go.Figure:
    """Rolling accuracy on market time, one panel per symbol (each its own time axis: symbols may replay
    different eras), every model with a ±2 SE band beside the dashed baselines; faded until a point has
    MIN_POINTS outcomes behind it. The online models start hidden (SHOWN), one legend click away.

    Traces and axes are written as plain dicts and taken without plotly's per-property validation (a
    third of a page load's server time otherwise); tests check the figure renders."""
    symbols = [s for s, series in per_symbol.items() if series]
    if not symbols:
        return empty_figure("No scored predictions yet — accuracy appears once outcomes are known.", PANEL_HEIGHT)
    traces, layout = [], {"shapes": []}
    for row, symbol in enumerate(symbols, start=1):
        for name, frame in per_symbol[symbol].items():
            traces += _series_traces(name, thin(frame), row, first=row == 1)
        layout.update(_panel_axes(row, len(symbols), symbol, window))
        axis = _axis(row)
        layout["shapes"].append({"type": "line", "xref": f"x{axis} domain", "x0": 0, "x1": 1, "yref": f"y{axis}",
                                 "y0": 0.5, "y1": 0.5, "line": {"color": "#adb5bd", "width": 1, "dash": "dot"}})
    fig = _layout(go.Figure(data=traces, layout=layout, _validate=False), PANEL_HEIGHT * len(symbols))
    fig.update_layout(margin=dict(t=50))  # room for the legend above the first panel
    return fig


WEIGHT_LINES = ("batch", "sgd", "passive_aggressive", "mlp_online", "abstain")


def weights_figure(per_symbol: Mapping[str, pd.DataFrame]) -> go.Figure:
    """The hybrid's weights over time, one panel per symbol (each its own time axis): the share each voter had
    in every logged prediction (PredictionLog.weights frames), abstain included."""
    symbols = [s for s, frame in per_symbol.items() if not frame.empty]
    if not symbols:
        return empty_figure("No prediction has recorded its weights yet.", 160)
    traces, layout = [], {}
    for row, symbol in enumerate(symbols, start=1):
        frame = thin(per_symbol[symbol])
        t, n = _ms(frame["open_time"]), _axis(row)
        for name in WEIGHT_LINES:
            traces.append(dict(type="scatter", mode="lines", x=t, y=frame[name].to_numpy().round(3), name=name,
                               legendgroup=name, showlegend=row == 1, xaxis=f"x{n}", yaxis=f"y{n}",
                               line=dict(color=COLORS.get(name, "#adb5bd"), width=2.2 if name == "batch" else 1.4,
                                         dash="dot" if name == "abstain" else "solid"),
                               hovertemplate=name + " %{y:.0%}"))
        axes = _panel_axes(row, len(symbols), symbol, 0)
        axes[f"yaxis{n}"].update(range=[0, 1], title={"text": f"{symbol} · share"})
        layout.update(axes)
    fig = _layout(go.Figure(data=traces, layout=layout, _validate=False), 200 * len(symbols) + 40)
    fig.update_layout(margin=dict(t=40))
    return fig


def calibration_bins(prob: Sequence[float], outcome: Sequence[int], bins: int = 10) -> pd.DataFrame:
    """Reliability: the predictions in ``bins`` equal-count groups of P(up) (probabilities bunch near 0.5,
    fixed-width bins would leave most empty), at least MIN_BIN predictions each:
    DataFrame[predicted (mean P(up)), observed (share up), se, n].

    >>> b = calibration_bins([0.1] * 20 + [0.9] * 20, [0] * 20 + [1] * 20, bins=10)
    >>> b["predicted"].round(2).tolist(), b["observed"].tolist(), b["n"].tolist()
    ([0.1, 0.9], [0.0, 1.0], [20, 20])
    """
    p, y = np.asarray(prob, dtype=float), np.asarray(outcome, dtype=float)
    keep = np.isfinite(p) & np.isfinite(y)
    p, y = p[keep], y[keep]
    if not len(p):
        return pd.DataFrame(columns=["predicted", "observed", "se", "n"])
    order = np.argsort(p, kind="stable")
    groups = [g for g in np.array_split(order, max(1, min(bins, len(p) // MIN_BIN))) if len(g)]
    observed = np.array([y[g].mean() for g in groups])
    n = np.array([len(g) for g in groups])
    return pd.DataFrame({"predicted": [p[g].mean() for g in groups], "observed": observed,
                         "se": np.sqrt(observed * (1 - observed) / n), "n": n})


def calibration_figure(per_symbol: Mapping[str, pd.DataFrame], height: int = 380) -> go.Figure:
    """The hybrid's reliability diagram per symbol: observed share of up moves (±2 SE) against the mean
    predicted P(up) of each group; the diagonal is perfect calibration."""
    per_symbol = {s: b for s, b in per_symbol.items() if not b.empty}
    if not per_symbol:
        return empty_figure("No scored predictions yet — calibration appears once outcomes are known.", height)
    fig = go.Figure()
    lo = min(0.3, *(float(b["predicted"].min()) for b in per_symbol.values()))
    hi = max(0.7, *(float(b["predicted"].max()) for b in per_symbol.values()))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="perfectly calibrated",
                             line=dict(color="#adb5bd", dash="dash", width=1)))
    palette = ("#6f42c1", "#0d6efd", "#fd7e14", "#20c997", "#d63384")
    for i, (symbol, b) in enumerate(per_symbol.items()):
        fig.add_trace(go.Scatter(
            x=b["predicted"], y=b["observed"], mode="lines+markers", name=f"hybrid · {symbol}",
            error_y=dict(type="data", array=2 * b["se"], thickness=1, width=3),
            marker=dict(size=8, color=palette[i % len(palette)]), line=dict(color=palette[i % len(palette)], width=1.5),
            customdata=b["n"], hovertemplate="predicted %{x:.1%} → observed %{y:.1%} (n=%{customdata})"))
    fig.update_xaxes(title_text="predicted P(up), mean of the group", tickformat=".0%")
    fig.update_yaxes(title_text="observed share of up moves", tickformat=".0%", range=[0, 1])
    return _layout(fig, height)


def importance_figure(importance: Mapping[str, Mapping[str, float]] | None, version: int | None,
                      height: int = 480) -> go.Figure:
    """Horizontal bars: the rise in hold-out log loss when each feature is shuffled (± its spread),
    most important on top; a feature at or below 0 does not help on unseen bars."""
    if not importance:
        return empty_figure("No feature importance recorded for this version (retrain to compute it).", height)
    items = sorted(importance.items(), key=lambda kv: kv[1]["mean"])
    means = np.array([v["mean"] for _, v in items])
    fig = go.Figure(go.Bar(x=means, y=[k for k, _ in items], orientation="h", name="importance",
                           error_x=dict(type="data", array=[v["std"] for _, v in items], thickness=1),
                           marker_color=np.where(means > 0, COLORS["batch"], "#adb5bd"),
                           hovertemplate="%{y}: +%{x:.5f} log loss when shuffled<extra></extra>"))
    fig.update_xaxes(title_text=f"rise in hold-out log loss when shuffled (v{version})", tickformat=".4f")
    fig = _layout(fig, height)
    fig.update_layout(hovermode="closest", showlegend=False, margin=dict(l=110))
    return fig
