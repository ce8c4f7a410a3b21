"""Small charts as inline SVG markup, drawn on the server: no JavaScript, no external files.

Only SVG presentation attributes are used (the dashboard's Content-Security-Policy forbids inline
styles), every label is escaped, and each chart carries a <title> and <desc>; the pages put a text
table with the same numbers under each chart.

A whole chart in one SVG shrinks its labels with its width (12 units drawn 330 px wide are 5 px on a
phone). For pages read on phones, `bar` draws only the bar, and the labels and numbers stay HTML
text that wraps and follows the reader's text size (a table whose rows carry bars).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Colour-blind-safe (Okabe–Ito), dark enough on white.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#555555")
TEXT = "#17211d"
GRID = "#cfd9d4"
TRACK = "#e3ebe7"
FONT = 'font-family="system-ui, sans-serif"'


@dataclass(frozen=True)
class Series:
    """A named row of values, one per category."""

    name: str
    values: Sequence[float | None]


def _number(value: float) -> str:
    """A number for an SVG attribute (short, never in exponent form)."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _label(value: float) -> str:
    """A value as printed on the chart."""
    return f"{value:,.0f}".replace(",", ".") if float(value).is_integer() else f"{value:.1f}".replace(".", ",")


def nice_max(value: float) -> float:
    """A round upper bound for an axis (1, 2, 5 × 10^n) at or above `value`."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def _open(width: int, height: int, title: str, desc: str, ident: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-labelledby="{escape(ident)}-t {escape(ident)}-d" {FONT} font-size="12">',
        f'<title id="{escape(ident)}-t">{escape(title)}</title><desc id="{escape(ident)}-d">{escape(desc)}</desc>',
    ]


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    parts = []
    for n, item in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        parts.append(
            f'<rect x="{_number(x)}" y="{_number(y + n * 18)}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{_number(x + 18)}" y="{_number(y + n * 18 + 10)}" fill="{TEXT}">{escape(item.name)}</text>'
        )
    return parts


def _axis(left: float, top: float, width: float, height: float, top_value: float) -> list[str]:
    parts = []
    for step in range(5):
        value = top_value * step / 4
        y = top + height - height * step / 4
        parts.append(
            f'<line x1="{_number(left)}" y1="{_number(y)}" x2="{_number(left + width)}" y2="{_number(y)}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{_number(left - 6)}" y="{_number(y + 4)}" text-anchor="end" fill="{TEXT}">{_label(value)}</text>'
        )
    return parts


def stacked_bars(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    desc: str = "",
    ident: str = "chart",
    width: int = 760,
    height: int = 280,
) -> Markup:
    """Vertical bars, one per category, each stacked from the series' values."""
    legend_width = 170 if series else 0
    left, top, bottom = 44, 12, 42
    plot_w, plot_h = width - left - legend_width - 10, height - top - bottom
    totals = [sum((s.values[n] or 0) for s in series) for n in range(len(categories))]
    top_value = nice_max(max(totals, default=0))
    parts = _open(width, height, title, desc, ident) + _axis(left, top, plot_w, plot_h, top_value)
    slot = plot_w / max(len(categories), 1)
    bar = max(min(slot * 0.7, 48), 1)
    every = max(1, math.ceil(len(categories) / 14))
    for n, category in enumerate(categories):
        x = left + slot * n + (slot - bar) / 2
        base: float = top + plot_h
        for k, item in enumerate(series):
            value = item.values[n] or 0
            if value <= 0:
                continue
            h = plot_h * value / top_value
            base -= h
            parts.append(
                f'<rect x="{_number(x)}" y="{_number(base)}" width="{_number(bar)}" height="{_number(h)}" '
                f'fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(category)} · {escape(item.name)}: '
                f"{_label(value)}</title></rect>"
            )
        if totals[n]:
            parts.append(
                f'<text x="{_number(x + bar / 2)}" y="{_number(base - 4)}" text-anchor="middle" '
                f'fill="{TEXT}" font-size="11">{_label(totals[n])}</text>'
            )
        if n % every == 0:
            parts.append(
                f'<text x="{_number(x + bar / 2)}" y="{_number(top + plot_h + 16)}" text-anchor="middle" '
                f'fill="{TEXT}" font-size="11">{escape(category)}</text>'
            )
    parts += _legend(series, width - legend_width + 6, top)
    parts.append("</svg>")
    return Markup("".join(parts))  # nosec B704  # every text in it is escaped; the rest are numbers


