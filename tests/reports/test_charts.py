"""Chart geometry: bars scale to 0-100 %, every bar and cell carries its value as text, and the
heatmap's colours keep text readable (WCAG AA, 4.5:1) and bars visible (3:1)."""

from __future__ import annotations

import pytest

from schiller40.reports import charts
from schiller40.reports.utilisation import Cell


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize(("upper", "fill", "text"), charts.SCALE)
def test_text_on_every_heatmap_step_meets_aa(upper, fill, text):
    assert contrast(fill, text) >= 4.5


def test_bars_stand_out_from_the_page():
    assert contrast(charts.BAR_FILL, "#ffffff") >= 3


def text(value):
    return "–" if value is None else f"{round(value)} %"


def test_bar_heights_follow_the_percentage_and_every_bar_has_its_value():
    weeks = [(2026, 44), (2026, 45), (2026, 46)]
    cells = {weeks[0]: Cell(3600, 3600), weeks[1]: Cell(3600, 900), weeks[2]: Cell()}
    chart = charts.bar_chart(weeks, cells, percent_text=text, week_text=lambda w: f"W{w[1]}",
                             bar_title=lambda w, c: f"W{w[1]}")
    full, quarter, closed = chart.bars
    assert full.height == charts.PLOT_HEIGHT and full.y == charts.TOP
    assert quarter.height == charts.PLOT_HEIGHT / 4
    assert closed.height == 0 and closed.value == "–"
    assert [b.value for b in chart.bars] == ["100 %", "25 %", "–"]
    assert [b.week_label for b in chart.bars] == ["W44", "W45", "W46"]
    assert chart.width == charts.LEFT + 3 * charts.BAR_SLOT + charts.RIGHT
    assert [g.label for g in chart.gridlines] == ["0 %", "50 %", "100 %"]


def test_heatmap_cells_show_their_value_and_closed_cells_are_hatched():
    cells = {(0, 8): Cell(3600, 3600), (0, 9): Cell(3600, 0), (1, 8): Cell(3600, 1800)}
    heat = charts.heatmap(
        [0, 1], [8, 9], cells, weekday_text=str, hour_text=str, percent_text=text,
        cell_title=lambda d, h, c: f"{d}/{h}", legend_text=lambda lo, hi: f"{lo}-{hi}",
    )
    values = {(c.x, c.y): (c.value, c.fill, c.closed) for c in heat.cells}
    left, top = charts.HEAT_LEFT, charts.HEAT_TOP
    assert values[(left, top)] == ("100 %", "#00587a", False)
    assert values[(left + charts.CELL_WIDTH, top)] == ("0 %", "#eef5f8", False)
    assert values[(left, top + charts.CELL_HEIGHT)] == ("50 %", "#7fb0c6", False)
    assert values[(left + charts.CELL_WIDTH, top + charts.CELL_HEIGHT)] == (
        "–", charts.CLOSED_FILL, True)
    assert [step.label for step in heat.legend] == [
        "0.0-20", "20-40", "40-60", "60-80", "80-100"]
