"""Bar charts drawn as SVG on the server: no JavaScript, no CDN, nothing to
vendor; the page works offline and the numbers are in the markup."""

from dataclasses import dataclass
from datetime import date

from config.formats import rials

WIDTH, HEIGHT = 760, 220
LEFT, BOTTOM, TOP = 8, 24, 16
PALETTE = ["#417690", "#e0a33a", "#79aec8", "#b04a5a", "#5c9e6b", "#8a6fb0", "#c47c3c", "#6b7b8c"]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    bars: list[Bar]
    labels: list[tuple[float, str]]  # (x, text) under some days
    legend: list[tuple[str, str]]  # (color, name)
    top_label: str
    baseline: float


def stacked_bars(title: str, days: list[date], series: dict[str, list[int]]) -> Chart:
    """One bar per day, one stacked segment per series (in the dict's order)."""
    plot_height = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(len(days), 1)
    totals = [sum(values[i] for values in series.values()) for i in range(len(days))]
    peak = max(totals, default=0) or 1
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    bars = []
    for i, day in enumerate(days):
        stacked = 0.0
        for name, values in series.items():
            if values[i] <= 0:
                continue
            height = values[i] / peak * plot_height
            stacked += height
            bars.append(
                Bar(
                    x=round(LEFT + i * slot + slot * 0.1, 1),
                    y=round(TOP + plot_height - stacked, 1),
                    width=round(slot * 0.8, 1),
                    height=round(height, 1),
                    color=colors[name],
                    title=f"{day.isoformat()} {name}: {rials(values[i])}",
                )
            )
    labels = [(round(LEFT + i * slot + slot / 2, 1), day.strftime("%m-%d")) for i, day in enumerate(days) if i % 5 == 0]
    return Chart(
        title=title,
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        labels=labels,
        legend=[(color, name) for name, color in colors.items()],
        top_label=f"max {rials(max(totals, default=0))}",
        baseline=TOP + plot_height,
    )
