"""Resource, opening-hours and closure administration (venue/admin.py): what is
validated, what is written, what is audited, and that the booking engine follows."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time, timedelta

import pytest
from sqlalchemy import select

from schiller40.booking.create import create_bookings
from schiller40.booking.errors import BookingError
from schiller40.booking.requests import BookingRequest
from schiller40.booking.snapshots import location_rules
from schiller40.errors import InvalidInput, NotFound
from schiller40.extensions import db
from schiller40.models import (
    AuditEntry,
    BookingUnit,
    Closure,
    OpeningHours,
    Resource,
    ResourceKind,
)
from schiller40.venue import admin


def _room(**kw) -> admin.ResourceData:
    values = dict(
        slug="room-2", name="Raum 2", kind=ResourceKind.ROOM, booking_unit=BookingUnit.SLOT_30,
        zone="Meeting rooms", capacity=6, min_duration_minutes=30, max_duration_minutes=240,
    )
    values.update(kw)
    return admin.ResourceData(**values)


def _audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_create_resource_writes_the_row_and_an_audit_entry(place, clock):
    resource = admin.create_resource(
        db.session, data=_room(induction=" ", zone="  "), actor=place.staff, now=clock()
    )
    assert resource.location_id == place.location.id
    assert (resource.slug, resource.capacity, resource.zone, resource.induction) == (
        "room-2", 6, None, None)
    [entry] = _audit("resource.created")
    assert entry.actor_id == place.staff.id
    assert entry.details == {"slug": "room-2", "kind": "room", "name": "Raum 2"}


@pytest.mark.parametrize(("changes", "field"), [
    ({"slug": "Room 2"}, "slug"),
    ({"slug": "room--2"}, "slug"),
    ({"slug": ""}, "slug"),
    ({"slug": "studio"}, "slug"),  # taken by the place's studio
    ({"name": "  "}, "name"),
    ({"capacity": 0}, "capacity"),
    ({"min_duration_minutes": 0}, "min_duration_minutes"),
    ({"min_duration_minutes": 45}, "min_duration_minutes"),
    ({"min_duration_minutes": 120, "max_duration_minutes": 60}, "max_duration_minutes"),
    ({"max_duration_minutes": 1500}, "max_duration_minutes"),
    ({"buffer_before_minutes": -5}, "buffer_before_minutes"),
    ({"buffer_after_minutes": 600}, "buffer_after_minutes"),
    ({"booking_unit": BookingUnit.HALF_DAY}, "booking_unit"),
    ({"induction": "AR VR"}, "induction"),
    ({"position": -1}, "position"),
    ({"kind": ResourceKind.DESK, "booking_unit": BookingUnit.HALF_DAY,
      "buffer_after_minutes": 30}, "buffer_after_minutes"),
    ({"kind": ResourceKind.DESK, "booking_unit": BookingUnit.DAY,
      "feed_for_members": True}, "feed_for_members"),
])
def test_invalid_resources_are_refused_with_a_field_message(place, clock, changes, field):
    count = db.session.scalar(select(db.func.count()).select_from(Resource))
    with pytest.raises(InvalidInput) as caught:
        admin.create_resource(db.session, data=_room(**changes), actor=place.staff, now=clock())
    assert field in caught.value.fields, caught.value.fields
    assert all(caught.value.fields[field])
    assert db.session.scalar(select(db.func.count()).select_from(Resource)) == count
    assert _audit("resource.created") == []


def test_a_slug_taken_meanwhile_is_a_field_message(place, clock, monkeypatch):
    """Two staff add a resource under the same short name at once: the second's look found
    it free (simulated), the unique slug refuses its insert, and the form says why."""
    monkeypatch.setattr(admin, "_slug_taken", lambda session, model, slug: False)
    before = db.session.scalars(select(Resource.id)).all()
    with pytest.raises(InvalidInput) as refused:
        admin.create_resource(db.session, data=_room(slug=place.room.slug), actor=place.staff,
                              now=clock())
    assert list(refused.value.fields) == ["slug"]
    assert db.session.scalars(select(Resource.id)).all() == before


def test_update_records_only_the_changed_fields(place, clock):
    studio = place.studio
    data = admin.ResourceData(
        slug="ignored", kind=ResourceKind.ROOM, name=studio.name,
        booking_unit=studio.booking_unit, zone=studio.zone, description=studio.description,
        capacity=studio.capacity, min_duration_minutes=studio.min_duration_minutes,
        max_duration_minutes=studio.max_duration_minutes, buffer_before_minutes=0,
        buffer_after_minutes=60, induction=studio.induction, requires_approval=True,
        feed_for_members=False, position=studio.position,
    )
    updated = admin.update_resource(
        db.session, resource_id=studio.id, data=data, actor=place.staff, now=clock()
    )
    assert updated.slug == "studio" and updated.kind is ResourceKind.STUDIO  # fixed
    assert (updated.buffer_after_minutes, updated.requires_approval) == (60, True)
    [entry] = _audit("resource.updated")
    assert entry.details == {"changed": {
        "buffer_after_minutes": [30, 60], "requires_approval": [False, True],
    }}
    # Saving the same again changes nothing and logs nothing new.
    admin.update_resource(db.session, resource_id=studio.id, data=data, actor=place.staff,
                          now=clock())
    assert len(_audit("resource.updated")) == 1


def test_changing_buffers_leaves_existing_bookings_alone(place, factory, clock):
    booking = factory.booking(resource=place.studio, user=place.member,
                              starts_at=clock() + timedelta(days=1, hours=2))
    db.session.commit()
    blocked = (booking.block_start, booking.block_end)
    data = _room(name=place.studio.name, booking_unit=BookingUnit.SLOT_30,
                 min_duration_minutes=60, max_duration_minutes=480, buffer_after_minutes=90,
                 induction="ar-vr-studio")
    admin.update_resource(db.session, resource_id=place.studio.id, data=data,
                          actor=place.staff, now=clock())
    db.session.refresh(booking)
    assert (booking.block_start, booking.block_end) == blocked


def test_update_of_a_missing_resource_is_not_found(place, clock):
    with pytest.raises(NotFound):
        admin.update_resource(db.session, resource_id=9999, data=_room(), actor=place.staff,
                              now=clock())


def test_deactivate_and_reactivate_are_audited_and_stop_booking(place, clock):
    desk = place.desks[0]
    admin.set_active(db.session, resource_id=desk.id, active=False, actor=place.staff,
                     now=clock())
    assert db.session.get(Resource, desk.id).is_active is False
    admin.set_active(db.session, resource_id=desk.id, active=True, actor=place.staff,
                     now=clock())
    assert [e.action for e in db.session.scalars(
        select(AuditEntry).where(AuditEntry.object_type == "resource").order_by(AuditEntry.id)
    )] == ["resource.deactivated", "resource.reactivated"]


def test_a_booked_resource_cannot_be_deleted_but_an_unused_one_can(place, factory, clock):
    factory.booking(resource=place.room, user=place.member)
    db.session.commit()
    with pytest.raises(InvalidInput):
        admin.delete_resource(db.session, resource_id=place.room.id, actor=place.staff,
                              now=clock())
    assert db.session.get(Resource, place.room.id) is not None
    admin.delete_resource(db.session, resource_id=place.desks[3].id, actor=place.staff,
                          now=clock())
    assert db.session.scalar(select(Resource).where(Resource.slug == "desk-b2")) is None
    assert _audit("resource.deleted")[0].details == {"slug": "desk-b2"}


# --- opening hours ----------------------------------------------------------------------------


def _week() -> dict[int, list[tuple[time, time]]]:
    hours = {d: [(time(8), time(20))] for d in range(5)}
    hours.update({5: [], 6: []})
    return hours


def test_set_opening_hours_replaces_the_week(place, clock):
    hours = _week()
    hours[2] = [(time(9), time(18))]
    hours[5] = [(time(10), time(14))]
    _location, outside = admin.set_opening_hours(
        db.session, location_id=place.location.id, hours=hours, half_day_split=time(12, 30),
        actor=place.staff, now=clock(),
    )
    assert outside == []
    rows = db.session.scalars(
        select(OpeningHours).where(OpeningHours.location_id == place.location.id)
        .order_by(OpeningHours.weekday, OpeningHours.opens)
    ).all()
    assert [(r.weekday, r.opens, r.closes) for r in rows if r.weekday in (2, 5, 6)] == [
        (2, time(9), time(18)), (5, time(10), time(14)),
    ]
    [entry] = _audit("location.hours_changed")
    assert entry.details["half_day_split"] == ["13:00:00", "12:30:00"]
    assert entry.details["opening_hours"][1]["5"] == ["10:00-14:00"]


@pytest.mark.parametrize("periods", [
    [(time(18), time(8))],
    [(time(9), time(9))],
    [(time(8), time(12)), (time(13), time(18))],  # a break would make desks unbookable
])
def test_invalid_opening_hours_change_nothing(place, clock, periods):
    with pytest.raises(InvalidInput) as caught:
        admin.set_opening_hours(db.session, location_id=place.location.id,
                                hours=_week() | {1: periods}, half_day_split=time(13),
                                actor=place.staff, now=clock())
    assert "day-1" in caught.value.fields
    rows = db.session.scalars(select(OpeningHours).where(OpeningHours.weekday == 1)).all()
    assert [(r.opens, r.closes) for r in rows] == [(time(8), time(20))]
    assert _audit("location.hours_changed") == []


def test_bookings_the_new_hours_no_longer_cover_are_listed(place, factory, clock):
    rules = location_rules(place.location, {2026})
    tuesday = factory.booking(resource=place.room, user=place.member,
                              starts_at=rules.local(date(2026, 11, 24), time(10)))
    evening = factory.booking(resource=place.studio, user=place.member,
                              starts_at=rules.local(date(2026, 11, 25), time(17)))
    factory.booking(resource=place.room, user=place.member,
                    starts_at=rules.local(date(2026, 11, 26), time(10)))
    db.session.commit()
    hours = _week()
    hours[1] = []  # Tuesday closed
    hours[2] = [(time(8), time(18))]  # Wednesday closes at 18:00, the studio ran to 19:00
    _location, outside = admin.set_opening_hours(
        db.session, location_id=place.location.id, hours=hours, half_day_split=time(13),
        actor=place.staff, now=clock(),
    )
    assert [b.id for b in outside] == [tuesday.id, evening.id]
    assert db.session.get(type(tuesday), tuesday.id).status.value == "confirmed"  # untouched


def test_a_day_closed_in_the_hours_is_refused_by_the_engine(place, clock):
    hours = _week()
    hours[1] = []  # Tuesday closed
    admin.set_opening_hours(db.session, location_id=place.location.id, hours=hours,
                            half_day_split=time(13), actor=place.staff, now=clock())
    tuesday = date(2026, 11, 24)
    rules = location_rules(place.location, {2026})
    assert rules.closed_reason(tuesday) == "closed_day"


# --- closures ---------------------------------------------------------------------------------


def test_add_and_remove_a_closure(place, clock):
    closure, affected = admin.add_closure(
        db.session, location_id=place.location.id, first_day=date(2026, 12, 28),
        last_day=date(2026, 12, 30), reason=" Winterpause ", actor=place.staff, now=clock(),
    )
    assert (closure.reason, affected) == ("Winterpause", [])
    [entry] = _audit("closure.created")
    assert entry.details["first_day"] == "2026-12-28"
    admin.remove_closure(db.session, closure_id=closure.id, actor=place.staff, now=clock())
    assert db.session.scalars(select(Closure)).all() == []
    assert _audit("closure.removed")[0].details["reason"] == "Winterpause"


@pytest.mark.parametrize(("first", "last", "reason", "field"), [
    (None, date(2026, 12, 1), "x", "first_day"),
    (date(2026, 12, 1), None, "x", "last_day"),
    (date(2026, 12, 2), date(2026, 12, 1), "x", "last_day"),
    (date(2026, 11, 1), date(2026, 11, 2), "x", "last_day"),  # already over
    (date(2026, 12, 1), date(2028, 12, 1), "x", "last_day"),
    (date(9999, 12, 30), date(9999, 12, 31), "x", "last_day"),  # no overflow, an error
    (date(2026, 12, 1), date(2026, 12, 1), "  ", "reason"),
    (date(2026, 12, 1), date(2026, 12, 1), "x" * 201, "reason"),
    (date(2026, 12, 23), date(2026, 12, 24), "x", "first_day"),  # overlaps the one below
])
def test_invalid_closures_are_refused(place, factory, clock, first, last, reason, field):
    place.location.closures.append(
        Closure(first_day=date(2026, 12, 24), last_day=date(2026, 12, 26), reason="Weihnachten")
    )
    db.session.commit()
    with pytest.raises(InvalidInput) as caught:
        admin.add_closure(db.session, location_id=place.location.id, first_day=first,
                          last_day=last, reason=reason, actor=place.staff, now=clock())
    assert field in caught.value.fields
    assert len(db.session.scalars(select(Closure)).all()) == 1


def test_a_closure_over_bookings_warns_first_and_is_added_when_confirmed(place, factory, clock):
    rules = location_rules(place.location, {2026})
    start = rules.local(date(2026, 11, 26), time(10))
    booking = factory.booking(resource=place.room, user=place.member, starts_at=start)
    db.session.commit()
    kwargs = dict(location_id=place.location.id, first_day=date(2026, 11, 26),
                  last_day=date(2026, 11, 26), reason="Wasserschaden", actor=place.staff,
                  now=clock())
    with pytest.raises(admin.ClosureOverBookings) as caught:
        admin.add_closure(db.session, **kwargs)
    assert [b.id for b in caught.value.affected] == [booking.id]
    assert caught.value.affected[0].member_name == place.member.name
    assert db.session.scalars(select(Closure)).all() == []
    _closure, affected = admin.add_closure(db.session, confirmed=True, **kwargs)
    assert [b.id for b in affected] == [booking.id]
    [entry] = _audit("closure.created")
    assert entry.details["bookings_affected"] == [booking.id]


def test_the_engine_refuses_a_booking_on_a_closed_day(place, clock):
    admin.add_closure(db.session, location_id=place.location.id, first_day=date(2026, 11, 27),
                      last_day=date(2026, 11, 27), reason="Betriebsausflug",
                      actor=place.staff, now=clock())
    rules = location_rules(place.location, {2026})
    request = BookingRequest(
        start=rules.local(date(2026, 11, 27), time(10)),
        end=rules.local(date(2026, 11, 27), time(11)), resource_slug="room",
    )
    with pytest.raises(BookingError) as caught:
        create_bookings(db.session, actor=place.member, request=request,
                        now=clock())
    assert caught.value.code == "closure"
    # The day after is bookable.
    outcome = create_bookings(
        db.session, actor=place.member, now=clock(),
        request=replace(request, start=request.start + timedelta(days=1),
                        end=request.end + timedelta(days=1)),
    )
    assert [b.starts_at for b in outcome.bookings] == [request.start + timedelta(days=1)]
