"""The outbox and its delivery: written with the change, sent after the commit by the
worker to a real SMTP server, retried with back-off, claimed once by several workers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from schiller40.booking.errors import BookingError
from schiller40.core import outbox
from schiller40.core.outbox import OutboxMessage, OutboxStatus
from schiller40.extensions import db
from schiller40.worker.delivery import deliver
from tests.helpers import TUE, at, book

from ..mailbox import body
from .helpers import invitation, run_tick


def rows(**where) -> list[OutboxMessage]:
    """Mail entries (the worker's own hourly job entries left out)."""
    query = select(OutboxMessage).where(OutboxMessage.topic.like("mail.%")).order_by(
        OutboxMessage.id)
    for key, value in where.items():
        query = query.where(getattr(OutboxMessage, key) == value)
    return list(db.session.scalars(query))


def test_a_confirmed_booking_queues_a_mail_that_the_worker_sends(place, clock, inbox):
    outcome = book(place.member, clock, resource_slug="studio", start=at(TUE, 10),
                   end=at(TUE, 11))
    booking = outcome.bookings[0]
    [row] = rows(topic="mail.booking_confirmed")
    assert row.status is OutboxStatus.PENDING and row.payload == {"booking_ids": [booking.id]}
    assert inbox.messages == []  # nothing leaves before the worker runs

    report = run_tick(clock)
    assert report.delivery.sent == 1
    message = inbox.only()
    assert message["To"].addresses[0].addr_spec == place.member.email
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "de"
    assert message["Message-ID"].startswith(f"<outbox-{row.id}.")
    assert "Studio" in message["Subject"] or place.studio.name in message["Subject"]
    assert f"/bookings/{booking.id}" in body(message)
    assert f"/bookings/{booking.id}" in body(message, "html")
    calendar = invitation(message)
    assert calendar.method.value == "REQUEST"
    assert calendar.vevent.uid.value.startswith(booking.uid)
    assert calendar.vevent.dtstart.value == booking.starts_at
    db.session.expire_all()
    assert rows()[0].status is OutboxStatus.SENT

    # A second pass sends nothing again.
    assert run_tick(clock).delivery.sent == 0
    assert len(inbox.messages) == 1


def test_a_refused_booking_leaves_nothing_in_the_outbox(place, clock, factory):
    book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    with pytest.raises(BookingError):
        book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    assert len(rows()) == 1


@pytest.mark.parametrize("reply", ["451 4.3.0 try later", "421 4.7.0 too busy"])
def test_temporary_failures_are_retried_with_back_off(place, clock, inbox, reply):
    book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    inbox.refuse(reply, reply)
    report = run_tick(clock)
    assert report.delivery.retrying == 1 and inbox.messages == []
    [row] = rows()
    assert row.status is OutboxStatus.PENDING and row.attempts == 1
    assert row.next_attempt_at == clock() + timedelta(minutes=1)
    assert reply.split()[0] in (row.last_error or "")

    assert run_tick(clock).delivery.retrying == 0  # not due yet
    clock.advance(timedelta(minutes=1))
    assert run_tick(clock).delivery.retrying == 1
    db.session.expire_all()
    assert rows()[0].next_attempt_at == clock() + timedelta(minutes=2)
    clock.advance(timedelta(minutes=2))
    assert run_tick(clock).delivery.sent == 1
    assert len(inbox.messages) == 1


def test_a_permanent_refusal_ends_failed_and_visible(place, clock, inbox):
    book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    inbox.refuse("550 5.1.1 no such user")
    report = run_tick(clock)
    assert report.delivery.failed == 1
    [row] = rows()
    assert row.status is OutboxStatus.FAILED and "550" in (row.last_error or "")
    assert outbox.counts(db.session)[OutboxStatus.FAILED] == 1
    clock.advance(timedelta(days=1))
    assert run_tick(clock).delivery.failed == 0  # staff decide (retry) from here


def test_after_the_last_try_the_message_fails(place, clock, inbox, app):
    app.config["OUTBOX_MAX_ATTEMPTS"] = 3
    book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    inbox.refuse(*["451 later"] * 3)
    for _ in range(3):
        run_tick(clock)
        clock.advance(timedelta(hours=1))
    [row] = rows()
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, 3)
    assert outbox.retry(db.session, row.id, now=clock()) is not None
    db.session.commit()
    assert run_tick(clock).delivery.sent == 1


