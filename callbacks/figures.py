"""What every figure shares: the layout and theme (``_layout``), the default template, the note of an empty
chart, and the trace types the page's plotly.js must draw. The builders: callbacks.model_figures (model
quality), callbacks.market_figures (candles), callbacks.trading_figures (paper trading)."""
from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio


COLORS = {"hybrid": "#6f42c1", "batch": "#0d6efd", "baseline": "#6c757d", "sgd": "#20c997",
          "passive_aggressive": "#fd7e14", "mlp_online": "#d63384", "abstain": "#adb5bd"}
TRACE_TYPES = {"scatter", "bar", "candlestick"}  # every trace type the dashboard draws: the page's plotly.js needs them


def _slim_template(base: str = "plotly_white") -> go.layout.Template:
    """``base``'s look for the trace types the dashboard draws, without its 3D, map, polar and colour-scale
    parts: every figure carries its template, and the full one costs ~20 ms a figure to check and serialise."""
    full = pio.templates[base].to_plotly_json()
    keep = ("autotypenumbers", "colorway", "font", "hoverlabel", "xaxis", "yaxis", "title")
    return go.layout.Template(layout={k: v for k, v in full["layout"].items() if k in keep},
                              data={t: full["data"][t] for t in sorted(TRACE_TYPES) if t in full["data"]})


pio.templates["hls"] = _slim_template()
pio.templates.default = "hls"  # every figure starts from it (naming a template per figure costs ~15 ms each)


LAYOUT = dict(margin=dict(l=50, r=20, t=30, b=30), paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
              hoverlabel=dict(bgcolor="white"),
              # the legend at the top of the chart's box, not above the plot area: placed from the plot area,
              # plotly.js sometimes drew it inside the first panel when a figure arrived in a tab being shown
              legend=dict(orientation="h", yref="container", yanchor="top", y=1.0, x=0),
              hovermode="x unified", font=dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
                                               size=12))


def _layout(fig: go.Figure, height: int) -> go.Figure:
    """The one place every figure is laid out (size, margins, legend, hover) and themed: backgrounds are
    transparent, so the card behind shows through, and assets/dashboard.css recolours text, grid and hover
    labels under Bootstrap's data-bs-theme="dark". One mechanism themes every chart, without a redraw.

    Each property of LAYOUT is set whole (a third of update_layout's cost): a chart that needs, say, its own
    margin sets it after this."""
    for key, value in (LAYOUT | {"height": height}).items():
        setattr(fig.layout, key, value)
    return fig


def empty_figure(message: str, height: int = 320) -> go.Figure:
    """A blank chart carrying a centred note (e.g. "No predictions scored yet")."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=14, color="#6c757d"),
                       xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, height)
