"""Utilisation numbers, exactly, on hand-made data: hours spanned, clipping to opening hours,
both clock changes, and which bookings count (confirmed only, without buffers)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import event

from schiller40.booking.rules import Interval, LocationRules
from schiller40.core.time import BERLIN
from schiller40.extensions import db
from schiller40.models import BookingStatus, ResourceKind
from schiller40.reports.utilisation import (
    CSV_COLUMNS,
    Cell,
    ResourceInfo,
    WeekRange,
    compute,
    csv_rows,
    default_range,
    merge,
    utilisation,
)
from tests.helpers import at


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


WEEKDAYS_8_TO_20 = {d: ((time(8), time(20)),) for d in range(5)}
NIGHT_SUNDAY = {6: ((time(1), time(4)),)}  # open across the clock change, to test it
RULES = LocationRules(tz=BERLIN, opening_hours={**WEEKDAYS_8_TO_20, **NIGHT_SUNDAY})
STUDIO = ResourceInfo(1, "studio", "Studio", ResourceKind.STUDIO, "Studios", 1)
DESK = ResourceInfo(2, "desk-a1", "Desk A1", ResourceKind.DESK, "Open Space A", 1)
OCTOBER = WeekRange((2026, 43), (2026, 43))  # 19-25 Oct 2026; summer time ends on the 25th


def cells_by_hour(report, resource_id: int, day: date) -> dict[int, tuple[int, int]]:
    return {
        row.hour: (row.cell.open_minutes, row.cell.booked_minutes)
        for row in report.rows if row.resource.id == resource_id and row.day == day
    }


# --- pure ---------------------------------------------------------------------------------------


def test_week_range_and_the_default_of_eight_full_weeks():
    r = default_range(date(2026, 11, 23))  # a Monday: week 48 has just begun
    assert (r.first, r.last) == ((2026, 40), (2026, 47))
    assert r.first_day == date(2026, 9, 28) and r.last_day == date(2026, 11, 22)
    assert r.week_count == 8 and len(r.days()) == 56
    assert r.weeks()[0] == (2026, 40) and r.weeks()[-1] == (2026, 47)
    over_new_year = WeekRange((2026, 52), (2027, 2))
    assert over_new_year.weeks() == [(2026, 52), (2026, 53), (2027, 1), (2027, 2)]
    with pytest.raises(ValueError):
        WeekRange((2026, 5), (2026, 4))


def test_a_booking_spanning_hours_is_split_and_time_outside_opening_is_clipped():
    booked = {STUDIO.id: [
        # Monday 19 Oct, summer time (UTC+2): 09:30-11:15 local
        Interval(utc(2026, 10, 19, 7, 30), utc(2026, 10, 19, 9, 15)),
        # 19:00-21:00 local: the hour after closing is not counted
        Interval(utc(2026, 10, 19, 17), utc(2026, 10, 19, 19)),
    ]}
    report = compute(OCTOBER, [STUDIO], {1: RULES}, booked)
    monday = cells_by_hour(report, STUDIO.id, date(2026, 10, 19))
    assert monday[8] == (60, 0)
    assert monday[9] == (60, 30)
    assert monday[10] == (60, 60)
    assert monday[11] == (60, 15)
    assert monday[19] == (60, 60)
    assert 20 not in monday  # closed: no open time, no row
    assert sum(b for _o, b in monday.values()) == 165
    assert report.heatmap[(0, 9)].percent == 50.0


def test_the_last_sunday_of_october_has_the_hour_from_two_to_three_twice():
    # Open 01:00 summer time (23:00 UTC Saturday) to 04:00 winter time (03:00 UTC): 4 hours.
    booked = {STUDIO.id: [Interval(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30))]}
    report = compute(OCTOBER, [STUDIO], {1: RULES}, booked)
    sunday = cells_by_hour(report, STUDIO.id, date(2026, 10, 25))
    assert sunday == {1: (60, 0), 2: (120, 60), 3: (60, 0)}
    assert report.heatmap[(6, 2)].percent == 50.0
    # The week: five days of 12 hours and the 4-hour Sunday night.
    assert report.by_resource[STUDIO.id].open_minutes == 5 * 720 + 240
    assert report.by_resource[STUDIO.id].booked_minutes == 60


def test_the_last_sunday_of_march_has_no_hour_from_two_to_three():
    march = WeekRange((2026, 13), (2026, 13))  # 23-29 March; summer time starts on the 29th
    booked = {STUDIO.id: [Interval(utc(2026, 3, 29, 0), utc(2026, 3, 29, 2))]}  # all of it
    report = compute(march, [STUDIO], {1: RULES}, booked)
    assert cells_by_hour(report, STUDIO.id, date(2026, 3, 29)) == {1: (60, 60), 3: (60, 60)}
    assert report.heatmap[(6, 3)].percent == 100.0


def test_sums_per_week_kind_resource_and_total_agree():
    booked = {
        STUDIO.id: [Interval(utc(2026, 10, 19, 7, 30), utc(2026, 10, 19, 9, 15))],  # 105 min
        DESK.id: [Interval(utc(2026, 10, 20, 6), utc(2026, 10, 20, 18))],  # Tuesday, all day
    }
    report = compute(OCTOBER, [STUDIO, DESK], {1: RULES}, booked)
    week = (2026, 43)
    open_week = 5 * 720 + 240
    assert report.kinds == [ResourceKind.DESK, ResourceKind.STUDIO]
    assert report.by_week_kind[ResourceKind.STUDIO][week].booked_minutes == 105
    assert report.by_week_kind[ResourceKind.DESK][week].booked_minutes == 720
    assert report.by_week_kind[ResourceKind.DESK][week].open_minutes == open_week
    assert report.by_kind[ResourceKind.DESK].percent == round(100 * 720 / open_week, 1) == 18.8
    assert report.total.open_minutes == 2 * open_week
    assert report.total.booked_minutes == 825
    assert report.total.percent == 10.7
    assert report.weekdays == [0, 1, 2, 3, 4, 6]
    assert report.hours == list(range(1, 20))


def test_overlapping_ranges_are_not_counted_twice():
    assert merge([
        Interval(utc(2026, 1, 1, 9), utc(2026, 1, 1, 11)),
        Interval(utc(2026, 1, 1, 10), utc(2026, 1, 1, 12)),
        Interval(utc(2026, 1, 1, 13), utc(2026, 1, 1, 14)),
    ]) == [Interval(utc(2026, 1, 1, 9), utc(2026, 1, 1, 12)),
           Interval(utc(2026, 1, 1, 13), utc(2026, 1, 1, 14))]


def test_holidays_and_closures_have_no_open_time():
    rules = LocationRules(tz=BERLIN, opening_hours=WEEKDAYS_8_TO_20,
                          closures=((date(2026, 10, 20), date(2026, 10, 21)),),
                          holidays=frozenset({date(2026, 10, 22)}))
    booked = {STUDIO.id: [Interval(utc(2026, 10, 20, 8), utc(2026, 10, 20, 10))]}
    report = compute(OCTOBER, [STUDIO], {1: rules}, booked)
    assert report.by_resource[STUDIO.id].open_minutes == 2 * 720  # Monday and Friday
    assert report.by_resource[STUDIO.id].booked_minutes == 0


def test_a_cell_without_open_time_has_no_percentage():
    assert Cell().percent is None
    assert Cell(open_seconds=3600, booked_seconds=1200).percent == 33.3


def test_csv_rows_are_plain_values_with_iso_dates_and_weekdays():
    booked = {STUDIO.id: [Interval(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30))]}
    report = compute(OCTOBER, [STUDIO], {1: RULES}, booked)
    rows = list(csv_rows(report))
    assert len(CSV_COLUMNS) == len(rows[0])
    assert ("studio", "Studio", "studio", "Studios", 2026, 43, "2026-10-25", 7, 2, 120, 60,
            "50.0") in rows
    assert ("studio", "Studio", "studio", "Studios", 2026, 43, "2026-10-19", 1, 8, 60, 0,
            "0.0") in rows
    assert len(rows) == 5 * 12 + 3


# --- from the database ------------------------------------------------------------------------

NOVEMBER = WeekRange((2026, 45), (2026, 45))  # 2-8 Nov 2026, winter time (UTC+1), no holiday
MONDAY = date(2026, 11, 2)


@pytest.fixture
def booked_place(place, factory):
    """One week of bookings of every status (the factory's location: Mon-Fri 8-20, Sat 10-16)."""
    studio, room, desk = place.studio, place.room, place.desks[0]
    mia = place.member
    factory.booking(resource=studio, user=mia, starts_at=at(MONDAY, 10),
                    duration=timedelta(hours=1))  # the 30-minute cleanup buffer is not use
    factory.booking(resource=studio, user=mia, starts_at=at(MONDAY + timedelta(1), 10),
                    status=BookingStatus.CANCELLED)
    factory.booking(resource=studio, user=mia, starts_at=at(MONDAY + timedelta(2), 10),
                    status=BookingStatus.HELD)
    factory.booking(resource=studio, user=mia, starts_at=at(MONDAY + timedelta(3), 10),
                    status=BookingStatus.EXPIRED)
    factory.booking(resource=desk, user=mia, starts_at=at(MONDAY, 8),
                    duration=timedelta(hours=12))
    # Saturday 15:00-17:00; the location closes at 16:00
    factory.booking(resource=room, user=mia, starts_at=at(MONDAY + timedelta(5), 15))
    db.session.commit()
    return place


def test_only_confirmed_bookings_count_and_buffers_do_not(booked_place):
    report = utilisation(db.session, NOVEMBER)
    open_week = 5 * 720 + 360
    studio = report.by_resource[booked_place.studio.id]
    assert (studio.open_minutes, studio.booked_minutes) == (open_week, 60)
    monday = cells_by_hour(report, booked_place.studio.id, MONDAY)
    assert monday[10] == (60, 60) and monday[11] == (60, 0)
    assert report.by_resource[booked_place.desks[0].id].booked_minutes == 720
    assert report.by_resource[booked_place.room.id].booked_minutes == 60  # clipped at 16:00
    assert report.by_resource[booked_place.desks[1].id].booked_minutes == 0
    assert len(report.resources) == 6
    assert report.total.booked_minutes == 840
    assert report.total.open_minutes == 6 * open_week


def test_filters_by_kind_and_by_resource(booked_place):
    desks = utilisation(db.session, NOVEMBER, kind=ResourceKind.DESK)
    assert [r.slug for r in desks.resources] == ["desk-a1", "desk-a2", "desk-b1", "desk-b2"]
    assert desks.kinds == [ResourceKind.DESK]
    assert desks.by_kind[ResourceKind.DESK].percent == round(100 * 720 / (4 * 3960), 1)
    one = utilisation(db.session, NOVEMBER, resource_id=booked_place.studio.id)
    assert [r.slug for r in one.resources] == ["studio"]


def test_an_inactive_resource_appears_only_with_bookings(booked_place, factory):
    booked_place.desks[0].is_active = False
    booked_place.desks[1].is_active = False
    db.session.commit()
    slugs = [r.slug for r in utilisation(db.session, NOVEMBER).resources]
    assert "desk-a1" in slugs and "desk-a2" not in slugs


def test_the_report_reads_the_database_a_fixed_number_of_times(booked_place, factory):
    statements: list[str] = []

    def count(*args, **kwargs):
        statements.append(args[2])

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        utilisation(db.session, NOVEMBER)
        few = len(statements)
        for day in range(3):
            for resource in booked_place.desks[1:]:
                factory.booking(resource=resource, starts_at=at(MONDAY + timedelta(day), 8))
        db.session.commit()
        statements.clear()
        utilisation(db.session, NOVEMBER)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == few <= 6  # resources, bookings, locations + 2 loads
    # Anonymous by construction: nothing about people is even read.
    assert not any("user" in s.lower() for s in statements)
