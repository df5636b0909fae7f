"""Charts as SVG drawn on the server: a forest plot of lifts, and lines over time.

Every text that reaches the SVG goes through markupsafe's escape. Series differ
by marker shape and dash pattern as well as colour, so the charts read in
greyscale too; the palette is Okabe and Ito's, safe for colour-blind readers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
DASHES = ("", "7 4", "2 3", "9 3 2 3", "4 2", "1 2")
MARKERS = ("circle", "square", "triangle", "diamond", "cross", "circle")
FONT = 'font-family="system-ui, sans-serif"'


@dataclass(frozen=True)
class ForestRow:
    label: str
    estimate: float
    low: float
    high: float
    verdict: str
    """"better", "worse", "flat" or "undefined"."""


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[datetime, float]]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else [0.0]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + 1e-9 * step:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks


def _nice_range(low: float, high: float, count: int) -> tuple[float, float]:
    """Widen [low, high] to whole tick steps, so no point sits on an edge."""
    ticks = nice_ticks(low, high, count)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else abs(high - low) or 1.0
    return math.floor(low / step) * step, math.ceil(high / step) * step


def percent(value: float) -> str:
    return f"{value:+.1%}" if math.isfinite(value) else "n/a"


def marker(kind: str, x: float, y: float, colour: str, filled: bool = True) -> str:
    fill = colour if filled else "#fff"
    common = f'fill="{fill}" stroke="{colour}" stroke-width="2"'
    if kind == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" {common}/>'
    if kind == "triangle":
        points = f"{x:.1f},{y - 5:.1f} {x - 5:.1f},{y + 4:.1f} {x + 5:.1f},{y + 4:.1f}"
        return f'<polygon points="{points}" {common}/>'
    if kind == "diamond":
        points = " ".join(
            f"{a:.1f},{b:.1f}"
            for a, b in ((x, y - 6), (x + 6, y), (x, y + 6), (x - 6, y))
        )
        return f'<polygon points="{points}" {common}/>'
    if kind == "cross":
        return (
            f'<path d="M{x - 4:.1f},{y - 4:.1f}L{x + 4:.1f},{y + 4:.1f}'
            f'M{x - 4:.1f},{y + 4:.1f}L{x + 4:.1f},{y - 4:.1f}" '
            f'stroke="{colour}" stroke-width="2.5"/>'
        )
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" {common}/>'


def forest(rows: Sequence[ForestRow], *, title: str, stamp: str = "") -> Markup:
    """Relative lift of each treatment over control with its 95% interval."""
    width, left, right, row_height = 440.0, 14.0, 14.0, 56.0
    top = 26.0 if stamp else 8.0
    axis = 38.0
    height = top + row_height * max(1, len(rows)) + axis
    finite = [v for r in rows for v in (r.low, r.high, r.estimate) if math.isfinite(v)]
    low, high = min([0.0, *finite]), max([0.0, *finite])
    pad = (high - low) * 0.08 or 0.05
    low, high = low - pad, high + pad

    def x(value: float) -> float:
        return left + (value - low) / (high - low) * (width - left - right)

    parts = [
        f'<svg viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'class="chart forest" {FONT} font-size="15">',
        f"<title>{escape(title)}</title>",
    ]
    bottom = height - axis
    for tick in nice_ticks(low, high):
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top:.1f}" '
            f'y2="{bottom:.1f}" stroke="#e3e3e3"/>'
            f'<text x="{x(tick):.1f}" y="{bottom + 18:.1f}" text-anchor="middle" '
            f'fill="#555" font-size="13">{escape(percent(tick))}</text>'
        )
    parts.append(
        f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top:.1f}" y2="{bottom:.1f}" '
        'stroke="#222" stroke-width="1.5" stroke-dasharray="4 3"/>'
    )
    parts.append(
        f'<text x="{width - right:.0f}" y="{height - 2:.0f}" text-anchor="end" '
        'fill="#555" font-size="13">relative lift vs control (95% CI)</text>'
    )
    for i, row in enumerate(rows):
        y = top + i * row_height
        mid = y + 38
        colour = {"better": "#1a7f37", "worse": "#b3261e"}.get(row.verdict, "#444")
        interval = f"{percent(row.estimate)} [{percent(row.low)}, {percent(row.high)}]"
        halo = 'paint-order="stroke" stroke="#fff" stroke-width="5"'
        parts.append(
            f'<text x="{left:.0f}" y="{y + 16:.1f}" font-weight="600" {halo}>'
            f"{escape(row.label)}</text>"
            f'<text x="{width - right:.0f}" y="{y + 16:.1f}" text-anchor="end" '
            f"{halo}>{escape(interval)}</text>"
        )
        if not all(math.isfinite(v) for v in (row.low, row.high, row.estimate)):
            parts.append(
                f'<text x="{x(0) + 6:.1f}" y="{mid + 4:.1f}" fill="#555">'
                "not defined yet</text>"
            )
            continue
        parts.append(
            f'<line x1="{x(row.low):.1f}" x2="{x(row.high):.1f}" y1="{mid:.1f}" '
            f'y2="{mid:.1f}" stroke="{colour}" stroke-width="3"/>'
        )
        for end in (row.low, row.high):
            parts.append(
                f'<line x1="{x(end):.1f}" x2="{x(end):.1f}" y1="{mid - 7:.1f}" '
                f'y2="{mid + 7:.1f}" stroke="{colour}" stroke-width="2"/>'
            )
        # Filled diamond: the interval excludes zero; hollow: it does not.
        parts.append(
            marker("diamond", x(row.estimate), mid, colour, row.verdict != "flat")
        )
    if stamp:
        parts.append(
            f'<text x="{left:.0f}" y="16" fill="#8a6d00" font-size="13" '
            f'font-weight="700" letter-spacing="2">{escape(stamp)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def lines(
    series: Sequence[Series],
    *,
    title: str,
    fmt: Callable[[float], str],
) -> Markup:
    """One line per series over time, with marker shapes and dashes per series."""
    width, height = 440.0, 240.0
    left, right, top, bottom = 66.0, 12.0, 12.0, 34.0
    xs = sorted({p[0] for s in series for p in s.points})
    values = [v for s in series for _, v in s.points if math.isfinite(v)]
    parts = [
        f'<svg viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'class="chart lines" {FONT} font-size="14">',
        f"<title>{escape(title)}</title>",
    ]
    if not xs or not values:
        parts.append(
            f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" '
            'fill="#555" font-size="14">no data yet</text></svg>'
        )
        return Markup("".join(parts))
    low, high = min(values), max(values)
    if low == high:
        low, high = low - (abs(low) * 0.1 or 1.0), high + (abs(high) * 0.1 or 1.0)
    low, high = _nice_range(low, high, 4)
    ticks = nice_ticks(low, high, 4)
    first, last = xs[0], xs[-1]
    span = (last - first).total_seconds() or 1.0

    def px(moment: datetime) -> float:
        if len(xs) == 1:
            return (left + width - right) / 2
        return left + (moment - first).total_seconds() / span * (width - left - right)

    def py(value: float) -> float:
        return top + (high - value) / (high - low) * (height - top - bottom)

    for tick in ticks:
        parts.append(
            f'<line x1="{left:.0f}" x2="{width - right:.0f}" y1="{py(tick):.1f}" '
            f'y2="{py(tick):.1f}" stroke="#e3e3e3"/>'
            f'<text x="{left - 6:.0f}" y="{py(tick) + 4:.1f}" text-anchor="end" '
            f'fill="#555">{escape(fmt(tick))}</text>'
        )
    step = max(1, math.ceil(len(xs) / 5))
    shown = xs[::step]
    if shown[-1] != xs[-1]:
        # The last day is always labelled; a label too close to it gives way.
        if px(xs[-1]) - px(shown[-1]) < 70:
            shown[-1] = xs[-1]
        else:
            shown.append(xs[-1])
    for moment in shown:
        anchor = "middle"
        if len(xs) > 1 and moment == xs[0]:
            anchor = "start"
        elif len(xs) > 1 and moment == xs[-1]:
            anchor = "end"
        parts.append(
            f'<text x="{px(moment):.1f}" y="{height - 8:.0f}" text-anchor="{anchor}" '
            f'fill="#555">{escape(moment.strftime("%b %d"))}</text>'
        )
    for i, s in enumerate(series):
        colour, dash, kind = (
            COLOURS[i % len(COLOURS)],
            DASHES[i % len(DASHES)],
            MARKERS[i % len(MARKERS)],
        )
        points = [(px(t), py(v)) for t, v in s.points if math.isfinite(v)]
        if len(points) > 1:
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in points)
            dashes = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" '
                f'stroke-width="2.5"{dashes}><title>{escape(s.label)}</title>'
                "</polyline>"
            )
        parts.extend(marker(kind, a, b, colour) for a, b in points)
    parts.append("</svg>")
    return Markup("".join(parts))


def legend_key(index: int) -> Markup:
    """The small sample of series `index`'s line and marker, for an HTML legend."""
    colour, dash, kind = (
        COLOURS[index % len(COLOURS)],
        DASHES[index % len(DASHES)],
        MARKERS[index % len(MARKERS)],
    )
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    return Markup(
        '<svg viewBox="0 0 36 14" width="36" height="14" aria-hidden="true">'
        f'<line x1="0" x2="36" y1="7" y2="7" stroke="{colour}" stroke-width="2.5"'
        f"{dashes}/>{marker(kind, 18, 7, colour)}</svg>"
    )
