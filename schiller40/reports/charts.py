"""Geometry for the utilisation charts, drawn by templates as inline SVG.

Pure functions: numbers in, coordinates and colours out. The templates only place what is
computed here, so the charts need no JavaScript, no chart library and no outside server, and
they work under a strict Content-Security-Policy (presentation attributes, no style="...").

Accessibility is decided here too: every bar and every heatmap cell carries its value as text,
so nothing is told by colour alone; the heatmap's colours are a sequential scale whose text
colour is chosen per step to keep a contrast of at least 4.5:1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .utilisation import Cell, WeekKey

# --- bar chart ---------------------------------------------------------------------------------

BAR_SLOT = 44  # horizontal space per week
BAR_WIDTH = 28
PLOT_HEIGHT = 160
TOP = 24  # room for the value above a full bar
BOTTOM = 44  # room for the week labels
LEFT = 48  # room for the axis labels
RIGHT = 12
BAR_FILL = "#00587a"  # 7.4:1 on white: the bars are clear non-text graphics (>= 3:1)
NO_DATA_FILL = "#4a5560"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label_x: float
    label_y: float
    value: str  # the percentage, or a dash when the space was not open that week
    week_label: str
    week_label_y: float
    title: str  # the tooltip and the bar's own text


@dataclass(frozen=True)
class Gridline:
    y: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    baseline: float
    bars: list[Bar]
    gridlines: list[Gridline]
    fill: str = BAR_FILL


def bar_chart(
    weeks: Sequence[WeekKey],
    cells: Mapping[WeekKey, Cell],
    *,
    percent_text: Callable[[float | None], str],
    week_text: Callable[[WeekKey], str],
    bar_title: Callable[[WeekKey, Cell], str],
) -> BarChart:
    """One bar per week, 0-100 % on the vertical axis, each bar labelled with its value."""
    width = LEFT + BAR_SLOT * max(len(weeks), 1) + RIGHT
    height = TOP + PLOT_HEIGHT + BOTTOM
    baseline = TOP + PLOT_HEIGHT
    bars = []
    for i, week in enumerate(weeks):
        cell = cells.get(week, Cell())
        percent = cell.percent
        bar_height = round(PLOT_HEIGHT * min(percent or 0, 100) / 100, 1)
        x = LEFT + i * BAR_SLOT + (BAR_SLOT - BAR_WIDTH) / 2
        bars.append(Bar(
            x=x, y=baseline - bar_height, width=BAR_WIDTH, height=bar_height,
            label_x=x + BAR_WIDTH / 2, label_y=baseline - bar_height - 6,
            value=percent_text(percent), week_label=week_text(week),
            week_label_y=baseline + 18, title=bar_title(week, cell),
        ))
    gridlines = [
        Gridline(y=baseline - PLOT_HEIGHT * p / 100, label=percent_text(p)) for p in (0, 50, 100)
    ]
    return BarChart(width=width, height=height, plot_left=LEFT, plot_right=width - RIGHT,
                    baseline=baseline, bars=bars, gridlines=gridlines)


# --- heatmap -----------------------------------------------------------------------------------

CELL_WIDTH = 50
CELL_HEIGHT = 34
HEAT_LEFT = 112
HEAT_TOP = 28

# (upper bound in %, fill, text colour): light to dark blue; ink on light, white on dark.
# Contrast of the text on each fill (WCAG relative luminance): 15.0, 11.0, 7.0, 5.0, 7.8
# (checked by tests/reports/test_charts.py).
SCALE: tuple[tuple[float, str, str], ...] = (
    (20, "#eef5f8", "#1b1f24"),
    (40, "#bcd7e3", "#1b1f24"),
    (60, "#7fb0c6", "#1b1f24"),
    (80, "#2c7797", "#ffffff"),
    (100.01, "#00587a", "#ffffff"),
)
CLOSED_FILL = "url(#closed-pattern)"
CLOSED_TEXT = "#1b1f24"


@dataclass(frozen=True)
class HeatCell:
    x: int
    y: int
    fill: str
    text_fill: str
    value: str
    title: str
    closed: bool


@dataclass(frozen=True)
class AxisLabel:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class LegendStep:
    fill: str
    text_fill: str
    label: str


@dataclass(frozen=True)
class Heatmap:
    width: int
    height: int
    cells: list[HeatCell]
    row_labels: list[AxisLabel]
    column_labels: list[AxisLabel]
    legend: list[LegendStep]


def step(percent: float) -> tuple[str, str]:
    """The fill and text colour for a percentage."""
    for upper, fill, text in SCALE:
        if percent < upper:
            return fill, text
    return SCALE[-1][1], SCALE[-1][2]


def heatmap(
    weekdays: Sequence[int],
    hours: Sequence[int],
    cells: Mapping[tuple[int, int], Cell],
    *,
    weekday_text: Callable[[int], str],
    hour_text: Callable[[int], str],
    percent_text: Callable[[float | None], str],
    cell_title: Callable[[int, int, Cell], str],
    legend_text: Callable[[float, float], str],
) -> Heatmap:
    """A weekday x hour grid: each cell shows its percentage as text on a shade of blue."""
    heat_cells = []
    for r, weekday in enumerate(weekdays):
        for c, hour in enumerate(hours):
            cell = cells.get((weekday, hour), Cell())
            percent = cell.percent
            if percent is None:
                fill, text_fill, closed = CLOSED_FILL, CLOSED_TEXT, True
            else:
                (fill, text_fill), closed = step(percent), False
            heat_cells.append(HeatCell(
                x=HEAT_LEFT + c * CELL_WIDTH, y=HEAT_TOP + r * CELL_HEIGHT, fill=fill,
                text_fill=text_fill, value=percent_text(percent),
                title=cell_title(weekday, hour, cell), closed=closed,
            ))
    row_labels = [
        AxisLabel(x=HEAT_LEFT - 8, y=HEAT_TOP + r * CELL_HEIGHT + CELL_HEIGHT / 2 + 5,
                  text=weekday_text(weekday))
        for r, weekday in enumerate(weekdays)
    ]
    column_labels = [
        AxisLabel(x=HEAT_LEFT + c * CELL_WIDTH + CELL_WIDTH / 2, y=HEAT_TOP - 10,
                  text=hour_text(hour))
        for c, hour in enumerate(hours)
    ]
    lower = 0.0
    legend = []
    for upper, fill, text in SCALE:
        legend.append(LegendStep(fill, text, legend_text(lower, min(upper, 100))))
        lower = upper
    return Heatmap(
        width=HEAT_LEFT + CELL_WIDTH * max(len(hours), 1) + 4,
        height=HEAT_TOP + CELL_HEIGHT * max(len(weekdays), 1) + 4,
        cells=heat_cells, row_labels=row_labels, column_labels=column_labels, legend=legend,
    )
