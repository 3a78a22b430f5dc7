"""Staff page: utilisation of the spaces as charts and tables, and the open-data CSV.

Both routes read the same filters from the query string (a GET form: filtering changes
nothing, so it needs no CSRF token, and the URL can be bookmarked or shared). Invalid filters
show messages beside the fields; the CSV route sends the browser back to the page to see them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from babel.numbers import format_decimal
from babel.numbers import format_percent as babel_percent
from flask import Response, redirect, render_template, request, url_for
from flask_babel import format_date, get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, ValidationError
from wtforms.widgets import TextInput

from ..core.clock import now
from ..core.forms import no_nul
from ..core.time import BERLIN
from ..extensions import db
from ..reports import charts
from ..reports.utilisation import (
    CSV_COLUMNS,
    DEFAULT_WEEKS,
    KIND_ORDER,
    MAX_WEEKS,
    Cell,
    Report,
    WeekKey,
    WeekRange,
    csv_rows,
    default_range,
    utilisation,
)
from ..resources.models import Resource, ResourceKind
from ..templating import KIND_LABELS, weekday_name
from . import bp, section, staff_required

WEEK_PATTERN = re.compile(r"^\s*(\d{4})\s*-?\s*W\s*(\d{1,2})\s*$", re.IGNORECASE)
FIRST_YEAR = 2000


def parse_week(text: str) -> WeekKey | None:
    """"2026-W45" (as a browser's week field sends it), also "2026W45" or "2026-w45"."""
    match = WEEK_PATTERN.match(text or "")
    if not match:
        return None
    year, week = int(match.group(1)), int(match.group(2))
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        return None
    return (year, week)


def week_value(week: WeekKey) -> str:
    return f"{week[0]:04d}-W{week[1]:02d}"


class WeekField(StringField):
    """An ISO week. Browsers with a week picker show one; the others show a text field."""

    widget = TextInput(input_type="week")

    def pre_validate(self, form: Any) -> None:
        self.week: WeekKey | None = None
        if not (self.data or "").strip():
            return
        week = parse_week(self.data)
        if week is None:
            raise ValidationError(_l("Please enter a calendar week like 2026-W45."))
        if not FIRST_YEAR <= week[0] <= now().astimezone(BERLIN).year + 2:
            raise ValidationError(_l("Please choose a week between 2000 and two years ahead."))
        self.week = week


class UtilisationFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter: reading only, and a token does not belong in URLs

    from_week = WeekField(
        _l("From week"), validators=[Optional(), Length(max=20), no_nul],
        description=_l("A calendar week, e.g. 2026-W45."),
    )
    to_week = WeekField(
        _l("To week"), validators=[Optional(), Length(max=20), no_nul],
        description=_l("Up to 53 weeks after the first week."),
    )
    kind = SelectField(
        _l("Kind of space"),
        choices=[SelectChoice("", _l("All kinds"))]
        + [SelectChoice(k.value, KIND_LABELS[k]) for k in ResourceKind],
        validators=[Optional()], validate_choice=False,
    )
    resource = SelectField(_l("Space"), validators=[Optional()], validate_choice=False)

    def validate_kind(self, field: SelectField) -> None:
        if field.data and field.data not in {k.value for k in ResourceKind}:
            raise ValidationError(_l("Please choose a kind from the list."))

    def validate_resource(self, field: SelectField) -> None:
        if field.data and field.data not in {str(c.value) for c in field.choices}:
            raise ValidationError(_l("Please choose a space from the list."))


@dataclass(frozen=True)
class Selection:
    """Valid filters, resolved: the weeks and what to include."""

    weeks: WeekRange
    kind: ResourceKind | None
    resource: Resource | None

    def query_args(self) -> dict[str, str]:
        args = {"from_week": week_value(self.weeks.first), "to_week": week_value(self.weeks.last)}
        if self.kind:
            args["kind"] = self.kind.value
        if self.resource:
            args["resource"] = self.resource.slug
        return args


def _form() -> tuple[UtilisationFilterForm, Selection | None]:
    """The filter form from the query string, and what it selects (None if it is invalid)."""
    resources = sorted(
        db.session.scalars(select(Resource)),
        key=lambda r: (KIND_ORDER.index(r.kind), r.zone or "", r.position, r.name),
    )
    form = UtilisationFilterForm(formdata=request.args or None)
    form.resource.choices = [SelectChoice("", _("All spaces"))] + [
        SelectChoice(r.slug, f"{r.name} ({KIND_LABELS[r.kind]})") for r in resources
    ]
    today = now().astimezone(BERLIN).date()
    if not request.args:
        default = default_range(today)
        form.from_week.data = week_value(default.first)
        form.to_week.data = week_value(default.last)
        return form, Selection(default, None, None)
    if not form.validate():
        return form, None
    first, last = form.from_week.week, form.to_week.week
    if first is None and last is None:
        weeks = default_range(today)
    elif last is None:
        assert first is not None
        weeks = WeekRange(first, _shift(first, DEFAULT_WEEKS - 1))
    elif first is None:
        weeks = WeekRange(_shift(last, -(DEFAULT_WEEKS - 1)), last)
    else:
        monday = date.fromisocalendar(*first, 1)
        if date.fromisocalendar(*last, 1) < monday:
            form.to_week.errors.append(_("The last week must not be before the first week."))
            return form, None
        weeks = WeekRange(first, last)
        if weeks.week_count > MAX_WEEKS:
            form.to_week.errors.append(
                _("Please choose at most %(count)d weeks.", count=MAX_WEEKS)
            )
            return form, None
    kind = ResourceKind(form.kind.data) if form.kind.data else None
    resource = next((r for r in resources if r.slug == form.resource.data), None)
    if resource is not None and kind is not None and resource.kind is not kind:
        form.resource.errors.append(_("This space is not of the chosen kind."))
        return form, None
    form.from_week.data, form.to_week.data = week_value(weeks.first), week_value(weeks.last)
    return form, Selection(weeks, kind, resource)


def _shift(week: WeekKey, weeks: int) -> WeekKey:
    day = date.fromisocalendar(*week, 1) + timedelta(weeks=weeks)
    iso = day.isocalendar()
    return (iso.year, iso.week)


# --- formatting (the reader's language) --------------------------------------------------------


def _locale() -> str:
    return str(get_locale() or "de")


def percent_text(value: float | None, *, decimals: bool = False) -> str:
    """"42 %" in German, "42%" in English; a dash when there was no open time."""
    if value is None:
        return "\u2013"
    locale = Locale.parse(_locale())
    pattern = locale.percent_formats[None].pattern  # "#,##0 %" in German, "#,##0%" in English
    if decimals:
        return babel_percent(value / 100, pattern.replace("#,##0", "#,##0.0"), locale=locale)
    return babel_percent(round(value) / 100, pattern, locale=locale)


def hours_text(minutes: int) -> str:
    return format_decimal(round(minutes / 60, 1), format="#,##0.#", locale=_locale())


def week_text(week: WeekKey) -> str:
    return _("W%(week)d", week=week[1])


def week_long(week: WeekKey) -> str:
    monday = date.fromisocalendar(*week, 1)
    return _("W%(week)d/%(year)d (%(first)s to %(last)s)", week=week[1], year=week[0],
             first=format_date(monday, "medium"),
             last=format_date(monday + timedelta(days=6), "medium"))


def hour_text(hour: int) -> str:
    return f"{hour:02d}:00"


def hour_range(hour: int) -> str:
    return f"{hour:02d}:00\u2013{(hour + 1) % 24:02d}:00"


def cell_summary(cell: Cell) -> str:
    return _("%(percent)s (%(booked)s of %(open)s open hours booked)",
             percent=percent_text(cell.percent, decimals=True),
             booked=hours_text(cell.booked_minutes), open=hours_text(cell.open_minutes))


# --- charts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindChart:
    kind: ResourceKind
    label: str
    chart: charts.BarChart
    description: str
    rows: list[tuple[WeekKey, Cell]]


def _extremes(items: list[tuple[Any, Cell]]) -> tuple[Any, Any] | None:
    """The highest and the lowest item, if they differ (else there is nothing to point out)."""
    measured = [(key, cell) for key, cell in items if cell.percent is not None]
    if len({cell.percent for _key, cell in measured}) < 2:
        return None
    high = max(measured, key=lambda kc: kc[1].percent or 0)
    low = min(measured, key=lambda kc: kc[1].percent or 0)
    return high, low


def _kind_charts(report: Report) -> list[KindChart]:
    result = []
    for kind in report.kinds:
        cells = report.by_week_kind[kind]
        label = str(KIND_LABELS[kind])
        chart = charts.bar_chart(
            report.weeks, cells, percent_text=percent_text, week_text=week_text,
            bar_title=lambda week, cell: f"{week_long(week)}: {cell_summary(cell)}",
        )
        rows = [(week, cells[week]) for week in report.weeks]
        description = ngettext(
            "%(kind)s: %(percent)s of the open time booked in %(num)d week.",
            "%(kind)s: %(percent)s of the open time booked over %(num)d weeks.",
            len(report.weeks),
            kind=label, percent=percent_text(report.by_kind[kind].percent, decimals=True),
        )
        extremes = _extremes(rows)
        if extremes:
            (high_week, high), (low_week, low) = extremes
            description += " " + _(
                "Highest: %(high_week)s with %(high)s. Lowest: %(low_week)s with %(low)s.",
                high_week=week_long(high_week), high=percent_text(high.percent, decimals=True),
                low_week=week_long(low_week), low=percent_text(low.percent, decimals=True),
            )
        result.append(KindChart(kind, label, chart, description, rows))
    return result


def _heatmap(report: Report) -> tuple[charts.Heatmap, str]:
    def day_name(weekday: int) -> str:
        return weekday_name(weekday)

    heat = charts.heatmap(
        report.weekdays, report.hours, report.heatmap,
        weekday_text=day_name, hour_text=hour_text, percent_text=percent_text,
        cell_title=lambda weekday, hour, cell: (
            f"{day_name(weekday)}, {hour_range(hour)}: "
            + (cell_summary(cell) if cell.percent is not None else _("closed"))
        ),
        legend_text=lambda low, high: _("%(low)s to under %(high)s", low=percent_text(low),
                                        high=percent_text(high))
        if high < 100 else _("%(low)s to 100 %%", low=percent_text(low)),
    )
    items = [(key, cell) for key, cell in report.heatmap.items()]
    extremes = _extremes(items)
    description = _("Occupancy by weekday and hour of the day, in local time; each cell "
                    "shows its percentage, hatched cells were closed.")
    if extremes:
        ((high_day, high_hour), high), ((low_day, low_hour), low) = extremes
        description += " " + _(
            "Busiest: %(high_when)s with %(high)s. Quietest: %(low_when)s with %(low)s.",
            high_when=f"{day_name(high_day)} {hour_range(high_hour)}",
            high=percent_text(high.percent, decimals=True),
            low_when=f"{day_name(low_day)} {hour_range(low_hour)}",
            low=percent_text(low.percent, decimals=True),
        )
    return heat, description


# --- routes ------------------------------------------------------------------------------------


@bp.get("/utilisation")
@staff_required
def utilisation_page() -> str:
    """Charts first (people would rather look than read), each with its data as a table."""
    form, selection = _form()
    context: dict[str, Any] = {"form": form, "selection": selection}
    if selection is not None:
        report = utilisation(
            db.session, selection.weeks, kind=selection.kind,
            resource_id=selection.resource.id if selection.resource else None,
        )
        heat, heat_description = _heatmap(report)
        context.update(
            report=report, kind_charts=_kind_charts(report), heat=heat,
            heat_description=heat_description,
            csv_url=url_for("staff.utilisation_csv") + "?" + urlencode(selection.query_args()),
            range_text=_("%(first)s to %(last)s", first=week_long(selection.weeks.first),
                         last=week_long(selection.weeks.last)),
        )
    return render_template(
        "staff/utilisation.html", percent_text=percent_text, hours_text=hours_text,
        week_long=week_long, hour_range=hour_range, kind_labels=KIND_LABELS,
        max_weeks=MAX_WEEKS, **context,
    )


@bp.get("/utilisation.csv")
@staff_required
def utilisation_csv() -> Response:
    """The open-data export: one row per space, local day and open hour (see the guide)."""
    _unused, selection = _form()
    if selection is None:
        # The page shows the same filters with the messages beside the fields.
        return redirect(url_for("staff.utilisation_page") + "?" + urlencode(request.args))
    report = utilisation(
        db.session, selection.weeks, kind=selection.kind,
        resource_id=selection.resource.id if selection.resource else None,
    )

    def lines() -> Iterator[bytes]:
        """The file in chunks: a year of many spaces is over 100,000 rows."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for i, row in enumerate(csv_rows(report), start=1):
            writer.writerow(row)
            if i % 2000 == 0:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode("utf-8")

    parts = ["schiller40-utilisation", week_value(selection.weeks.first),
             week_value(selection.weeks.last)]
    if selection.kind:
        parts.append(selection.kind.value)
    if selection.resource:
        parts.append(selection.resource.slug)
    filename = re.sub(r"[^A-Za-z0-9_.-]", "", "_".join(parts)) + ".csv"
    return Response(
        lines(),
        mimetype="text/csv",
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


section(
    _l("Utilisation"), "staff.utilisation_page",
    _l("Occupancy of desks, studios and rooms by week and hour, with an open-data CSV export."),
    order=60,
)
