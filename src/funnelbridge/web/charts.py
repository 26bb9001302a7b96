"""Inline SVG charts, drawn on the server (no chart library, no CDN). Text is escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["FunnelBar", "bar_chart_svg", "funnel_svg"]

MARKETING, SALES, OTHER = "#1f5fbf", "#0b7a4b", "#5b3cc4"


@dataclass(frozen=True)
class FunnelBar:
    stage: str
    title: str
    reached: int
    step_conversion: float | None
    team: str  # marketing | sales | other


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def funnel_svg(bars: Sequence[FunnelBar], handoff: str | None, width: int = 760) -> str:
    """One connected funnel: bars centred, width ∝ √(reached / first) so late stages stay visible; the handoff
    from marketing to sales is marked with a dashed line."""
    row, top, label_w = 46, 10, 150
    height = top + row * len(bars) + 10
    first = max((b.reached for b in bars), default=0) or 1
    span = width - label_w - 150
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="funnel-title" class="funnel">',
        '<title id="funnel-title">Marketing and sales funnel, joined at the handoff</title>',
    ]
    for i, bar in enumerate(bars):
        y = top + i * row
        w = max(4.0, span * math.sqrt(bar.reached / first))
        x = label_w + (span - w) / 2
        color = {"marketing": MARKETING, "sales": SALES}.get(bar.team, OTHER)
        if bar.stage == handoff:
            parts.append(
                f'<line x1="0" x2="{width}" y1="{y - 4}" y2="{y - 4}" stroke="#1b1f24" stroke-dasharray="6 4"/>'
                f'<text x="{label_w}" y="{y - 8}" font-weight="600">handoff to sales ↓</text>'
            )
        parts.append(
            f'<g data-stage="{escape(bar.stage)}"><text x="0" y="{y + 22}">{escape(bar.title)}</text>'
            f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="28" rx="4" fill="{color}"/>'
            f'<text x="{label_w + span + 10}" y="{y + 16}" class="count">{bar.reached:,}</text>'
            f'<text x="{label_w + span + 10}" y="{y + 31}" fill="#4a5560">'
            f"{_pct(bar.step_conversion)} of previous</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart_svg(
    labels: Sequence[str], values: Sequence[float], title: str, width: int = 520, fmt: str = "{:,.0f}"
) -> str:
    """Horizontal bars, one per label."""
    row, label_w = 24, 170
    height = row * len(labels) + 10
    top = max((v for v in values if v is not None), default=0) or 1
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" class="bars">']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 4 + i * row
        w = 0 if value is None else max(0.0, (width - label_w - 90) * value / top)
        parts.append(
            f'<text x="0" y="{y + 14}">{escape(label[:24])}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="16" rx="3" fill="{MARKETING}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 14}">{"–" if value is None else fmt.format(value)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
