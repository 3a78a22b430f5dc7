"""Table-driven tests of the pure booking rules: units, opening hours, holidays, DST, horizon,
entitlement, buffers, prices and credit, free ranges, alternatives and recurrence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from schiller40.booking.rules import (
    Credit,
    HeldDesk,
    Interval,
    KindPrice,
    LocationRules,
    Member,
    Overrides,
    Policy,
    ResourceRules,
    RuleViolation,
    TierRules,
    evaluate,
    free_ranges,
    nearest_fit,
    quote,
    recurrence,
    split_vat,
    subtract,
)
from schiller40.core.time import BERLIN
from schiller40.resources.models import BookingUnit, ResourceKind
from tests.helpers import SAT, SUN, TUE

LOCATION = LocationRules(
    tz=BERLIN,
    opening_hours={
        **{d: ((time(8), time(20)),) for d in range(5)},
        5: ((time(10), time(16)),),
    },
    closures=((date(2026, 12, 24), date(2027, 1, 1)),),
    holidays=frozenset({date(2026, 10, 3), date(2026, 10, 31), date(2026, 12, 25)}),
    half_day_split=time(13),
)
STUDIO = ResourceRules(
    id=1, kind=ResourceKind.STUDIO, unit=BookingUnit.SLOT_30, min_minutes=60,
    max_minutes=480, buffer_after_minutes=30, induction="ar-vr-studio",
)
ROOM = ResourceRules(
    id=2, kind=ResourceKind.ROOM, unit=BookingUnit.SLOT_30, min_minutes=30, max_minutes=480
)
DESK = ResourceRules(
    id=3, kind=ResourceKind.DESK, unit=BookingUnit.HALF_DAY, min_minutes=180, max_minutes=720
)
FIXED_DESK = ResourceRules(
    id=4, kind=ResourceKind.DESK, unit=BookingUnit.DAY, min_minutes=360, max_minutes=720
)
FLEX = TierRules(
    slug="flex", horizon_days=30, max_future_bookings=10, included_desk_days=8,
    included_studio_hours=2,
    prices={
        ResourceKind.DESK: KindPrice(half_day_cents=700, day_cents=1200),
        ResourceKind.STUDIO: KindPrice(hour_cents=3500),
        ResourceKind.ROOM: KindPrice(hour_cents=1200),
    },
)
DAY_PASS = TierRules(
    slug="day-pass", horizon_days=14, max_future_bookings=5, included_desk_days=0,
    included_studio_hours=0, prices={ResourceKind.DESK: KindPrice(None, 900, 1500)},
)
MEMBER = Member(tier=FLEX, inductions=frozenset({"ar-vr-studio"}))
# Staff booking for themselves (internal use).
STAFF = Member(tier=None, acting_staff=True, internal_use=True)
POLICY = Policy()
# Monday 23 November 2026, 09:00 local.
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return LOCATION.local(day, time(hh, mm))


def span(day: date, start: tuple[int, int], end: tuple[int, int]) -> Interval:
    return Interval(local(day, *start), local(day, *end))


def check(booked: Interval, **kw) -> object:
    args = dict(
        resource=STUDIO, location=LOCATION, member=MEMBER, credit=Credit(),
        occupied=(), blocks=(), policy=POLICY, now=NOW,
    )
    args.update(kw)
    return evaluate(booked, **args)


def code_of(booked: Interval, **kw) -> str | None:
    try:
        check(booked, **kw)
    except RuleViolation as exc:
        return exc.code
    return None




@pytest.mark.parametrize(
    ("booked", "resource", "expected"),
    [
        pytest.param(span(TUE, (10, 0), (12, 0)), STUDIO, None, id="studio-ok"),
        pytest.param(span(TUE, (10, 15), (12, 0)), STUDIO, "unaligned", id="studio-unaligned-start"),
        pytest.param(span(TUE, (10, 0), (11, 45)), STUDIO, "unaligned", id="studio-unaligned-end"),
        pytest.param(span(TUE, (10, 0), (10, 30)), STUDIO, "too_short", id="studio-below-min"),
        pytest.param(span(TUE, (8, 0), (16, 30)), STUDIO, "too_long", id="studio-above-max"),
        pytest.param(span(TUE, (10, 0), (10, 30)), ROOM, None, id="room-30-min"),
        pytest.param(span(TUE, (12, 0), (10, 0)), STUDIO, "invalid", id="end-before-start"),
        pytest.param(span(TUE, (7, 30), (9, 0)), STUDIO, "outside_opening_hours", id="before-opening"),
        pytest.param(span(TUE, (19, 0), (20, 0)), STUDIO, None, id="up-to-closing"),
        pytest.param(span(TUE, (19, 30), (20, 30)), STUDIO, "outside_opening_hours", id="past-closing"),
        pytest.param(span(SAT, (10, 0), (12, 0)), STUDIO, None, id="saturday-ok"),
        pytest.param(span(SAT, (15, 0), (17, 0)), STUDIO, "outside_opening_hours", id="saturday-late"),
        pytest.param(span(SUN, (10, 0), (12, 0)), STUDIO, "closed_day", id="sunday"),
        pytest.param(span(date(2026, 12, 25), (10, 0), (12, 0)), STUDIO, "holiday", id="christmas"),
        pytest.param(span(date(2026, 12, 28), (10, 0), (12, 0)), STUDIO, "closure", id="winter-break"),
        # desks: morning 08-13, afternoon 13-20, day 08-20; Saturday 10-13, 13-16, 10-16
        pytest.param(span(TUE, (8, 0), (13, 0)), DESK, None, id="desk-morning"),
        pytest.param(span(TUE, (13, 0), (20, 0)), DESK, None, id="desk-afternoon"),
        pytest.param(span(TUE, (8, 0), (20, 0)), DESK, None, id="desk-day"),
        pytest.param(span(TUE, (9, 0), (13, 0)), DESK, "unaligned", id="desk-odd-range"),
        pytest.param(span(TUE, (8, 0), (12, 30)), DESK, "unaligned", id="desk-short-morning"),
        pytest.param(span(SAT, (10, 0), (13, 0)), DESK, None, id="desk-saturday-morning"),
        pytest.param(span(SAT, (8, 0), (13, 0)), DESK, "unaligned", id="desk-saturday-weekday-hours"),
        pytest.param(span(TUE, (8, 0), (20, 0)), FIXED_DESK, None, id="fixed-desk-day"),
        pytest.param(span(TUE, (8, 0), (13, 0)), FIXED_DESK, "unaligned", id="fixed-desk-half"),
        pytest.param(span(SUN, (8, 0), (13, 0)), DESK, "closed_day", id="desk-sunday"),
    ],
)
def test_shape_and_opening_hours(booked, resource, expected):
    far_ahead = Member(tier=replace(FLEX, horizon_days=365), inductions=MEMBER.inductions)
    assert code_of(booked, resource=resource, member=far_ahead) == expected


def test_a_range_over_midnight_is_refused():
    booked = Interval(local(TUE, 19), local(date(2026, 11, 25), 9))
    assert code_of(booked, resource=ROOM) in ("too_long", "outside_opening_hours")


@pytest.mark.parametrize(
    ("booked", "member", "expected"),
    [
        pytest.param(span(date(2026, 11, 23), (8, 0), (9, 0)), MEMBER, "in_past", id="started"),
        pytest.param(span(date(2026, 11, 23), (10, 0), (11, 0)), MEMBER, "too_short_notice",
                     id="studio-within-2h-notice"),
        pytest.param(span(date(2026, 11, 23), (11, 0), (12, 0)), MEMBER, None,
                     id="studio-exactly-2h-ahead"),
        pytest.param(span(date(2026, 11, 23), (10, 0), (11, 0)), STAFF, None,
                     id="staff-ignore-notice"),
        pytest.param(span(date(2026, 11, 23), (8, 0), (9, 0)), STAFF, "in_past",
                     id="staff-cannot-book-the-past"),
        # horizon 30 days from 23 Nov 09:00 local: 23 Dec 09:00 is the last allowed start
        pytest.param(span(date(2026, 12, 23), (9, 0), (10, 0)), MEMBER, None, id="horizon-edge"),
        pytest.param(span(date(2026, 12, 23), (9, 30), (10, 30)), MEMBER, "beyond_horizon",
                     id="horizon-past-edge"),
        pytest.param(span(date(2026, 12, 23), (9, 30), (10, 30)), STAFF, None,
                     id="staff-no-horizon"),
    ],
)
def test_timing(booked, member, expected):
    assert code_of(booked, member=member) == expected


def test_desks_need_no_notice():
    today_afternoon = span(date(2026, 11, 23), (13, 0), (20, 0))
    assert code_of(today_afternoon, resource=DESK) is None


@pytest.mark.parametrize(
    ("resource", "member", "expected"),
    [
        pytest.param(STUDIO, MEMBER, None, id="inducted"),
        pytest.param(STUDIO, Member(tier=FLEX), "not_entitled", id="no-induction"),
        pytest.param(STUDIO, Member(tier=FLEX, inductions=frozenset({"broadcast-studio"})),
                     "not_entitled", id="other-induction"),
        pytest.param(STUDIO, Member(tier=DAY_PASS, inductions=frozenset({"ar-vr-studio"})),
                     "not_entitled", id="tier-without-studios"),
        pytest.param(ROOM, Member(tier=None), "not_entitled", id="no-membership"),
        pytest.param(STUDIO, STAFF, None, id="staff-without-induction"),
        pytest.param(ROOM, Member(tier=FLEX, future_bookings=10), "too_many_bookings",
                     id="quota-full"),
        pytest.param(ROOM, Member(tier=FLEX, future_bookings=9), None, id="quota-last-one"),
        pytest.param(ROOM, replace(STAFF, future_bookings=99), None,
                     id="staff-no-quota"),
    ],
)
def test_entitlement(resource, member, expected):
    booked = span(TUE, (10, 0), (11, 0))
    assert code_of(booked, resource=resource, member=member) == expected


def test_inactive_resource_is_not_found_even_for_staff():
    inactive = ResourceRules(**{**ROOM.__dict__, "active": False})
    assert code_of(span(TUE, (10, 0), (11, 0)), resource=inactive, member=STAFF) == "not_found"


def test_blocks_apply_unless_staff_override_them():
    booked = span(TUE, (10, 0), (12, 0))
    block = span(TUE, (11, 0), (15, 0))
    assert code_of(booked, blocks=[block]) == "blocked"
    assert code_of(booked, blocks=[block], member=STAFF) == "blocked"
    overrides = Overrides(blocks=True)
    assert code_of(booked, blocks=[block], member=STAFF, overrides=overrides) is None
    # members cannot use overrides
    assert code_of(booked, blocks=[block], overrides=overrides) == "blocked"


def test_opening_hours_override_is_for_staff_only():
    evening = span(TUE, (20, 0), (22, 0))
    overrides = Overrides(opening_hours=True)
    assert code_of(evening, member=STAFF) == "outside_opening_hours"
    assert code_of(evening, member=STAFF, overrides=overrides) is None
    assert code_of(evening, overrides=overrides) == "outside_opening_hours"


@pytest.mark.parametrize(
    ("booked", "expected"),
    [
        pytest.param(span(TUE, (11, 0), (12, 0)), "conflict", id="overlap"),
        pytest.param(span(TUE, (12, 0), (13, 0)), "conflict", id="starts-in-cleanup"),
        pytest.param(span(TUE, (12, 30), (13, 30)), None, id="after-buffer"),
        pytest.param(span(TUE, (8, 0), (9, 30)), None, id="before-with-own-buffer-touching"),
        pytest.param(span(TUE, (8, 0), (10, 0)), "conflict", id="own-buffer-overlaps"),
    ],
)
def test_buffers(booked, expected):
    # an existing booking 10:00-12:00 whose cleanup blocks until 12:30
    existing = STUDIO.blocked(span(TUE, (10, 0), (12, 0)))
    assert code_of(booked, occupied=[existing]) == expected


def test_staff_can_never_override_an_overlap():
    booked = span(TUE, (10, 0), (12, 0))
    everything = Overrides(opening_hours=True, blocks=True)
    assert code_of(booked, occupied=[booked], member=STAFF, overrides=everything) == "conflict"


# --- the desk limit -------------------------------------------------------------------------

MORNING = span(TUE, (8, 0), (13, 0))
AFTERNOON = span(TUE, (13, 0), (20, 0))
WHOLE_DAY = span(TUE, (8, 0), (20, 0))


def refusal(booked: Interval, **kw) -> RuleViolation:
    with pytest.raises(RuleViolation) as exc_info:
        check(booked, resource=DESK, **kw)
    return exc_info.value


def test_a_second_desk_at_the_same_time_is_refused_with_the_clashing_booking():
    held = [HeldDesk(MORNING, booking_id=17)]
    violation = refusal(WHOLE_DAY, own_desks=held)
    assert violation.code == "desk_limit"
    assert violation.field == "start"
    assert violation.params == {
        "limit": 1, "booking_id": 17,
        "booking_start": MORNING.start.astimezone(BERLIN).isoformat(),
        "booking_end": MORNING.end.astimezone(BERLIN).isoformat(),
    }
    # The other half of the day touches the morning without overlapping it.
    assert code_of(AFTERNOON, resource=DESK, own_desks=held) is None


def test_the_desk_limit_counts_desks_at_one_moment_not_overlaps():
    two = Policy(max_concurrent_desks=2)
    halves = [HeldDesk(MORNING, 1), HeldDesk(AFTERNOON, 2)]
    # A morning and an afternoon are one desk at a time: a whole day beside them makes two.
    assert code_of(WHOLE_DAY, resource=DESK, own_desks=halves, policy=two) is None
    # Two desks all morning already: a third refused, with the limit in the details.
    crowded = [HeldDesk(WHOLE_DAY, 3), HeldDesk(MORNING, 4)]
    violation = refusal(MORNING, own_desks=crowded, policy=two)
    assert (violation.code, violation.params["limit"]) == ("desk_limit", 2)
    assert violation.params["booking_id"] == 4  # the earliest to start (then to end)
    assert code_of(AFTERNOON, resource=DESK, own_desks=crowded, policy=two) is None


def test_a_desk_of_the_same_request_counts_and_has_no_id():
    violation = refusal(MORNING, own_desks=[HeldDesk(WHOLE_DAY)])
    assert violation.code == "desk_limit"
    assert "booking_id" not in violation.params


def test_the_desk_limit_is_about_desks_only():
    desk_all_day = [HeldDesk(WHOLE_DAY, 1)]
    assert code_of(span(TUE, (10, 0), (12, 0)), resource=STUDIO, own_desks=desk_all_day) is None
    assert code_of(span(TUE, (10, 0), (11, 0)), resource=ROOM, own_desks=desk_all_day) is None


def test_staff_may_override_the_desk_limit_members_may_not():
    held = [HeldDesk(MORNING, 1)]
    override = Overrides(desk_limit=True)
    assert code_of(WHOLE_DAY, resource=DESK, own_desks=held, member=STAFF) == "desk_limit"
    assert code_of(WHOLE_DAY, resource=DESK, own_desks=held, member=STAFF,
                   overrides=override) is None
    assert code_of(WHOLE_DAY, resource=DESK, own_desks=held, overrides=override) == "desk_limit"


def test_the_desk_limit_is_named_before_a_conflict():
    """The same answer from every desk, so "any free desk" says "you have one" rather than
    "all taken" when the member's own desk is among the taken ones."""
    held = [HeldDesk(MORNING, 1)]
    assert code_of(MORNING, resource=DESK, own_desks=held, occupied=[MORNING]) == "desk_limit"


