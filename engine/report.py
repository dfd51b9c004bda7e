"""The evaluation report a person reads: the verdict in words first, then the tables and small charts.

``write_report`` writes ``<stem>.json`` (everything, for tools), ``<stem>.csv`` (every evaluated bar:
each model's P(up), the weights, the 0/1 ``label`` and its ``label_kind``, so it can be rescored) and
``<stem>.html``: per (symbol, label kind) the verdict, the models beside the baselines and the rolling
reference with standard errors and the shared verdict rule (engine.health), the strategies with their
bootstrap intervals, the weights over time, the rolling accuracy, and for a scenario market the oracle
and the recovery after each switch. The charts are inline SVG drawn here: no script, no download, a
few kilobytes each, so the file opens offline and stays far below 2 MB.
"""
from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from engine.atomic import atomic_write_bytes, atomic_write_json
from engine.health import VERDICTS

MODELS = ("sgd", "passive_aggressive", "mlp_online", "batch")
ROLLING_BARS = 500
MIN_ROLLING_BARS = 24
CHART_POINTS = 400  # a line is drawn through at most this many points
COLORS = {"ensemble": "#212529", "hybrid": "#212529", "sgd": "#0d6efd", "passive_aggressive": "#6f42c1",
          "mlp_online": "#d63384", "batch": "#fd7e14", "reference": "#20c997", "abstain": "#adb5bd",
          "majority_class": "#adb5bd", "reversal": "#6c757d", "oracle": "#198754"}
NAMES = {"ensemble": "hybrid", "reference": "rolling logistic regression"}
STRATEGY_NAMES = {"rules": "today's rules", "rules_cost": "rules + cost gate", "rules_outcome": "rules + outcome model",
                  "rules_cost_outcome": "rules + cost gate + outcome model", "always_flat": "always flat",
                  "buy_and_hold": "buy and hold"}


def _pct(value, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f} %"


def _num(value, spec: str = ".4f") -> str:
    return "—" if value is None else format(value, spec)


def _se(value, se, spec=".4f") -> str:
    return "—" if value is None else f"{value:{spec}} ± {se or 0:{spec}}"


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d")


def _difference(d: dict, what: str) -> str:
    if not d or d.get("difference") is None:
        return f"no comparison with {what}"
    diff, se = d["difference"], d["se"] or 0.0
    said = ("better than" if diff > 2 * se else "worse than" if diff < -2 * se else "within noise of")
    return f"{diff * 100:+.2f} ± {se * 100:.2f} points of accuracy: {said} {what}"


def verdict_lines(r: dict) -> list[str]:
    """One result (walk_forward's report, with ``oracle``/``recovery`` for a scenario) in plain sentences."""
    h, v = r["hybrid"], (r.get("verdicts") or {}).get("ensemble") or {}
    lines = [f"Hybrid ({r.get('hybrid_mode', 'fixed')} weights): accuracy {_se(h['accuracy'], h['accuracy_se'])}, log loss "
             f"{_se(h['log_loss'], h['log_loss_se'])} over {h['n']} bars — {VERDICTS.get(v.get('verdict'), '—')} "
             "(majority class, the log-loss gap beyond 2 SE decides)."]
    comparisons = r.get("comparisons") or {}
    if comparisons:
        best = comparisons["best_model"]
        lines.append(f"Against its best single model ({best}): {_difference(comparisons['hybrid_vs_best_model'], best)}; "
                     f"against a plain rolling logistic regression: "
                     f"{_difference(comparisons['hybrid_vs_reference'], 'the rolling logistic regression')}.")
    oracle = r.get("oracle")
    if oracle:
        o = oracle["accuracy"]
        gap = (h["accuracy"] - o["accuracy"]) / max(o["accuracy_se"] or 1e-9, 1e-9)
        lines.append(f"The oracle (the best any model seeing these candles could do) scores {_se(o['accuracy'], o['accuracy_se'])}: "
                     f"the hybrid is {abs(gap):.1f} SE {'below' if gap < 0 else 'above'} it.")
    rec = (r.get("recovery") or {}).get("summary", {}).get("ensemble")
    if rec and rec["switches"]:
        lines.append(f"After {rec['switches']} changes of law the hybrid got back to 90 % of its edge in a median "
                     f"{_num(rec['median_days'], '.1f')} days ({rec['within_7_days']} of {rec['switches']} within 7 days).")
    trading = r.get("trading")
    if trading:
        from engine.trade_evaluation import verdict  # a module of the evaluation's own

        live = trading["live"]
        lines.append(verdict(trading["strategies"], live, STRATEGY_NAMES[live].capitalize() + " (live)"))
        trader = (oracle or {}).get("trader")
        if trader:
            lines.append(f"The oracle's calls under the same rules would have made {trader['pnl_usdt']:+,.2f} USDT "
                         f"[{_num(trader['pnl_usdt_ci'][0], '+,.2f')}, {_num(trader['pnl_usdt_ci'][1], '+,.2f')}] in "
                         f"{trader['trades']:.0f} trades: the edge {'pays' if (trader['pnl_usdt_ci'][0] or 0) > 0 else 'does not clearly pay'} "
                         "the costs.")
    return lines


