"""The reminder the day before: queued by the worker's "reminders" job once the location's
local time reaches REMINDER_HOUR on the day before, exactly once per booking and start
(however many passes and workers), again for a booking moved to another day, never for one
cancelled or booked after that hour (its confirmation just came)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import select

from schiller40.booking.cancel import cancel
from schiller40.booking.models import Booking
from schiller40.booking.reschedule import reschedule
from schiller40.core.outbox import OutboxMessage
from schiller40.core.time import BERLIN
from schiller40.extensions import db
from schiller40.worker.runner import tick
from tests.helpers import MON, TUE, WED, at, book

from .checks import readable, set_locale, time_text, tr
from .helpers import invitation, run_tick


def reminders() -> list[OutboxMessage]:
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.topic == "mail.booking_reminder")
        .order_by(OutboxMessage.id)))


def studio(place, clock, day=TUE, hh=10) -> Booking:
    return book(place.member, clock, resource_slug="studio", start=at(day, hh),
                end=at(day, hh + 1)).bookings[0]


@pytest.mark.parametrize("locale", ["de", "en"])
def test_the_reminder_comes_at_the_reminder_hour_the_day_before(place, clock, inbox, locale):
    set_locale(place.member, locale)
    booking = studio(place, clock)
    run_tick(clock)  # the confirmation
    inbox.clear()
    clock.set(at(MON, 16, 59))
    run_tick(clock)
    assert reminders() == [] and inbox.messages == []

    clock.set(at(MON, current_app.config["REMINDER_HOUR"]))
    assert run_tick(clock).delivery.sent == 1
    [row] = reminders()
    assert row.key == f"mail.booking_reminder:{booking.id}:{booking.starts_at.isoformat()}"
    assert row.user_id == place.member.id
    message = inbox.only()
    readable(
        message, to=place.member.email, locale=locale,
        subject=tr("Tomorrow: %(name)s", locale, name=place.studio.name),
        says=[tr("a reminder of your booking tomorrow:", locale),
              time_text(booking.starts_at, booking.ends_at, locale),
              place.location.name, place.location.address],
        link=f"http://127.0.0.1:5000/bookings/{booking.id}",
    )
    # Studios have no check-in.
    checkin = tr("Please check in by %(time)s on the booking page, or the desk is released "
                 "for others.", locale, time="|").split("|")[0]
    assert checkin not in message.get_body().get_content()
    calendar = invitation(message)
    assert calendar.method.value == "REQUEST"
    assert calendar.vevent.uid.value.startswith(booking.uid)
    assert calendar.vevent.sequence.value == "0"


def test_once_across_passes_and_workers(place, clock, inbox):
    studio(place, clock)
    clock.set(at(MON, 18))
    run_tick(clock)
    # Two more workers, each with its own name, pass by a minute later.
    clock.advance(timedelta(minutes=1))
    for worker in ("worker-a", "worker-b"):
        db.session.commit()
        report = tick(clock=clock, worker=worker)
        assert not report.job_errors and report.jobs["reminders"] == 1
    assert len(reminders()) == 1
    assert len([m for m in inbox.messages if "Morgen" in m["Subject"]]) == 1


def test_a_desk_reminder_says_until_when_to_check_in(place, clock, inbox, app):
    set_locale(place.member, "en")
    (booking,) = book(place.member, clock, resource_slug="desk-a1", start=at(TUE, 8),
                      end=at(TUE, 13)).bookings
    clock.set(at(MON, 17))
    run_tick(clock)
    [message] = [m for m in inbox.messages if m["Subject"].startswith("Tomorrow")]
    grace = timedelta(minutes=app.config["CHECKIN_GRACE_MINUTES"])
    deadline = (booking.starts_at + grace).astimezone(BERLIN)
    readable(message, to=place.member.email, locale="en",
             subject=tr("Tomorrow: %(name)s", "en", name=booking.resource.name),
             says=[tr("Please check in by %(time)s on the booking page, or the desk is "
                      "released for others.", "en", time=deadline.strftime("%-I:%M\u202f%p"))])

    set_locale(place.member, "de")
    (other,) = book(place.member, clock, resource_slug="desk-b1", start=at(WED, 8),
                    end=at(WED, 13)).bookings
    db.session.execute(
        Booking.__table__.update().where(Booking.id == other.id).values(
            created_at=at(MON, 9)))
    clock.set(at(TUE, 17))
    run_tick(clock)
    [message] = [m for m in inbox.messages if m["Subject"].startswith("Morgen")]
    text = message.get_body().get_content()
    assert "Bitte checken Sie bis 09:30 Uhr auf der Buchungsseite ein" in " ".join(text.split())


def test_no_reminder_for_a_cancelled_booking(place, clock, inbox):
    booking = studio(place, clock)
    cancel(db.session, actor=place.member, booking_id=booking.id, now=clock())
    clock.set(at(MON, 17))
    run_tick(clock)
    assert reminders() == []
    assert not [m for m in inbox.messages if "Morgen" in m["Subject"]]


def test_a_reminder_queued_but_cancelled_before_sending_is_dropped(place, clock, inbox, app):
    booking = studio(place, clock)
    run_tick(clock)
    inbox.clear()
    port = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = 9  # the mail server is away while the reminder is due
    clock.set(at(MON, 17))
    run_tick(clock)
    app.config["SMTP_PORT"] = port
    cancel(db.session, actor=place.member, booking_id=booking.id, now=clock())
    clock.advance(timedelta(minutes=5))
    report = run_tick(clock)
    assert report.delivery.skipped == 1  # the reminder: nothing to remind of
    assert [m["Subject"] for m in inbox.messages] == [
        tr("Booking cancelled: %(name)s", "de", name=place.studio.name)]


def test_a_booking_made_after_the_reminder_hour_gets_no_reminder(place, clock, inbox):
    clock.set(at(MON, 19))
    studio(place, clock)
    run_tick(clock)
    assert reminders() == []
    assert [m["Subject"] for m in inbox.messages] == [
        tr("Booking confirmed: %(name)s", "de", name=place.studio.name)]


def test_a_booking_moved_to_another_day_is_reminded_again_for_that_day(place, clock, inbox):
    booking = studio(place, clock)
    clock.set(at(MON, 17))
    run_tick(clock)
    assert len(reminders()) == 1
    reschedule(db.session, actor=place.member, booking_id=booking.id,
               start=at(WED, 10), end=at(WED, 11), now=clock())
    clock.set(at(TUE, 17))
    inbox.clear()
    run_tick(clock)
    rows = reminders()
    assert [r.key for r in rows] == [
        f"mail.booking_reminder:{booking.id}:{at(TUE, 10).isoformat()}",
        f"mail.booking_reminder:{booking.id}:{at(WED, 10).isoformat()}",
    ]
    [message] = [m for m in inbox.messages if "Morgen" in m["Subject"]]
    calendar = invitation(message)
    assert calendar.vevent.dtstart.value == at(WED, 10)
    assert calendar.vevent.sequence.value == "1"


def test_a_reminder_for_a_time_the_booking_has_left_is_dropped(place, clock, inbox):
    """Queued for Tuesday, moved to Thursday before it went out: not sent (Wednesday
    evening brings the right one)."""
    booking = studio(place, clock)
    run_tick(clock)
    inbox.clear()
    clock.set(at(MON, 17))
    db.session.commit()
    from schiller40.worker import jobs

    jobs.reminders(db.session, jobs.context(clock()))  # queued, not yet delivered
    reschedule(db.session, actor=place.member, booking_id=booking.id,
               start=at(TUE + timedelta(days=2), 10),
               end=at(TUE + timedelta(days=2), 11), now=clock())
    report = run_tick(clock)
    assert report.delivery.skipped == 1
    assert [m["Subject"] for m in inbox.messages] == [
        tr("Booking changed: %(name)s", "de", name=place.studio.name)]


def test_the_reminder_hour_is_read_from_the_config(place, clock, inbox, app):
    app.config["REMINDER_HOUR"] = 12
    studio(place, clock)
    clock.set(at(MON, 11, 59))
    run_tick(clock)
    assert reminders() == []
    clock.set(at(MON, 12))
    run_tick(clock)
    assert len(reminders()) == 1


def test_on_the_spring_clock_change_the_hour_and_the_next_day_are_local(place, clock, inbox,
                                                                       factory):
    """Sunday 28 March 2027 has 23 hours in Wolfsburg: the reminder still comes at 17:00
    local time (15:00 UTC, not 16:00), for Monday's bookings from local midnight on."""
    sunday, monday = TUE.replace(year=2027, month=3, day=28), TUE.replace(year=2027, month=3,
                                                                          day=29)
    early = factory.booking(resource=place.studio, user=place.member,
                            starts_at=at(monday, 0, 30), duration=timedelta(hours=1))
    late_sunday = factory.booking(resource=place.room, user=place.member,
                                  starts_at=at(sunday, 23), duration=timedelta(minutes=30))
    db.session.commit()
    clock.set(at(sunday, 16, 59))
    run_tick(clock)
    assert reminders() == []
    clock.set(at(sunday, 17))
    assert clock().hour == 15  # UTC: summer time began at 02:00 that night
    run_tick(clock)
    assert [r.payload["booking_id"] for r in reminders()] == [early.id]
    assert late_sunday.id not in [r.payload["booking_id"] for r in reminders()]
    [message] = inbox.messages
    assert invitation(message).vevent.dtstart.value == at(monday, 0, 30)