# --- staff booking for a member: the member's rules, except what staff override ----------------

NO_TIER = Member(tier=None, acting_staff=True)  # staff acting for a member without membership
FLEX_UNTRAINED = Member(tier=FLEX, acting_staff=True)  # Flex, no induction
LIST_STUDIO = replace(STUDIO, list_price=KindPrice(hour_cents=6000))


@pytest.mark.parametrize(
    ("booked", "resource", "member", "overrides", "expected"),
    [
        pytest.param(span(TUE, (10, 0), (11, 0)), ROOM, NO_TIER, Overrides(), "not_entitled",
                     id="no-membership-refused"),
        pytest.param(span(TUE, (10, 0), (11, 0)), ROOM, NO_TIER, Overrides(membership=True),
                     None, id="no-membership-overridden"),
        pytest.param(span(TUE, (10, 0), (11, 0)), STUDIO, NO_TIER, Overrides(membership=True),
                     "not_entitled", id="no-membership-still-needs-induction"),
        pytest.param(span(TUE, (10, 0), (11, 0)), STUDIO, NO_TIER,
                     Overrides(membership=True, induction=True), None,
                     id="no-membership-and-induction-overridden"),
        pytest.param(span(TUE, (10, 0), (11, 0)), STUDIO, FLEX_UNTRAINED, Overrides(),
                     "not_entitled", id="induction-refused"),
        pytest.param(span(TUE, (10, 0), (11, 0)), STUDIO, FLEX_UNTRAINED,
                     Overrides(induction=True), None, id="induction-overridden"),
        pytest.param(span(TUE, (10, 0), (11, 0)), STUDIO,
                     Member(tier=DAY_PASS, acting_staff=True, inductions=frozenset({"ar-vr-studio"})),
                     Overrides(), "not_entitled", id="tier-without-kind-refused"),
        pytest.param(span(TUE, (10, 0), (11, 0)), STUDIO,
                     Member(tier=DAY_PASS, acting_staff=True, inductions=frozenset({"ar-vr-studio"})),
                     Overrides(membership=True), None, id="tier-without-kind-overridden"),
        pytest.param(span(TUE, (10, 0), (11, 0)), ROOM,
                     Member(tier=FLEX, acting_staff=True, future_bookings=10), Overrides(),
                     "too_many_bookings", id="quota-refused"),
        pytest.param(span(TUE, (10, 0), (11, 0)), ROOM,
                     Member(tier=FLEX, acting_staff=True, future_bookings=10),
                     Overrides(quota=True), None, id="quota-overridden"),
        pytest.param(span(date(2027, 1, 5), (10, 0), (11, 0)), ROOM,
                     Member(tier=FLEX, acting_staff=True), Overrides(), "beyond_horizon",
                     id="horizon-refused"),
        pytest.param(span(date(2027, 1, 5), (10, 0), (11, 0)), ROOM,
                     Member(tier=FLEX, acting_staff=True), Overrides(quota=True), None,
                     id="horizon-is-part-of-quota"),
        pytest.param(span(SUN, (10, 0), (11, 0)), ROOM, Member(tier=FLEX, acting_staff=True),
                     Overrides(), "closed_day", id="sunday-refused"),
        pytest.param(span(SUN, (10, 0), (11, 0)), ROOM, Member(tier=FLEX, acting_staff=True),
                     Overrides(opening_hours=True), None, id="sunday-with-hours-override"),
        pytest.param(span(date(2026, 12, 25), (10, 0), (11, 0)), ROOM,
                     Member(tier=FLEX, acting_staff=True, future_bookings=0),
                     Overrides(opening_hours=True), "beyond_horizon",
                     id="hours-override-lifts-holiday-but-not-horizon"),
        pytest.param(span(date(2026, 11, 23), (9, 30), (10, 30)), STUDIO,
                     Member(tier=FLEX, acting_staff=True, inductions=frozenset({"ar-vr-studio"})),
                     Overrides(), None, id="staff-need-no-notice"),
    ],
)
def test_staff_for_a_member_are_bound_by_the_members_rules(
    booked, resource, member, overrides, expected
):
    assert code_of(booked, resource=resource, member=member, overrides=overrides) == expected