# ---- charts ---------------------------------------------------------------------------------------------------
def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) > CHART_POINTS:
        pick = np.linspace(0, len(x) - 1, CHART_POINTS).astype(int)
        x, y = x[pick], y[pick]
    return x, y


def line_chart(series: dict[str, tuple[np.ndarray, np.ndarray]], title: str, y_label: str, width: int = 860,
               height: int = 260, y_range: tuple[float, float] | None = None, reference: float | None = None) -> str:
    """An inline SVG chart of ``series`` {name: (x in epoch ms, y)}, a legend and the first/last dates."""
    thinned = {name: _thin(np.asarray(x, float), np.asarray(y, float)) for name, (x, y) in series.items()}
    thinned = {name: xy for name, xy in thinned.items() if len(xy[0])}
    if not thinned:
        return f"<p class='muted'>{html.escape(title)}: nothing to draw.</p>"
    xs = np.concatenate([x for x, _ in thinned.values()])
    ys = np.concatenate([y for _, y in thinned.values()])
    x0, x1 = float(xs.min()), float(xs.max()) or 1.0
    y0, y1 = y_range or (float(ys.min()), float(ys.max()))
    if y1 <= y0:
        y0, y1 = y0 - 0.01, y1 + 0.01
    left, right, top, bottom = 50, 190, 24, 28
    w, h = width - left - right, height - top - bottom
    sx = lambda x: left + (x - x0) / max(x1 - x0, 1.0) * w
    sy = lambda y: top + (1 - (y - y0) / (y1 - y0)) * h
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img'>",
             f"<text x='{left}' y='15' font-size='13' font-weight='bold'>{html.escape(title)}</text>",
             f"<rect x='{left}' y='{top}' width='{w}' height='{h}' fill='none' stroke='#dee2e6'/>"]
    for value in (y0, (y0 + y1) / 2, y1):
        parts.append(f"<text x='{left - 4}' y='{sy(value) + 4:.1f}' font-size='10' text-anchor='end'>{value:.3g}</text>")
    if reference is not None and y0 < reference < y1:
        parts.append(f"<line x1='{left}' x2='{left + w}' y1='{sy(reference):.1f}' y2='{sy(reference):.1f}' "
                     "stroke='#adb5bd' stroke-dasharray='3 3'/>")
    parts.append(f"<text x='{left}' y='{height - 8}' font-size='10'>{_when(int(x0))}</text>"
                 f"<text x='{left + w}' y='{height - 8}' font-size='10' text-anchor='end'>{_when(int(x1))}</text>"
                 f"<text x='12' y='{top + h / 2:.0f}' font-size='10' transform='rotate(-90 12 {top + h / 2:.0f})' "
                 f"text-anchor='middle'>{html.escape(y_label)}</text>")
    for k, (name, (x, y)) in enumerate(thinned.items()):
        color = COLORS.get(name, "#0dcaf0")
        points = " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in zip(x, y))
        bold = name in ("ensemble", "hybrid")
        parts.append(f"<polyline fill='none' stroke='{color}' stroke-width='{2.5 if bold else 1.2}' points='{points}'/>")
        parts.append(f"<rect x='{left + w + 10}' y='{top + 14 * k}' width='10' height='3' fill='{color}'/>"
                     f"<text x='{left + w + 24}' y='{top + 14 * k + 5}' font-size='11'>"
                     f"{html.escape(NAMES.get(name, name))}</text>")
    parts.append("</svg>")
    return "".join(parts)


