"""A server-rendered SVG line chart of the flow over time (no script, no library).

The points are computed here and drawn by the template, so the chart is plain
markup a phone renders as well as a laptop.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctsync.web._pages import when

RANGES: dict[str, tuple[float, int]] = {
    "hour": (3600.0, 60),  # span in seconds, number of buckets
    "day": (86400.0, 48),
    "week": (7 * 86400.0, 84),
}
COLOURS = {"received": "#2563eb", "delivered": "#16a34a", "failed": "#d97706", "dead": "#dc2626"}
# Wider lines first and half see-through, so a series under another still shows.
WIDTHS = {"received": 6.0, "delivered": 4.0, "failed": 2.5, "dead": 1.5}
WIDTH, HEIGHT, PAD = 600.0, 200.0, 30.0


@dataclass(frozen=True, slots=True)
class Line:
    """One series: its name, colour, SVG points and total."""

    name: str
    colour: str
    points: str
    total: int
    width: float


@dataclass(frozen=True, slots=True)
class Chart:
    """What the template draws."""

    lines: list[Line]
    peak: int
    start_label: str
    end_label: str
    width: float = WIDTH
    height: float = HEIGHT
    pad: float = PAD


def span_of(name: str) -> tuple[str, float, int]:
    """A known range name (unknown: the day), its span and bucket count."""
    key = name if name in RANGES else "day"
    span, buckets = RANGES[key]
    return key, span, buckets


def build(series: dict[str, list[int]], *, since: float, until: float) -> Chart:
    """Scale each series into the chart's box."""
    peak = max([1, *(max(v, default=0) for v in series.values())])
    lines = []
    for name, values in series.items():
        n = max(1, len(values) - 1)
        pts = " ".join(
            f"{PAD + i * (WIDTH - 2 * PAD) / n:.1f},"
            f"{HEIGHT - PAD - v * (HEIGHT - 2 * PAD) / peak:.1f}"
            for i, v in enumerate(values)
        )
        colour, width = COLOURS.get(name, "#555"), WIDTHS.get(name, 2.0)
        lines.append(Line(name, colour, pts, sum(values), width))
    return Chart(lines, peak, when(since), when(until))
