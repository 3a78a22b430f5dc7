"""The "membership ending" mail: queued by the worker's periodic job with the test's clock,
once per membership and end date, none when another membership follows; sent to the real
SMTP server in German and English."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import delete, select

from schiller40.booking.models import BookingStatus
from schiller40.core.outbox import OutboxMessage
from schiller40.extensions import db
from schiller40.membership import service as membership_service
from schiller40.membership.models import Membership, MembershipStatus
from schiller40.worker import jobs
from tests.helpers import at, book

from ..mailbox import body
from .helpers import run_tick

TOPIC = "mail.membership_ending"


def rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.topic == TOPIC).order_by(OutboxMessage.id)
    ))


def membership_of(place) -> Membership:
    (membership,) = place.member.memberships
    return membership


def ends(place, day: date) -> Membership:
    membership = membership_of(place)
    membership.valid_until = day
    db.session.commit()
    return membership


def test_the_job_is_registered_after_the_others():
    names = [name for name, _job in jobs.PERIODIC]
    assert "membership_ending" in names
    assert names.index("membership_ending") > names.index("expire_holds")


def test_told_once_in_the_notice_window_and_again_when_the_end_moves(place, clock, inbox):
    membership = ends(place, date(2026, 12, 12))  # 19 days after Mon 23 Nov
    run_tick(clock)
    clock.advance(timedelta(days=4))  # Fri 27 Nov: 15 days ahead, not yet
    run_tick(clock)
    assert rows() == [] and inbox.messages == []

    clock.advance(timedelta(days=1))  # Sat 28 Nov: 14 days ahead (MEMBERSHIP_ENDING_NOTICE_DAYS)
    run_tick(clock)
    [row] = rows()
    assert row.key == f"{TOPIC}:{membership.id}:2026-12-12"
    assert row.payload == {"membership_id": membership.id, "ends_on": "2026-12-12"}
    assert row.user_id == place.member.id
    message = inbox.only()
    assert message["To"].addresses[0].addr_spec == place.member.email
    assert message["Subject"] == "Ihre Mitgliedschaft endet am 12.12.2026"
    text, html = body(message), body(message, "html")
    for words in (
        f"Ihre Mitgliedschaft im Tarif {place.tier.name} endet am Samstag, 12. Dezember 2026.",
        "Buchungen ab dem 13. Dezember 2026 setzen eine an diesem Tag gültige Mitgliedschaft",
        "wenden Sie sich bitte an das Schiller40-Team",
    ):
        assert words in text and words in html, words
    assert "/account" in text and 'href="http://127.0.0.1:5000/account"' in html
    assert "Ihre Buchung nach dem Ende" not in text  # none after the end

    # Later passes (or a second worker) queue nothing more, even once the sent entry is purged.
    clock.advance(timedelta(hours=1))
    run_tick(clock)
    run_tick(clock)
    assert len(rows()) == 1 and len(inbox.messages) == 1
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.topic == TOPIC))
    db.session.commit()
    run_tick(clock)
    assert rows() == [] and len(inbox.messages) == 1

    # Staff bring the end forward: the member hears the new date.
    membership_service.end_membership(
        db.session, actor=place.staff, member_id=place.member.id,
        membership_id=membership.id, last_day=date(2026, 12, 5), now=clock(),
    )
    run_tick(clock)
    [row] = rows()
    assert row.key == f"{TOPIC}:{membership.id}:2026-12-05"
    assert len(inbox.messages) == 2
    assert inbox.messages[1]["Subject"] == "Ihre Mitgliedschaft endet am 05.12.2026"


def test_in_english_with_the_bookings_after_the_end(place, clock, inbox):
    place.member.locale = "en"
    db.session.commit()
    before = book(place.member, clock, resource_slug="studio", start=at(date(2026, 11, 30), 10),
                  end=at(date(2026, 11, 30), 11)).bookings[0]
    after = book(place.member, clock, resource_slug="studio", start=at(date(2026, 12, 2), 10),
                 end=at(date(2026, 12, 2), 11)).bookings[0]
    assert before.status is after.status is BookingStatus.CONFIRMED
    db.session.commit()
    ends(place, date(2026, 12, 1))
    inbox.clear()
    run_tick(clock)
    message = next(m for m in inbox.messages if m["Subject"].startswith("Your membership"))
    assert message["Subject"] == "Your membership ends on Dec 1, 2026"
    text, html = body(message), body(message, "html")
    for words in (
        f"your membership in the tier {place.tier.name} ends on Tuesday, December 1, 2026.",
        "Bookings for December 2, 2026 or later need a membership valid on that day",
        "Your booking after the end stays as it is.",
        "please contact the Schiller40 team",
    ):
        assert words in text and words in html, words
    assert f"/bookings/{after.id}" in text and f"/bookings/{after.id}" in html
    assert f"/bookings/{before.id}" not in text  # before the end: not affected


def test_no_mail_when_another_membership_follows(place, clock, inbox, factory):
    membership = ends(place, date(2026, 12, 1))
    follower = factory.membership(user=place.member, tier=place.tier,
                                  valid_from=date(2026, 12, 2))
    db.session.commit()
    run_tick(clock)
    assert rows() == []

    # The follower is withdrawn: now the membership really ends, and the member is told.
    follower.status = MembershipStatus.CANCELLED
    db.session.commit()
    run_tick(clock)
    [row] = rows()
    assert row.payload["membership_id"] == membership.id
    assert inbox.only()["Subject"] == "Ihre Mitgliedschaft endet am 01.12.2026"


def test_a_follower_arranged_after_queueing_stops_the_mail(place, clock, inbox, factory):
    ends(place, date(2026, 12, 1))
    inbox.refuse("451 4.3.0 try later")  # not delivered on the first pass
    run_tick(clock)
    assert len(rows()) == 1 and inbox.messages == []
    factory.membership(user=place.member, tier=place.tier, valid_from=date(2026, 12, 2))
    db.session.commit()
    clock.advance(timedelta(minutes=5))
    run_tick(clock)
    assert inbox.messages == []  # nothing ends any more: nothing to say
    assert len(rows()) == 1


def test_ended_open_ended_and_withdrawn_memberships_are_not_announced(
    place, clock, inbox, factory
):
    other = factory.user(tier=place.tier, email="jonas@example.org")
    (open_ended,) = other.memberships
    open_ended.valid_until = None
    gone = factory.user(email="old@example.org")
    factory.membership(user=gone, tier=place.tier, valid_until=date(2026, 11, 22))
    withdrawn = factory.user(email="withdrawn@example.org")
    factory.membership(user=withdrawn, tier=place.tier, valid_until=date(2026, 11, 30),
                       status=MembershipStatus.CANCELLED)
    db.session.commit()
    run_tick(clock)
    assert rows() == []


def test_the_notice_period_comes_from_the_config(place, clock, app):
    ends(place, date(2026, 11, 27))  # four days ahead
    ctx = jobs.context(clock())
    short = jobs.JobContext(now=ctx.now, settings=ctx.settings,
                            config={**ctx.config, "MEMBERSHIP_ENDING_NOTICE_DAYS": 3})
    assert jobs.membership_ending(db.session, short) == 0
    assert rows() == []
    assert jobs.membership_ending(db.session, ctx) == 1  # the default: 14 days
    assert jobs.membership_ending(db.session, ctx) == 0  # once
    assert len(rows()) == 1
