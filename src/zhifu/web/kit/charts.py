"""Bar charts drawn by the server: the geometry of an SVG a template writes out.

No JavaScript and no chart library: a chart is a handful of rectangles. The value axis
is divided at a "nice" step (1, 2 or 5 times a power of ten) so its labels are round
amounts; values are integers (minor units for money) and never pass through a float on
their way to a label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TICKS = 4


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    left: int  # where the plot starts (the value labels are left of it)
    baseline: float  # the y of zero
    bars: list[Bar]
    ticks: list[Tick]


def nice_step(largest: int, ticks: int = TICKS) -> int:
    """The smallest of 1, 2, 5 x 10^k that divides 0..largest into at most `ticks` steps."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor * ticks >= largest:
                return step * factor
        step *= 10


def bar_chart(
    values: Sequence[tuple[str, int]],
    *,
    width: int = 720,
    height: int = 240,
    left: int = 88,
    right: int = 24,
    top: int = 12,
    bottom: int = 28,
) -> BarChart:
    """Bars for (label, value) pairs, left to right; negative values draw as zero."""
    step = nice_step(max([value for _, value in values] + [1]))
    top_value = step * TICKS
    plot_height = height - top - bottom
    baseline = top + plot_height
    slot = (width - left - right) / max(len(values), 1)
    bars = []
    for index, (label, value) in enumerate(values):
        bar_height = plot_height * max(value, 0) / top_value
        bars.append(
            Bar(
                x=round(left + index * slot + slot * 0.15, 2),
                y=round(baseline - bar_height, 2),
                width=round(slot * 0.7, 2),
                height=round(bar_height, 2),
                value=value,
                label=label,
            )
        )
    ticks = [
        Tick(y=round(baseline - plot_height * n / TICKS, 2), value=step * n)
        for n in range(TICKS + 1)
    ]
    return BarChart(width, height, left, baseline, bars, ticks)