def test_smtp_down_keeps_the_messages_until_it_is_back(place, clock, inbox, app):
    booking = book(place.member, clock, resource_slug="studio", start=at(TUE, 10),
                   end=at(TUE, 11)).bookings[0]
    outbox.enqueue(db.session, topic="mail.booking_confirmed", now=clock(),
                   payload={"booking_ids": [booking.id]})
    port = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = 9  # nothing listens there: connection refused
    report = run_tick(clock)
    assert report.delivery.server_error and report.delivery.handled == 0
    assert not report.ok
    # Waiting costs no try: an outage of any length ends with nothing given up.
    for row in rows():
        assert (row.status, row.attempts) == (OutboxStatus.PENDING, 0)
        assert "ConnectionRefusedError" in (row.last_error or "")
    for _ in range(20):
        run_tick(clock)
    db.session.expire_all()
    assert {r.attempts for r in rows()} == {0}
    app.config["SMTP_PORT"] = port
    assert run_tick(clock).delivery.sent == 2  # at once, no back-off to wait out
    assert len(inbox.messages) == 2


def test_our_sender_refused_is_a_server_matter_not_the_messages(place, clock, inbox):
    book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    inbox.refuse_sender = "553 5.7.1 sender not allowed"
    report = run_tick(clock)
    assert "553" in (report.delivery.server_error or "")
    [row] = rows()
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 0)
    inbox.refuse_sender = None
    assert run_tick(clock).delivery.sent == 1


def test_a_message_whose_worker_keeps_dying_is_given_up(place, clock, app):
    app.config["OUTBOX_MAX_ATTEMPTS"] = 2
    book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    db.session.commit()
    lease = timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"])
    for _ in range(2):  # claimed, then the worker dies; twice
        assert outbox.claim(db.session, worker="dies", now=clock(), lease=lease,
                            max_attempts=2)
        clock.advance(lease)
    assert outbox.claim(db.session, worker="next", now=clock(), lease=lease,
                        max_attempts=2) == []
    [row] = rows()
    assert row.status is OutboxStatus.FAILED
    assert "stopped while sending" in (row.last_error or "")


def test_a_claim_left_by_a_dead_worker_is_taken_over_after_its_lease(place, clock, inbox, app):
    book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    db.session.commit()
    lease = timedelta(seconds=app.config["OUTBOX_LEASE_SECONDS"])
    claimed = outbox.claim(db.session, worker="dead", now=clock(), lease=lease)
    assert len(claimed) == 1
    assert deliver(db.session, worker="alive", clock=clock).handled == 0  # still leased
    clock.advance(lease)
    assert deliver(db.session, worker="alive", clock=clock).sent == 1
    assert len(inbox.messages) == 1
    # The dead worker, had it woken up, may no longer record anything on that row.
    outbox.delivered(db.session, claimed[0], worker="dead", now=clock())
    db.session.expire_all()
    assert rows()[0].claimed_by == "alive"


def test_keyed_entries_are_queued_once(app, clock):
    for _ in range(3):
        outbox.enqueue(db.session, topic="job.reconcile_recent", now=clock(), key="same")
        db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.key == "same")) == 1


def test_a_message_whose_booking_is_gone_is_skipped(place, clock, inbox):
    outbox.enqueue(db.session, topic="mail.booking_confirmed", now=clock(),
                   payload={"booking_ids": [999999]})
    report = run_tick(clock)
    assert (report.delivery.skipped, inbox.messages) == (1, [])
    assert rows()[0].status is OutboxStatus.SENT


def test_a_name_with_a_line_break_from_before_the_rule_still_gets_its_mail(place, clock,
                                                                           inbox):
    place.member.name = "Mia\nBcc: everyone@example.org\u2028Tester"
    db.session.commit()
    book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    assert run_tick(clock).delivery.sent == 1
    message = inbox.only()
    assert message["To"].addresses[0].display_name == "Mia Bcc: everyone@example.org Tester"
    assert message["Bcc"] is None
    assert inbox.envelopes[0][1] == [place.member.email]
