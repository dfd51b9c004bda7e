"""Readable numbers for people: UTC times, human ages, percentages (pure, no Dash)."""
from __future__ import annotations

import math
from datetime import datetime, timezone

DASH = "—"


def utc_time(ms: int | float | None, seconds: bool = False, date: bool = True, suffix: bool = True) -> str:
    """Epoch ms -> "2026-11-22 04:05 UTC" (or "04:05:00 UTC" without the date; without " UTC" in table
    cells whose header says so); a dash for nothing.

    >>> utc_time(0), utc_time(0, seconds=True, date=False), utc_time(0, suffix=False)
    ('1970-01-01 00:00 UTC', '00:00:00 UTC', '1970-01-01 00:00')
    """
    if ms is None or (isinstance(ms, float) and not math.isfinite(ms)):
        return DASH
    fmt = ("%Y-%m-%d " if date else "") + ("%H:%M:%S" if seconds else "%H:%M")
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime(fmt) + (" UTC" if suffix else "")


def age(seconds: int | float | None) -> str:
    """A duration in the largest sensible unit: "45 s", "12 min", "3.5 h", "2.0 d".

    >>> age(42), age(720), age(12600), age(172800)
    ('42 s', '12 min', '3.5 h', '2.0 d')
    """
    if seconds is None or not math.isfinite(seconds):
        return DASH
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def percent(value: float | None, digits: int = 1) -> str:
    """0.523 -> "52.3%"; a dash for nothing.

    >>> percent(0.5234), percent(None)
    ('52.3%', '—')
    """
    if value is None or not math.isfinite(value):
        return DASH
    return f"{100 * value:.{digits}f}%"


def number(value: float | int | None, digits: int = 0) -> str:
    """Thousands separators: 12345 -> "12,345".

    >>> number(12345), number(0.12345, 3)
    ('12,345', '0.123')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    return f"{value:,.{digits}f}"


def duration(seconds: float | None) -> str:
    """Job durations: "0.42 s", "12.3 s", "4 min".

    >>> duration(0.421), duration(12.34), duration(240)
    ('0.42 s', '12.3 s', '4 min')
    """
    if seconds is None or not math.isfinite(seconds):
        return DASH
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 90:
        return f"{seconds:.1f} s"
    return age(seconds)
