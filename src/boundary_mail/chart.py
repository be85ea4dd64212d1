"""A small inline SVG bar chart: daily volume per client, one row of bars per client.

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
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="{escape(title, quote=True)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<rect x="{LABEL_WIDTH}" y="5" width="10" height="10" fill="{MESSAGE_COLOUR}"/>',
        _text(LABEL_WIDTH + 14, 14, "messages"),
        f'<rect x="{LABEL_WIDTH + 90}" y="5" width="10" height="10" fill="{FOLLOWUP_COLOUR}"/>',
        _text(LABEL_WIDTH + 104, 14, "follow-ups"),
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
