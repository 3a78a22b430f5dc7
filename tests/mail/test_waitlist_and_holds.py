"""Time-driven booking mails: a waiting-list offer (and the next in line's, when an offer
lapses on the worker's clock), and unpaid holds released by the worker or by a booking
request, with a link to book the same time again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select

from schiller40.booking import waitlist
from schiller40.booking.models import Booking, BookingStatus, WaitlistEntry, WaitlistStatus
from schiller40.booking.settings import current_settings
from schiller40.core import outbox
from schiller40.core.outbox import OutboxMessage
from schiller40.extensions import db
from schiller40.templating import local_datetime
from tests.helpers import TUE, at, book, browser, fresh

from ..mailbox import attachments, body
from .checks import readable, set_locale, time_text, tr
from .helpers import run_tick

MINE = "http://127.0.0.1:5000/bookings#waitlist"


def queued(topic: str) -> list[OutboxMessage]:
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.topic == topic).order_by(OutboxMessage.id)))


# --- waiting list ------------------------------------------------------------------------------


@pytest.fixture
def queue(place, clock, factory, inbox):
    """The studio on Tuesday 10-11 is taken by the member; two others wait for it, in order."""
    (taken,) = book(place.member, clock, resource_slug="studio", start=at(TUE, 10),
                    end=at(TUE, 11)).bookings
    waiting = []
    for name in ("first", "second"):
        user = factory.user(tier=place.tier, email=f"{name}@example.org")
        factory.induction(user=user, topic="ar-vr-studio")
        db.session.commit()
        waiting.append((user, waitlist.join(
            db.session, actor=user, resource_slug="studio", start=at(TUE, 10),
            end=at(TUE, 11), now=clock(), settings=current_settings())))
        clock.advance(timedelta(seconds=1))
    run_tick(clock)
    inbox.clear()
    return type("Queue", (), dict(taken=taken, waiting=waiting))


def free_the_slot(place, clock, queue) -> None:
    from schiller40.booking.cancel import cancel

    cancel(db.session, actor=place.member, booking_id=queue.taken.id, now=clock())


@pytest.mark.parametrize("locale", ["de", "en"])
def test_an_offer_names_slot_deadline_and_where_to_answer(place, clock, inbox, queue, locale):
    (first, entry), _second = queue.waiting
    set_locale(first, locale)
    free_the_slot(place, clock, queue)
    [row] = queued("mail.waitlist_offer")
    assert row.payload == {"entry_id": entry.id} and row.user_id == first.id
    run_tick(clock)
    [message] = inbox.to(first.email)
    entry = fresh(WaitlistEntry, entry.id)
    assert entry.status is WaitlistStatus.OFFERED
    with force_locale(locale):
        until = local_datetime(entry.offer_expires_at)
    readable(
        message, to=first.email, locale=locale,
        subject=tr("A place is free for you: %(name)s", locale, name=place.studio.name),
        says=[time_text(at(TUE, 10), at(TUE, 11), locale), place.studio.name, until,
              tr("Book it", locale), tr("No, thanks", locale),
              tr("Nothing is booked until you accept. If you do not answer in time, the offer "
                 "goes to the next person waiting.", locale)],
        link=MINE,
    )
    assert attachments(message) == []  # nothing is booked yet
    assert inbox.to("second@example.org") == []


def test_the_link_leads_to_the_buttons_and_accepting_books(app, place, clock, inbox, queue):
    (first, entry), _second = queue.waiting
    free_the_slot(place, clock, queue)
    run_tick(clock)
    inbox.clear()
    member = browser(app, first)
    page = member.get("/bookings")
    assert page.status_code == 200
    assert f'action="/waitlist/{entry.id}/accept"'.encode() in page.data
    assert f'action="/waitlist/{entry.id}/decline"'.encode() in page.data
    assert member.post(f"/waitlist/{entry.id}/accept").status_code in (302, 303)
    assert fresh(WaitlistEntry, entry.id).status is WaitlistStatus.ACCEPTED
    run_tick(clock)
    [message] = inbox.to(first.email)
    assert message["Subject"] == tr("Booking confirmed: %(name)s", "de", name=place.studio.name)


def test_a_lapsed_offer_passes_to_the_next_in_line_who_gets_the_mail(
    place, clock, inbox, queue, app
):
    (first, entry), (second, next_entry) = queue.waiting
    set_locale(second, "en")
    free_the_slot(place, clock, queue)
    run_tick(clock)
    assert len(inbox.to(first.email)) == 1
    inbox.clear()

    # Nobody answers; the worker's clock passes the offer's deadline.
    deadline = fresh(WaitlistEntry, entry.id).offer_expires_at
    clock.set(deadline - timedelta(seconds=1))
    run_tick(clock)
    assert inbox.messages == []
    clock.set(deadline)
    run_tick(clock)
    assert fresh(WaitlistEntry, entry.id).status is WaitlistStatus.LAPSED
    offered = fresh(WaitlistEntry, next_entry.id)
    assert offered.status is WaitlistStatus.OFFERED
    [message] = inbox.messages
    with force_locale("en"):
        until = local_datetime(offered.offer_expires_at)
    readable(message, to=second.email, locale="en",
             subject=tr("A place is free for you: %(name)s", "en", name=place.studio.name),
             says=[until, time_text(at(TUE, 10), at(TUE, 11), "en")], link=MINE)
    # Another pass sends nothing again.
    run_tick(clock)
    assert len(inbox.messages) == 1


def test_an_offer_declined_before_its_mail_went_out_is_not_sent(place, clock, inbox, queue):
    (first, entry), (second, _next) = queue.waiting
    free_the_slot(place, clock, queue)
    waitlist.decline(db.session, actor=first, entry_id=entry.id, now=clock(),
                     settings=current_settings())
    report = run_tick(clock)
    assert report.delivery.skipped == 1
    assert inbox.to(first.email) == []
    [message] = inbox.to(second.email)
    assert message["Subject"] == tr("A place is free for you: %(name)s", "de",
                                    name=place.studio.name)


def test_an_offer_mail_that_could_only_go_out_after_its_deadline_is_dropped(
    place, clock, inbox, queue
):
    (_first, entry), _second = queue.waiting
    free_the_slot(place, clock, queue)
    [row] = queued("mail.waitlist_offer")
    deadline = fresh(WaitlistEntry, entry.id).offer_expires_at
    from schiller40.mail.catalog import load

    with current_app.test_request_context():
        assert load()["mail.waitlist_offer"](db.session, row.payload, deadline) is None
        assert load()["mail.waitlist_offer"](
            db.session, row.payload, deadline - timedelta(seconds=1)) is not None


# --- unpaid holds ------------------------------------------------------------------------------


def room_hold(place, clock) -> Booking:
    (booking,) = book(place.member, clock, resource_slug="room", start=at(TUE, 10),
                      end=at(TUE, 11)).bookings
    assert booking.status is BookingStatus.HELD
    return booking


@pytest.mark.parametrize("locale", ["de", "en"])
def test_the_worker_releases_a_hold_that_ran_out_and_mails_a_link_to_book_again(
    place, clock, inbox, factory, locale
):
    set_locale(place.member, locale)
    booking = room_hold(place, clock)
    run_tick(clock)
    assert inbox.messages == []  # a hold is announced when it is paid, not before
    clock.set(booking.hold_expires_at)
    run_tick(clock)
    assert fresh(Booking, booking.id).status is BookingStatus.EXPIRED
    [row] = queued("mail.hold_expired")
    assert row.payload == {"booking_ids": [booking.id], "reason": "expired"}
    message = inbox.only()
    again = "http://127.0.0.1:5000/resources/room/book?day=2026-11-24&start=10:00&end=11:00"
    text, _html = readable(
        message, to=place.member.email, locale=locale,
        subject=tr("Reservation released: %(name)s", locale, name=place.room.name),
        says=[tr("your reservation was not paid in time, so the time is free again for "
                 "others:", locale),
              time_text(at(TUE, 10), at(TUE, 11), locale),
              tr("Nothing has been charged; an amount reserved on your card is released.",
                 locale)],
    )
    assert f"{tr('Book again:', locale)} {again}" in text
    assert f'href="{again.replace("&", "&amp;")}"' in body(message, "html")
    assert attachments(message) == []

    # The slot is free: someone else books it.
    other = factory.user(tier=place.tier, email="other@example.org")
    db.session.commit()
    (theirs,) = book(other, clock, resource_slug="room", start=at(TUE, 10),
                     end=at(TUE, 11)).bookings
    assert theirs.status is BookingStatus.HELD


def test_a_booking_request_releasing_stale_holds_queues_the_mail_too(place, clock, inbox,
                                                                     factory):
    booking = room_hold(place, clock)
    other = factory.user(tier=place.tier, email="other@example.org")
    db.session.commit()
    clock.set(booking.hold_expires_at + timedelta(minutes=1))
    book(other, clock, resource_slug="room", start=at(TUE, 10), end=at(TUE, 11))
    [row] = queued("mail.hold_expired")
    assert row.payload == {"booking_ids": [booking.id], "reason": "expired"}
    assert row.user_id == place.member.id
    run_tick(clock)
    assert [m["Subject"] for m in inbox.to(place.member.email)] == [
        tr("Reservation released: %(name)s", "de", name=place.room.name)]


def test_holds_of_one_member_running_out_together_make_one_mail(place, clock, inbox):
    first = room_hold(place, clock)
    (second,) = book(place.member, clock, resource_slug="room", start=at(TUE, 14),
                     end=at(TUE, 15)).bookings
    clock.set(max(first.hold_expires_at, second.hold_expires_at))
    run_tick(clock)
    message = inbox.only()
    assert message["Subject"] == "2 Reservierungen aufgehoben"
    assert queued("mail.hold_expired")[0].payload["booking_ids"] == [first.id, second.id]
    text = body(message)
    assert time_text(at(TUE, 10), at(TUE, 11), "de") in text
    assert time_text(at(TUE, 14), at(TUE, 15), "de") in text


def test_a_failed_payment_says_so(place, clock, inbox):
    """The payment service queues the same message when the provider reports the payment
    failed or expired (reason "payment_failed")."""
    booking = room_hold(place, clock)
    booking.release_hold(clock())
    outbox.enqueue(db.session, topic="mail.hold_expired", now=clock(),
                   payload={"booking_ids": [booking.id], "reason": "payment_failed"})
    db.session.commit()
    run_tick(clock)
    readable(inbox.only(), to=place.member.email, locale="de",
             subject=tr("Reservation released: %(name)s", "de", name=place.room.name),
             says=[tr("the payment for your reservation did not go through, so the time is "
                      "free again for others:", "de")])


def test_a_hold_paid_meanwhile_gets_no_expiry_mail(place, clock, inbox):
    booking = room_hold(place, clock)
    outbox.enqueue(db.session, topic="mail.hold_expired", now=clock(),
                   payload={"booking_ids": [booking.id], "reason": "payment_failed"})
    db.session.commit()
    report = run_tick(clock)
    assert (report.delivery.skipped, inbox.messages) == (1, [])