def bar(value: float, top: float, *, colour: str = PALETTE[0]) -> Markup:
    """One horizontal bar, `value` out of `top`, as a small SVG that CSS stretches across its box
    (class "chart-bar"); hidden from screen readers, as the number beside it says the same."""
    share = min(100, max(1, 100 * value / top)) if value > 0 and top > 0 else 0
    return Markup(  # nosec B704  # numbers and a colour constant only
        '<svg class="chart-bar" viewBox="0 0 100 4" preserveAspectRatio="none" aria-hidden="true" focusable="false">'
        f'<rect width="100" height="4" fill="{TRACK}"/><rect width="{_number(share)}" height="4" '
        f'fill="{colour}"/></svg>'
    )


def horizontal_bars(
    rows: Sequence[tuple[str, float]],
    *,
    title: str,
    desc: str = "",
    ident: str = "chart",
    width: int = 760,
    unit: str = "",
) -> Markup:
    """One horizontal bar per (label, value), largest scale at the right; labels on the left."""
    row_h, left, right, top = 22, 220, 60, 6
    height = top * 2 + row_h * max(len(rows), 1)
    top_value = nice_max(max((value for _, value in rows), default=0))
    plot_w = width - left - right
    parts = _open(width, height, title, desc, ident)
    for n, (name, value) in enumerate(rows):
        y = top + n * row_h
        w = plot_w * value / top_value if value > 0 else 0
        shown = name if len(name) <= 32 else name[:31] + "…"
        parts.append(
            f'<text x="{left - 8}" y="{_number(y + 15)}" text-anchor="end" fill="{TEXT}">{escape(shown)}</text>'
            f'<rect x="{left}" y="{_number(y + 4)}" width="{_number(w)}" height="{row_h - 8}" fill="{PALETTE[0]}">'
            f"<title>{escape(name)}: {_label(value)}{escape(unit)}</title></rect>"
            f'<text x="{_number(left + w + 6)}" y="{_number(y + 15)}" '
            f'fill="{TEXT}">{_label(value)}{escape(unit)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # nosec B704  # every text in it is escaped; the rest are numbers


def line_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    desc: str = "",
    ident: str = "chart",
    width: int = 760,
    height: int = 240,
    unit: str = "",
) -> Markup:
    """Lines through each series' values (gaps where a value is None), with a dot at every point."""
    legend_width = 170 if series else 0
    left, top, bottom = 44, 12, 42
    plot_w, plot_h = width - left - legend_width - 10, height - top - bottom
    top_value = nice_max(max((v for s in series for v in s.values if v is not None), default=0))
    parts = _open(width, height, title, desc, ident) + _axis(left, top, plot_w, plot_h, top_value)
    slot = plot_w / max(len(categories), 1)
    every = max(1, math.ceil(len(categories) / 14))
    for n, category in enumerate(categories):
        if n % every == 0:
            parts.append(
                f'<text x="{_number(left + slot * (n + 0.5))}" y="{_number(top + plot_h + 16)}" '
                f'text-anchor="middle" fill="{TEXT}" font-size="11">{escape(category)}</text>'
            )
    for k, item in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        runs: list[list[tuple[float, float]]] = [[]]
        for n, value in enumerate(item.values):
            if value is None:
                runs.append([])
                continue
            point = (left + slot * (n + 0.5), top + plot_h - plot_h * value / top_value)
            runs[-1].append(point)
            parts.append(
                f'<circle cx="{_number(point[0])}" cy="{_number(point[1])}" r="3.5" fill="{colour}">'
                f"<title>{escape(categories[n])}: {_label(value)}{escape(unit)}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{_number(x)},{_number(y)}" for x, y in run)
                parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
    parts += _legend(series, width - legend_width + 6, top)
    parts.append("</svg>")
    return Markup("".join(parts))  # nosec B704  # every text in it is escaped; the rest are numbers