def test_holiday_lifted_by_the_hours_override():
    member = Member(tier=replace(FLEX, horizon_days=60), acting_staff=True)
    christmas = span(date(2026, 12, 25), (10, 0), (11, 0))
    assert code_of(christmas, resource=ROOM, member=member) == "holiday"
    assert code_of(christmas, resource=ROOM, member=member,
                   overrides=Overrides(opening_hours=True)) is None


@pytest.mark.parametrize("name", ["membership", "induction", "quota"])
def test_members_cannot_use_the_new_overrides(name):
    untrained_full = Member(tier=FLEX, future_bookings=10)
    overrides = Overrides(**{name: True})
    assert code_of(span(TUE, (10, 0), (11, 0)), resource=STUDIO, member=untrained_full,
                   overrides=overrides) is not None
    assert code_of(span(TUE, (10, 0), (11, 0)), resource=ROOM, member=Member(tier=None),
                   overrides=Overrides(membership=True)) == "not_entitled"


def test_no_membership_override_is_priced_at_the_list_price_without_credit():
    member = Member(tier=None, acting_staff=True)
    q = check(span(TUE, (10, 0), (12, 0)), resource=LIST_STUDIO, member=member,
              credit=Credit(minutes=600), overrides=Overrides(membership=True, induction=True))
    assert (q.gross_cents, q.credit_minutes) == (12000, 0)
    assert q.net_cents + q.tax_cents == 12000
    # a tier without the kind pays the list price too, not the tier's other prices
    day_pass = Member(tier=DAY_PASS, acting_staff=True, inductions=frozenset({"ar-vr-studio"}))
    q = check(span(TUE, (10, 0), (11, 0)), resource=LIST_STUDIO, member=day_pass,
              overrides=Overrides(membership=True))
    assert q.gross_cents == 6000
    # no list price known (no active tier sells the kind): nothing to pay, said in the docs
    q = check(span(TUE, (10, 0), (11, 0)), resource=STUDIO, member=member,
              overrides=Overrides(membership=True, induction=True))
    assert q.gross_cents == 0


