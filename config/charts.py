"""Bar charts drawn as SVG on the server, for the staff dashboard and the
seller portal alike (markup: config/templates/config/bar_chart.html): no
JavaScript, no CDN, nothing to vendor; the page works offline and the figures
are in the markup.

One bar per day. Series stack up from the axis; a series drawn `below` (money
going back, such as refunds) stacks down from it, so every part keeps its own
height and a bar adds up to the figures printed beside the chart. A mark
(such as the net) is a tick across its day's bar.

Days run oldest to newest in the page's reading direction: left to right, or
on a right-to-left page right to left, newest at the left, with the value
axis on the right: the whole drawing is mirrored, the HTML legend follows the
page's direction by itself. Texts are Latin digits (config/formats.py)."""

from dataclasses import dataclass
from datetime import date

from config.formats import rials

WIDTH, HEIGHT = 760, 220
# Each side leaves room for half a date label, which is centred under its
# bar: the first and the last label fit inside the drawing.
SIDE = 24
TOP, BOTTOM = 10, 24  # BOTTOM holds the line of date labels
LABEL_EVERY = 5  # days, counted back from the newest, which is always labelled
PALETTE = ["#417690", "#e0a33a", "#79aec8", "#5c9e6b", "#8a6fb0", "#c47c3c", "#6b7b8c"]
BELOW_COLOR, MARK_COLOR = "#b04a5a", "#1d2733"


@dataclass(frozen=True)
class Series:
    name: str
    values: list[int]  # rials, one per day, none negative
    counts: list[int] | None = None  # shown beside each value (recharges, say)
    below: bool = False


@dataclass(frozen=True)
class Bar:
    day: date
    series: str
    value: int
    amount: str  # the value in rials, as text
    count: int | None
    below: bool
    color: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Mark:
    day: date
    name: str
    value: int
    amount: str
    x1: float
    x2: float
    y: float


@dataclass(frozen=True)
class Label:
    day: date
    x: float


@dataclass(frozen=True)
class LegendItem:
    color: str
    name: str
    mark: bool  # drawn as a tick, not a bar


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    top: int
    baseline: float
    value_axis: float  # x of the value axis, on the side the days start from
    bars: list[Bar]
    marks: list[Mark]
    labels: list[Label]
    legend: list[LegendItem]
    peak: int  # the highest day above the axis
    rtl: bool


@dataclass(frozen=True)
class _Scale:
    baseline: float
    per_rial: float


def bar_chart(days: list[date], series: list[Series], *, marks: Series | None = None, rtl: bool = False) -> Chart:
    """`days` oldest first; every series (and `marks`) has one value per day."""
    above = [sum(s.values[i] for s in series if not s.below) for i in range(len(days))]
    below = [sum(s.values[i] for s in series if s.below) for i in range(len(days))]
    scale = _scale(above, below, marks.values if marks else [])
    slot = (WIDTH - 2 * SIDE) / max(len(days), 1)

    def left(i: int) -> float:
        return SIDE + (len(days) - 1 - i if rtl else i) * slot

    colors = _colors(series)
    bars = [bar for i, day in enumerate(days) for bar in _day_bars(i, day, series, colors, left(i), slot, scale)]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        top=TOP,
        baseline=round(scale.baseline, 1),
        value_axis=WIDTH - SIDE if rtl else SIDE,
        bars=bars,
        marks=[_mark(day, marks, i, left(i), slot, scale) for i, day in enumerate(days)] if marks else [],
        labels=[
            Label(day, round(left(i) + slot / 2, 1))
            for i, day in enumerate(days)
            if (len(days) - 1 - i) % LABEL_EVERY == 0
        ],
        legend=[LegendItem(colors[s.name], s.name, False) for s in series]
        + ([LegendItem(MARK_COLOR, marks.name, True)] if marks else []),
        peak=max(above, default=0),
        rtl=rtl,
    )


def _scale(above: list[int], below: list[int], marks: list[int]) -> _Scale:
    """The axis sits where the tallest day above it and the deepest below it
    (marks included: a net can be negative) share the plot's height."""
    up = max([*above, *marks, 0])
    down = max([*below, *(-value for value in marks), 0])
    plot = HEIGHT - TOP - BOTTOM
    if up + down == 0:
        return _Scale(baseline=TOP + plot, per_rial=0)
    return _Scale(baseline=TOP + plot * up / (up + down), per_rial=plot / (up + down))


def _colors(series: list[Series]) -> dict[str, str]:
    upward = [s.name for s in series if not s.below]
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(upward)}
    return colors | {s.name: BELOW_COLOR for s in series if s.below}


def _day_bars(
    i: int, day: date, series: list[Series], colors: dict[str, str], left: float, slot: float, scale: _Scale
) -> list[Bar]:
    bars = []
    up = down = 0.0  # heights stacked so far above and below the axis
    for s in series:
        value = s.values[i]
        if value <= 0:
            continue
        height = value * scale.per_rial
        if s.below:
            y, down = scale.baseline + down, down + height
        else:
            up += height
            y = scale.baseline - up
        bars.append(
            Bar(
                day=day,
                series=s.name,
                value=value,
                amount=_amount(value),
                count=s.counts[i] if s.counts is not None else None,
                below=s.below,
                color=colors[s.name],
                x=round(left + slot * 0.15, 1),
                y=round(y, 1),
                width=round(slot * 0.7, 1),
                height=round(height, 1),
            )
        )
    return bars


def _mark(day: date, marks: Series, i: int, left: float, slot: float, scale: _Scale) -> Mark:
    value = marks.values[i]
    y = round(scale.baseline - value * scale.per_rial, 1)
    return Mark(day, marks.name, value, _amount(value), round(left + slot * 0.05, 1), round(left + slot * 0.95, 1), y)


def _amount(value: int) -> str:
    """Rials as text for a tooltip. A negative figure is isolated left to
    right (U+2066 ... U+2069): on a Persian page its minus would else be
    drawn after it."""
    text = rials(value)
    if value >= 0:
        return text
    figure = f"{value:,}"
    return text.replace(figure, f"\u2066{figure}\u2069")
