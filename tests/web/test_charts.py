"""The dashboard's bar chart: round steps on the value axis, bars in proportion."""

from __future__ import annotations

import pytest

from zhifu.web.kit.charts import TICKS, bar_chart, nice_step


@pytest.mark.parametrize(
    ("largest", "step"),
    [(0, 1), (1, 1), (4, 1), (5, 2), (8, 2), (9, 5), (20, 5), (21, 10), (1_880, 500),
     (2_001, 1_000), (10**15, 500_000_000_000_000)],
)  # fmt: skip
def test_steps_are_one_two_or_five_times_a_power_of_ten(largest: int, step: int) -> None:
    assert nice_step(largest) == step
    assert step * TICKS >= largest


def test_bars_are_in_proportion_to_their_values() -> None:
    chart = bar_chart([("a", 0), ("b", 1_000), ("c", 2_000), ("d", -5)], height=140, top=10,
                      bottom=30)  # fmt: skip
    assert [tick.value for tick in chart.ticks] == [0, 500, 1_000, 1_500, 2_000]
    plot = chart.baseline - chart.ticks[-1].y
    assert plot == 100
    heights = [bar.height for bar in chart.bars]
    assert heights == [0, 50, 100, 0]
    assert all(bar.y + bar.height == chart.baseline for bar in chart.bars)
    lefts = [bar.x for bar in chart.bars]
    assert lefts == sorted(lefts) and lefts[0] >= chart.left
    assert chart.bars[-1].x + chart.bars[-1].width <= chart.width