def test_staff_internal_use_stays_free_and_unbound():
    q = check(span(TUE, (10, 0), (12, 0)), resource=LIST_STUDIO, member=STAFF)
    assert q.gross_cents == 0


def test_member_price_and_credit_apply_when_staff_book_for_them():
    member = replace(MEMBER, acting_staff=True)
    q = check(span(TUE, (10, 0), (12, 0)), resource=LIST_STUDIO, member=member,
              credit=Credit(minutes=60), overrides=Overrides(membership=True))
    assert (q.gross_cents, q.credit_minutes) == (3500, 60)


def test_overrides_list_what_they_set_aside():
    assert Overrides().used == ()
    every = Overrides(True, True, True, True, True, True)
    assert every.used == ("membership", "induction", "quota", "opening_hours", "blocks",
                          "desk_limit")
    assert Overrides(desk_limit=True).used == ("desk_limit",)


# --- DST ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "utc_start", "utc_end"),
    [
        pytest.param(date(2026, 3, 30), datetime(2026, 3, 30, 7, tzinfo=UTC),
                     datetime(2026, 3, 30, 9, tzinfo=UTC), id="after-spring-change"),
        pytest.param(date(2026, 10, 26), datetime(2026, 10, 26, 8, tzinfo=UTC),
                     datetime(2026, 10, 26, 10, tzinfo=UTC), id="after-autumn-change"),
    ],
)
def test_nine_to_eleven_local_is_two_hours_at_the_right_instants(day, utc_start, utc_end):
    booked = span(day, (9, 0), (11, 0))
    assert (booked.start, booked.end) == (utc_start, utc_end)
    assert booked.duration == timedelta(hours=2)
    now = booked.start - timedelta(days=3)
    assert code_of(booked, resource=ROOM, now=now) is None


