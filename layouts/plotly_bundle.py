"""Which plotly.js the page loads: plotly's finance bundle from npm (1.3 MB) when it is installed and
draws every trace type the dashboard needs, else the full bundle of the plotly Python package (4.8 MB).

On a cold page load the browser spends most of its time compiling and initialising plotly.js; the
finance bundle halves the time to the first chart. ``npm ci`` installs it (``package.json``).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import plotly

from engine.paths import PROJECT_ROOT

PARTIAL = Path("node_modules") / "plotly.js-finance-dist-min" / "plotly-finance.min.js"
FULL = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
_TRACE_MODULE = re.compile(rb'moduleType:"trace",name:"(\w+)"')


@dataclass(frozen=True)
class PlotlyBundle:
    path: Path
    url: str  # carries a digest of the content: cacheable for a year, a new file gets a new URL
    partial: bool


def trace_types(source: bytes) -> set[str]:
    """The trace types a plotly.js bundle registers.

    >>> sorted(trace_types(b'x={moduleType:"trace",name:"bar",y:1};z={moduleType:"trace",name:"ohlc"}'))
    ['bar', 'ohlc']
    """
    return {m.decode() for m in _TRACE_MODULE.findall(source)}


def _bundle(path: Path, source: bytes, partial: bool) -> PlotlyBundle:
    digest = hashlib.sha256(source).hexdigest()[:16]
    return PlotlyBundle(path, f"/vendor/{path.name.removesuffix('.min.js')}.{digest}.min.js", partial)


def choose(needed: set[str], root: Path = PROJECT_ROOT) -> PlotlyBundle:
    """The partial bundle under ``root`` if installed and it has all ``needed`` trace types, else the full one."""
    partial = root / PARTIAL
    if partial.is_file():
        source = partial.read_bytes()
        if needed <= trace_types(source):
            return _bundle(partial, source, True)
    return _bundle(FULL, FULL.read_bytes(), False)