def rolling_accuracy(predictions: pd.DataFrame, window: int = ROLLING_BARS) -> pd.DataFrame:
    """Rolling share of correct calls per model, hybrid ("ensemble"), reference and baseline, by open_time."""
    label = predictions["label"].to_numpy(dtype=np.float64)
    out = {}
    for column in predictions.columns:
        if column.startswith("p_"):
            p = predictions[column].to_numpy(dtype=np.float64)
            correct = np.where(np.isfinite(p) & np.isfinite(label), (p >= 0.5) == (label == 1), np.nan)
            out[column[2:]] = pd.Series(correct).rolling(window, min_periods=max(1, window // 2)).mean().to_numpy()
    return pd.DataFrame(out, index=pd.Index(predictions["open_time"].to_numpy(), name="open_time"))


# ---- tables ---------------------------------------------------------------------------------------------------
def _table(head: tuple[str, ...], rows: list[tuple]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _models_table(r: dict) -> str:
    verdicts = r.get("verdicts") or {}
    rows = []
    for name, s in [*((m, r["models"][m]) for m in MODELS), ("ensemble", r["hybrid"]),
                    *([("reference", r["reference"])] if r.get("reference") else []),
                    *r["baselines"].items()]:
        v = verdicts.get(name)
        rows.append((NAMES.get(name, name), s["n"], _se(s["accuracy"], s["accuracy_se"]),
                     _se(s["log_loss"], s["log_loss_se"]), VERDICTS.get(v["verdict"]) if v else "",
                     _pct((r.get("mean_weight") or {}).get("abstain" if name == "abstain" else name), 0)
                     if name in (*MODELS,) else ""))
    oracle = r.get("oracle")
    if oracle:
        for name in ("accuracy", "clairvoyant"):
            s = oracle[name]
            rows.append((f"oracle ({'hidden state known' if name == 'clairvoyant' else 'Bayes, from the bars so far'})",
                         s["n"], _se(s["accuracy"], s["accuracy_se"]), _se(s["log_loss"], s["log_loss_se"]), "", ""))
    return _table(("model", "bars", "accuracy ± SE", "log loss ± SE", "vs majority class", "mean weight"), rows)


def _strategies_table(t: dict) -> str:
    rows = []
    for name, s in t["strategies"].items():
        low, high = s["pnl_usdt_ci"]
        random = (s.get("random") or {}).get("pnl_usdt") or {}
        rows.append((STRATEGY_NAMES.get(name, name) + (" (live)" if name == t["live"] else ""), _num(s["trades"], ",.0f"),
                     _pct(s["win_rate"]), f"{_num(s['pnl_usdt'], '+,.2f')} [{_num(low, '+,.2f')}, {_num(high, '+,.2f')}]",
                     _num(s["max_drawdown_usdt"], ",.2f"), _num(s["sharpe"], "+.2f"),
                     "" if random.get("mean") is None else f"{random['mean']:+,.2f} ± {random['sd']:,.2f}"))
    return _table(("strategy", "trades", "win rate", "PnL USDT [95 % interval]", "max drawdown", "Sharpe",
                   "random entry, same trades"), rows)


def _recovery_table(recovery: dict) -> str:
    models = (*MODELS, "ensemble")
    rows = [(_when(s["time"]), s["law"], *(f"{_num(s['models'][m]['days'], '.1f')} d" if s["models"][m]["days"] is not None
                                          else "—" for m in models)) for s in recovery["switches"]]
    return _table(("switch", "new law", *(NAMES.get(m, m) for m in models)), rows)


def _section(symbol: str, label: str, r: dict, predictions: pd.DataFrame) -> str:
    times = predictions["open_time"].to_numpy(np.int64)
    window = min(ROLLING_BARS, max(MIN_ROLLING_BARS, len(predictions) // 4))
    rolling = rolling_accuracy(predictions, window)
    shown = [c for c in ("ensemble", "batch", "sgd", "passive_aggressive", "mlp_online", "reference") if c in rolling]
    accuracy = line_chart({c: (times, rolling[c].to_numpy()) for c in shown},
                          f"Rolling accuracy ({window} bars)", "accuracy", reference=0.5)
    weight_columns = [c for c in predictions.columns if c.startswith("w_")]
    daily = predictions.assign(day=times // 86_400_000).groupby("day")[weight_columns].mean() if weight_columns else None
    weights = "" if daily is None else line_chart(
        {c[2:]: (daily.index.to_numpy() * 86_400_000, daily[c].to_numpy()) for c in weight_columns},
        "The hybrid's weights over time (daily mean)", "share", y_range=(0.0, 1.0))
    parts = [f"<h2>{html.escape(symbol)} · {html.escape(label)} label · {_when(r['first_open_time'])} – "
             f"{_when(r['last_open_time'])}</h2>",
             "<div class='verdict'>" + "".join(f"<p>{html.escape(line)}</p>" for line in verdict_lines(r)) + "</div>",
             "<h3>Models beside the baselines</h3>", _models_table(r), accuracy, weights]
    if r.get("recovery"):
        parts += ["<h3>Days to get back to 90 % of the edge after each change of law</h3>",
                  _recovery_table(r["recovery"])]
    if r.get("trading"):
        parts += ["<h3>Strategies after fees and slippage</h3>", _strategies_table(r["trading"])]
    return "".join(parts)


STYLE = ("body{font-family:system-ui,sans-serif;margin:24px;color:#212529;max-width:1100px}"
         "table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}td,th{border:1px solid #dee2e6;padding:3px 8px;"
         "text-align:right}td:first-child,th:first-child{text-align:left}.verdict{background:#f8f9fa;padding:8px 14px;"
         "border-left:4px solid #0d6efd}.muted{color:#6c757d}")


def write_report(report: dict, results: dict, out_dir: str | Path, stem: str) -> dict[str, Path]:
    """Write the JSON, CSV and HTML report (see the module docstring); ``results``: {(symbol, label kind):
    WalkForwardResult}. Returns their paths."""
    out_dir = Path(out_dir)
    paths = {kind: out_dir / f"{stem}.{kind}" for kind in ("json", "csv", "html")}
    atomic_write_json(paths["json"], report)
    table = pd.concat([r.predictions.assign(symbol=symbol, label_kind=label) for (symbol, label), r in results.items()],
                      ignore_index=True)
    atomic_write_bytes(paths["csv"], table.to_csv(index=False).encode())
    sections = [_section(symbol, label, r.report, r.predictions) for (symbol, label), r in results.items()]
    title = html.escape(stem)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{STYLE}</style></head>"
            f"<body><h1>Walk-forward evaluation</h1><p class='muted'>{title}: every call was made before its label "
            "was known; ± is one standard error; intervals are 95 % block-bootstrap.</p>"
            + "".join(sections) + "</body></html>")
    atomic_write_bytes(paths["html"], page.encode())
    return paths