@pytest.mark.parametrize("day", [date(2026, 3, 29), date(2026, 10, 25), date(2027, 3, 28)])
def test_clock_change_sundays_are_handled_by_a_location_open_on_sundays(day):
    always_open = LocationRules(
        tz=BERLIN, opening_hours={d: ((time(0), time(23, 30)),) for d in range(7)}
    )
    booked = Interval(always_open.local(day, time(9)), always_open.local(day, time(11)))
    assert booked.duration == timedelta(hours=2)
    offset = booked.start.astimezone(BERLIN).utcoffset()
    assert offset == timedelta(hours=2 if day.month in (3,) else 1)
    now = booked.start - timedelta(days=1)
    assert code_of(booked, resource=ROOM, location=always_open, now=now) is None
    # the desk units of such a day also have the right lengths
    units = always_open.desk_units(day)
    assert units["morning"].duration == (
        timedelta(hours=12) if day.month == 3 else timedelta(hours=14)
    )


def test_weekly_series_keeps_local_time_across_the_autumn_change():
    first = span(date(2026, 10, 20), (9, 0), (11, 0))  # a Tuesday in summer time
    occurrences = recurrence(first, freq="weekly", count=3, location=LOCATION)
    assert [o.start.astimezone(BERLIN).time() for o in occurrences] == [time(9)] * 3
    assert [o.start.hour for o in occurrences] == [7, 8, 8]  # UTC shifts by an hour
    assert all(o.duration == timedelta(hours=2) for o in occurrences)


