"""Small inline SVG bar charts: daily volume per client, and a client's months against a limit.

Pure and dependency-free. The rows share one scale, so a client who writes five times as
much as the others looks five times as tall. Every piece of text (client names, labels,
tooltips) is escaped here, because the SVG is placed into the HTML digest as markup. The
SVG refers to nothing outside itself: no fonts, images, links or namespaces to fetch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

MESSAGE_COLOUR = "#2f5d8a"
FOLLOWUP_COLOUR = "#e39b2d"
OVER_COLOUR = "#b00020"
LIMIT_COLOUR = "#e39b2d"
LABEL_WIDTH = 130
BAR_WIDTH = 14
BAR_GAP = 3
ROW_HEIGHT = 44
BAR_AREA = 30
LEGEND_HEIGHT = 22
AXIS_HEIGHT = 18
SPARK_LEVELS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True, slots=True)
class Series:
    """One client's row: messages and follow-ups per day, oldest first."""

    label: str
    messages: Sequence[int]
    followups: Sequence[int]

    def totals(self) -> list[int]:
        return [m + f for m, f in zip(self.messages, self.followups, strict=True)]


def _text(x: float, y: float, value: str, *, anchor: str = "start", size: int = 11,
          colour: str = "#333", weight: str = "normal") -> str:
    return (
        f'<text x="{x:g}" y="{y:g}" font-family="Helvetica, Arial, sans-serif"'
        f' font-size="{size}" font-weight="{weight}" fill="{colour}"'
        f' text-anchor="{anchor}">{escape(value)}</text>'
    )


