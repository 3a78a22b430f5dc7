"""The staff page of failed deliveries: visible to staff only, retry and discard audited."""

from __future__ import annotations

from sqlalchemy import select

from schiller40.core.audit import AuditEntry
from schiller40.core.outbox import OutboxMessage, OutboxStatus
from schiller40.extensions import db
from tests.helpers import TUE, at, book, text_of, tr
from tests.mail.helpers import run_tick

from .calendar_helpers import flashes, in_english


def failed_message(place, clock, inbox) -> int:
    book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    inbox.refuse("550 5.1.1 mailbox unavailable")
    assert run_tick(clock).delivery.failed == 1
    return db.session.scalars(
        select(OutboxMessage.id).where(OutboxMessage.status == OutboxStatus.FAILED)
    ).one()


def test_members_do_not_see_the_page(member_browser, place):
    assert member_browser.get("/staff/outbox").status_code == 404
    assert member_browser.post("/staff/outbox/1/retry").status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, place):
    response = client.get("/staff/outbox")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_failed_message_is_listed_with_its_reason_and_counted(staff_browser, place, clock,
                                                                inbox):
    failed_message(place, clock, inbox)
    shown = text_of(staff_browser.get("/staff/outbox"))
    assert tr("Booking confirmed") in shown
    assert place.member.email in shown and "550 5.1.1 mailbox unavailable" in shown
    index = text_of(staff_browser.get("/staff/"))
    assert tr("Outgoing mail") in index and "1" in index


def test_send_again_delivers_it_with_the_next_pass(staff_browser, place, clock, inbox):
    message_id = failed_message(place, clock, inbox)
    response = staff_browser.post(f"/staff/outbox/{message_id}/retry")
    assert tr("The message is sent again with the next pass of the worker.") in flashes(
        staff_browser, response)
    assert run_tick(clock).delivery.sent == 1
    assert len(inbox.messages) == 1
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "outbox.retried")).one()
    assert (entry.actor_id, entry.object_id) == (place.staff.id, message_id)
    # Sent meanwhile: a second click says so instead of sending it twice.
    again = staff_browser.post(f"/staff/outbox/{message_id}/retry")
    assert tr("This message is no longer failed: it was sent or handled meanwhile.") in flashes(
        staff_browser, again)


def test_discard_removes_it_and_is_audited(staff_browser, place, clock, inbox):
    message_id = failed_message(place, clock, inbox)
    in_english(place.staff)
    response = staff_browser.post(f"/staff/outbox/{message_id}/discard")
    assert "The message was discarded." in flashes(staff_browser, response)
    assert db.session.get(OutboxMessage, message_id) is None
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "outbox.discarded")).one()
    assert entry.details["topic"] == "mail.booking_confirmed"
    assert "No failed messages." in text_of(staff_browser.get("/staff/outbox"))


def test_unknown_or_pending_messages_cannot_be_decided(staff_browser, place, clock):
    book(place.member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))
    pending = db.session.scalars(select(OutboxMessage.id)).first()
    for url in (f"/staff/outbox/{pending}/discard", "/staff/outbox/999999/retry"):
        response = staff_browser.post(url)
        assert tr("This message is no longer failed: it was sent or handled meanwhile.") in (
            flashes(staff_browser, response))
    assert db.session.get(OutboxMessage, pending).status is OutboxStatus.PENDING