def test_daily_series_across_the_spring_change():
    first = span(date(2026, 3, 27), (9, 0), (11, 0))
    occurrences = recurrence(first, freq="daily", count=4, location=LOCATION)
    assert [o.start.astimezone(BERLIN).hour for o in occurrences] == [9, 9, 9, 9]
    assert [o.start.hour for o in occurrences] == [8, 8, 7, 7]


@pytest.mark.parametrize(("freq", "count"), [("monthly", 2), ("daily", 0), ("weekly", 13)])
def test_recurrence_limits(freq, count):
    with pytest.raises(RuleViolation) as exc_info:
        recurrence(span(TUE, (9, 0), (10, 0)), freq=freq, count=count, location=LOCATION)
    assert exc_info.value.code == "invalid"


# --- price and credit ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gross", "net", "tax"),
    [(1190, 1000, 190), (1200, 1008, 192), (0, 0, 0), (1, 1, 0), (3500, 2941, 559), (700, 588, 112)],
)
def test_vat_split(gross, net, tax):
    assert split_vat(gross, 19) == (net, tax)
    assert net + tax == gross


@pytest.mark.parametrize(
    ("booked", "resource", "credit", "gross", "credit_half_days", "credit_minutes"),
    [
        pytest.param(span(TUE, (8, 0), (13, 0)), DESK, Credit(), 700, 0, 0, id="half-day-paid"),
        pytest.param(span(TUE, (8, 0), (20, 0)), DESK, Credit(), 1200, 0, 0, id="day-paid"),
        pytest.param(span(TUE, (8, 0), (20, 0)), DESK, Credit(half_days=4), 0, 2, 0,
                     id="day-from-credit"),
        pytest.param(span(TUE, (8, 0), (20, 0)), DESK, Credit(half_days=1), 700, 1, 0,
                     id="day-half-credit"),
        pytest.param(span(TUE, (13, 0), (20, 0)), DESK, Credit(half_days=1), 0, 1, 0,
                     id="afternoon-from-credit"),
        pytest.param(span(TUE, (10, 0), (12, 0)), STUDIO, Credit(), 7000, 0, 0, id="studio-2h"),
        pytest.param(span(TUE, (10, 0), (11, 30)), STUDIO, Credit(), 5250, 0, 0,
                     id="studio-90min"),
        pytest.param(span(TUE, (10, 0), (12, 0)), STUDIO, Credit(minutes=60), 3500, 0, 60,
                     id="studio-partly-included"),
        pytest.param(span(TUE, (10, 0), (12, 0)), STUDIO, Credit(minutes=600), 0, 0, 120,
                     id="studio-included"),
        pytest.param(span(TUE, (10, 0), (11, 0)), ROOM, Credit(minutes=600, half_days=9), 1200,
                     0, 0, id="room-never-from-credit"),
    ],
)
def test_quote(booked, resource, credit, gross, credit_half_days, credit_minutes):
    q = quote(booked, resource, LOCATION, MEMBER, credit, POLICY)
    assert q.gross_cents == gross
    assert q.net_cents + q.tax_cents == q.gross_cents
    assert (q.credit_half_days, q.credit_minutes) == (credit_half_days, credit_minutes)