def _frame(width: int, height: int, title: str) -> list[str]:
    """The opening of an SVG with its accessible name and a white background."""
    return [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="{escape(title, quote=True)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]


def _swatch(x: int, colour: str, label: str) -> list[str]:
    """One legend entry: a coloured square and its label."""
    return [f'<rect x="{x}" y="5" width="10" height="10" fill="{colour}"/>',
            _text(x + 14, 14, label)]


def volume_chart_svg(
    series: Sequence[Series], day_labels: Sequence[str], *, title: str
) -> str:
    """Small multiples: a labelled row of stacked bars (messages, then follow-ups) per series.

    `day_labels` names each column (the same length as every series); empty labels are not
    drawn, so a caller labels every seventh day, say. `title` is the accessible name.
    """
    days = len(day_labels)
    if any(len(s.messages) != days or len(s.followups) != days for s in series):
        raise ValueError("every series needs one value per day label")
    peak = max((max(s.totals(), default=0) for s in series), default=0) or 1
    width = LABEL_WIDTH + days * (BAR_WIDTH + BAR_GAP) + 60
    height = LEGEND_HEIGHT + len(series) * ROW_HEIGHT + AXIS_HEIGHT
    parts = [
        *_frame(width, height, title),
        *_swatch(LABEL_WIDTH, MESSAGE_COLOUR, "messages"),
        *_swatch(LABEL_WIDTH + 90, FOLLOWUP_COLOUR, "follow-ups"),
        _text(width - 4, 14, f"tallest bar: {peak}", anchor="end", colour="#666"),
    ]
    for row, s in enumerate(series):
        top = LEGEND_HEIGHT + row * ROW_HEIGHT
        base = top + 6 + BAR_AREA
        label = s.label if len(s.label) <= 18 else s.label[:17] + "…"
        parts.append(_text(0, base - 8, label, weight="bold"))
        right = LABEL_WIDTH + days * (BAR_WIDTH + BAR_GAP)
        parts.append(
            f'<line x1="{LABEL_WIDTH}" y1="{base}" x2="{right}" y2="{base}" stroke="#cccccc"'
            ' stroke-width="1"/>'
        )
        for i, (m, f) in enumerate(zip(s.messages, s.followups, strict=True)):
            if not m and not f:
                continue
            x = LABEL_WIDTH + i * (BAR_WIDTH + BAR_GAP)
            m_h = BAR_AREA * m / peak
            f_h = BAR_AREA * f / peak
            tip = f"{s.label} · {day_labels[i] or f'day {i + 1}'}: {m} message(s), {f} follow-up(s)"
            parts.append(f"<g><title>{escape(tip)}</title>")
            if m:
                parts.append(
                    f'<rect x="{x}" y="{base - m_h:.1f}" width="{BAR_WIDTH}" height="{m_h:.1f}"'
                    f' fill="{MESSAGE_COLOUR}"/>'
                )
            if f:
                parts.append(
                    f'<rect x="{x}" y="{base - m_h - f_h:.1f}" width="{BAR_WIDTH}"'
                    f' height="{f_h:.1f}" fill="{FOLLOWUP_COLOUR}"/>'
                )
            parts.append("</g>")
        total = sum(s.totals())
        parts.append(_text(width - 4, base - 8, f"total {total}", anchor="end", colour="#666"))
    axis_y = LEGEND_HEIGHT + len(series) * ROW_HEIGHT + 12
    for i, label in enumerate(day_labels):
        if label:
            centre = LABEL_WIDTH + i * (BAR_WIDTH + BAR_GAP) + BAR_WIDTH / 2
            parts.append(_text(centre, axis_y, label, anchor="middle", size=10, colour="#666"))
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class LimitSeries:
    """One row of bars against a limit (a client's monthly cost against its fee): bars
    above the limit are drawn in the alert colour. `tips` names each bar's value."""

    label: str
    values: Sequence[float]
    limit: float | None
    tips: Sequence[str]
    note: str = ""  # shown at the right end of the row


def limit_chart_svg(
    series: Sequence[LimitSeries], column_labels: Sequence[str], *, title: str,
    legend: tuple[str, str, str] = ("within", "over", "limit"),
) -> str:
    """Small multiples: per series a row of bars (its own scale, so each row shows its
    trend) with a dashed line at its limit; every text escaped, nothing outside the SVG."""
    columns = len(column_labels)
    if any(len(s.values) != columns or len(s.tips) != columns for s in series):
        raise ValueError("every series needs one value and one tip per column label")
    width = LABEL_WIDTH + columns * (BAR_WIDTH * 2 + BAR_GAP) + 110
    height = LEGEND_HEIGHT + len(series) * ROW_HEIGHT + AXIS_HEIGHT
    parts = [
        *_frame(width, height, title),
        *_swatch(LABEL_WIDTH, MESSAGE_COLOUR, legend[0]),
        *_swatch(LABEL_WIDTH + 70, OVER_COLOUR, legend[1]),
        f'<line x1="{LABEL_WIDTH + 210}" y1="10" x2="{LABEL_WIDTH + 230}" y2="10"'
        f' stroke="{LIMIT_COLOUR}" stroke-width="2" stroke-dasharray="4 2"/>',
        _text(LABEL_WIDTH + 234, 14, legend[2]),
    ]
    step = BAR_WIDTH * 2 + BAR_GAP
    for row, s in enumerate(series):
        top = LEGEND_HEIGHT + row * ROW_HEIGHT
        base = top + 6 + BAR_AREA
        peak = max([*s.values, s.limit or 0]) or 1
        label = s.label if len(s.label) <= 18 else s.label[:17] + "…"
        parts.append(_text(0, base - 8, label, weight="bold"))
        right = LABEL_WIDTH + columns * step
        parts.append(f'<line x1="{LABEL_WIDTH}" y1="{base}" x2="{right}" y2="{base}"'
                     ' stroke="#cccccc" stroke-width="1"/>')
        for i, (value, tip) in enumerate(zip(s.values, s.tips, strict=True)):
            if value <= 0:
                continue
            h = BAR_AREA * value / peak
            colour = OVER_COLOUR if s.limit is not None and value > s.limit else MESSAGE_COLOUR
            parts.append(
                f'<g><title>{escape(tip)}</title><rect x="{LABEL_WIDTH + i * step}"'
                f' y="{base - h:.1f}" width="{BAR_WIDTH * 2}" height="{h:.1f}"'
                f' fill="{colour}"/></g>'
            )
        if s.limit:
            y = base - BAR_AREA * s.limit / peak
            parts.append(f'<line x1="{LABEL_WIDTH}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"'
                         f' stroke="{LIMIT_COLOUR}" stroke-width="2" stroke-dasharray="4 2"/>')
        parts.append(_text(width - 4, base - 8, s.note, anchor="end", colour="#666"))
    axis_y = LEGEND_HEIGHT + len(series) * ROW_HEIGHT + 12
    for i, label in enumerate(column_labels):
        if label:
            centre = LABEL_WIDTH + i * step + BAR_WIDTH
            parts.append(_text(centre, axis_y, label, anchor="middle", size=10, colour="#666"))
    parts.append("</svg>")
    return "".join(parts)


def sparkline(values: Sequence[int], peak: int | None = None) -> str:
    """The same volumes for the plain-text part: one block character per day."""
    top = peak if peak is not None else max(values, default=0)
    if top <= 0:
        return "·" * len(values)
    out = []
    for v in values:
        if v <= 0:
            out.append("·")
        else:
            out.append(SPARK_LEVELS[min(len(SPARK_LEVELS) - 1, (v * len(SPARK_LEVELS) - 1) // top)])
    return "".join(out)
