"""Bar charts as inline SVG, laid out here and drawn by the `chart` template macro (autoescaped).

No script and no external asset: the geometry is computed on the server, so a chart shows in any
browser, prints, and works air-gapped. Each chart also carries its figures as text (a table), so
it is not the only way to read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

__all__ = ["Bar", "BarChart", "bar_chart"]

_WIDTH, _ROW, _LABEL, _PAD = 480, 28, 170, 6


class Bar(msgspec.Struct, kw_only=True, frozen=True):
    label: str
    value: str
    y: int
    width: int


class BarChart(msgspec.Struct, kw_only=True, frozen=True):
    title: str
    bars: list[Bar]
    width: int
    height: int
    label_width: int
    bar_height: int


def bar_chart(title: str, items: Sequence[tuple[str, int | Decimal]]) -> BarChart:
    """Horizontal bars, one row per item, scaled to the largest value (all zero: empty bars)."""
    peak = max((Decimal(v) for _, v in items), default=Decimal(0))
    room = _WIDTH - _LABEL - 60
    bars = [
        Bar(
            label=label,
            value=str(value),
            y=index * _ROW,
            width=int(Decimal(value) / peak * room) if peak > 0 else 0,
        )
        for index, (label, value) in enumerate(items)
    ]
    return BarChart(
        title=title,
        bars=bars,
        width=_WIDTH,
        height=max(1, len(bars)) * _ROW,
        label_width=_LABEL,
        bar_height=_ROW - _PAD,
    )