def test_staff_without_tier_book_for_free():
    q = quote(span(TUE, (10, 0), (12, 0)), STUDIO, LOCATION, STAFF, Credit(), POLICY)
    assert q.gross_cents == 0


# --- free ranges and alternatives -------------------------------------------------------------


def test_subtract():
    base = [span(TUE, (8, 0), (20, 0))]
    cuts = [span(TUE, (10, 0), (12, 0)), span(TUE, (15, 0), (16, 0))]
    assert subtract(base, cuts) == [
        span(TUE, (8, 0), (10, 0)), span(TUE, (12, 0), (15, 0)), span(TUE, (16, 0), (20, 0))
    ]


def test_free_ranges_of_a_studio_respect_buffers_blocks_and_notice():
    occupied = [STUDIO.blocked(span(TUE, (10, 0), (12, 0)))]  # blocks until 12:30
    blocks = [span(TUE, (16, 0), (17, 0))]
    free = free_ranges(
        TUE, resource=STUDIO, location=LOCATION, occupied=occupied, blocks=blocks,
        not_before=local(TUE, 8, 10),
    )
    # 08:10 rounds up to 08:30; a new booking must end by 09:30 so its cleanup ends by 10:00
    assert free == [
        span(TUE, (8, 30), (9, 30)), span(TUE, (12, 30), (16, 0)), span(TUE, (17, 0), (20, 0))
    ]


def test_free_ranges_of_a_desk_are_units():
    occupied = [span(TUE, (8, 0), (13, 0))]
    free = free_ranges(
        TUE, resource=DESK, location=LOCATION, occupied=occupied, blocks=[], not_before=NOW
    )
    assert free == [span(TUE, (13, 0), (20, 0))]


def test_nearest_fit_prefers_the_closest_start_and_later_on_ties():
    wanted = span(TUE, (10, 0), (12, 0))
    free = [span(TUE, (8, 0), (9, 0)), span(TUE, (6, 0), (8, 0)), span(TUE, (12, 30), (20, 0))]
    assert nearest_fit(wanted, free) == span(TUE, (12, 30), (14, 30))
    wanted = span(TUE, (9, 0), (10, 0))
    free = [span(TUE, (8, 0), (8, 30)), span(TUE, (7, 0), (8, 0)), span(TUE, (10, 0), (11, 0))]
    assert nearest_fit(wanted, free) == span(TUE, (10, 0), (11, 0))
    assert nearest_fit(span(TUE, (9, 0), (12, 0)), [span(TUE, (13, 0), (14, 0))]) is None
