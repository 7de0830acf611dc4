"""A bar chart drawn on the server as inline SVG: no script, no CDN, works offline."""

from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT, PADDING_TOP, LABEL_HEIGHT = 600, 180, 10, 20


@dataclass(frozen=True)
class Bar:
    day: date
    count: int
    amount: int
    x: float
    y: float
    width: float
    height: float
    labelled: bool  # every fifth day carries a date label under the axis


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    width: int
    height: int
    axis_y: int
    peak: int


def bar_chart(days: list[tuple[date, int, int]]) -> BarChart:
    """One bar per (day, count, amount), its height proportional to the amount."""
    peak = max((amount for _, _, amount in days), default=0)
    slot = WIDTH / max(len(days), 1)
    plot_height = HEIGHT - PADDING_TOP - LABEL_HEIGHT
    axis_y = HEIGHT - LABEL_HEIGHT
    bars = []
    for index, (day, count, amount) in enumerate(days):
        height = plot_height * amount / peak if peak else 0
        labelled = (len(days) - 1 - index) % 5 == 0
        bars.append(Bar(day, count, amount, index * slot + slot * 0.15, axis_y - height, slot * 0.7, height, labelled))
    return BarChart(bars, WIDTH, HEIGHT, axis_y, peak)
