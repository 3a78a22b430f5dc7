"""Desk check-in (member and staff) and the release of desks nobody checked in to."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from schiller40.booking import checkin
from schiller40.booking import settings as booking_settings
from schiller40.booking.models import BookingStatus, WaitlistEntry, WaitlistStatus
from schiller40.core.audit import AuditEntry
from schiller40.core.outbox import OutboxMessage
from schiller40.errors import NotFound
from schiller40.extensions import db
from tests.helpers import MON, at
from tests.html import page

from ..mail.helpers import run_tick


def desk_booking(factory, place, *, user=None, desk=0, hh=9, hours=4, **kw):
    return factory.booking(resource=place.desks[desk], user=user or place.member,
                           starts_at=at(MON, hh), duration=timedelta(hours=hours), **kw)


def check_in(user, booking, clock):
    db.session.commit()  # the service starts its own transaction
    return checkin.check_in(db.session, actor=user, booking_id=booking.id, now=clock())


def audits(action):
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def no_show_mails():
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.topic == "mail.no_show")))


# --- checking in ---------------------------------------------------------------------------


def test_a_member_checks_in_their_desk_once(place, factory, clock):
    booking = desk_booking(factory, place)
    clock.advance(timedelta(minutes=12))
    done = check_in(place.member, booking, clock)
    assert done.checked_in_at == at(MON, 9, 12)
    [entry] = audits("booking.checked_in")
    assert (entry.actor_id, entry.object_id, entry.details["by"]) == (
        place.member.id, booking.id, "self")
    # Twice is fine and keeps the first time (and the audit log says it once).
    clock.advance(timedelta(minutes=30))
    again = check_in(place.member, booking, clock)
    assert again.checked_in_at == at(MON, 9, 12)
    assert len(audits("booking.checked_in")) == 1


def test_the_member_window_opens_30_minutes_before_the_start(place, factory, clock):
    booking = desk_booking(factory, place, hh=13)  # the afternoon
    clock.advance(timedelta(hours=3, minutes=29))  # 12:29
    with pytest.raises(checkin.CheckInRefused) as refused:
        check_in(place.member, booking, clock)
    assert refused.value.code == "too_early" and "12:30" in refused.value.message
    db.session.expire_all()
    assert booking.checked_in_at is None
    clock.advance(timedelta(minutes=1))  # 12:30
    assert check_in(place.member, booking, clock).checked_in_at == at(MON, 12, 30)


def test_a_member_may_check_in_late_until_the_release(place, factory, clock):
    booking = desk_booking(factory, place)
    clock.advance(timedelta(minutes=89))  # 10:29, the deadline is 10:30
    assert check_in(place.member, booking, clock).checked_in_at == at(MON, 10, 29)


def test_after_the_release_nobody_checks_in(place, factory, clock):
    booking = desk_booking(factory, place)
    clock.advance(timedelta(minutes=90))
    run_tick(clock)
    for actor in (place.member, place.staff):
        with pytest.raises(checkin.CheckInRefused) as refused:
            check_in(actor, booking, clock)
        assert refused.value.code == "released"
        assert "10:30" in refused.value.message


def test_after_the_end_a_member_cannot_check_in(place, factory, clock):
    booking = factory.booking(resource=place.desks[0], user=place.member,
                              starts_at=at(MON, 6), duration=timedelta(hours=2))
    with pytest.raises(checkin.CheckInRefused) as refused:
        check_in(place.member, booking, clock)
    assert refused.value.code == "over"
    # Staff may record it later the same day.
    assert check_in(place.staff, booking, clock).checked_in_at == clock()


def test_members_do_not_check_in_studios_staff_do(place, factory, clock):
    booking = factory.booking(resource=place.studio, user=place.member,
                              starts_at=at(MON, 9, 30))
    with pytest.raises(checkin.CheckInRefused) as refused:
        check_in(place.member, booking, clock)
    assert refused.value.code == "staff_only"
    done = check_in(place.staff, booking, clock)
    assert done.checked_in_at == clock()
    [entry] = audits("booking.checked_in")
    assert (entry.actor_id, entry.details["by"]) == (place.staff.id, "staff")


def test_staff_check_in_only_on_the_booking_day(place, factory, clock):
    tomorrow = factory.booking(resource=place.desks[1], user=place.member,
                               starts_at=at(MON, 9) + timedelta(days=1))
    with pytest.raises(checkin.CheckInRefused) as refused:
        check_in(place.staff, tomorrow, clock)
    assert refused.value.code == "not_today"


@pytest.mark.parametrize("status", [BookingStatus.CANCELLED, BookingStatus.HELD])
def test_cancelled_and_unpaid_bookings_are_not_checked_in(place, factory, clock, status):
    booking = desk_booking(factory, place, status=status)
    for actor in (place.member, place.staff):
        with pytest.raises(checkin.CheckInRefused) as refused:
            check_in(actor, booking, clock)
        assert refused.value.code == "not_confirmed"


def test_another_members_booking_is_not_found(place, factory, clock):
    other = factory.user(tier=place.tier)
    booking = desk_booking(factory, place, user=other)
    with pytest.raises(NotFound):
        check_in(place.member, booking, clock)
    db.session.expire_all()
    assert booking.checked_in_at is None


def test_english_and_german_refusals(app, place, factory, clock):
    from flask_babel import force_locale

    booking = desk_booking(factory, place, hh=13)
    with app.test_request_context("/"):
        with force_locale("en"), pytest.raises(checkin.CheckInRefused) as english:
            check_in(place.member, booking, clock)
        with force_locale("de"), pytest.raises(checkin.CheckInRefused) as german:
            check_in(place.member, booking, clock)
    assert "too early" in english.value.message
    assert "zu früh" in german.value.message


# --- the no-show release -------------------------------------------------------------------


def test_an_unchecked_desk_is_released_exactly_at_the_deadline(place, factory, clock):
    booking = desk_booking(factory, place, credit_half_days=1)
    clock.advance(timedelta(minutes=89, seconds=59))
    assert run_tick(clock).jobs["no_shows"] == 0
    db.session.expire_all()
    assert booking.status is BookingStatus.CONFIRMED
    clock.advance(timedelta(seconds=1))  # 10:30
    assert run_tick(clock).jobs["no_shows"] == 1
    db.session.expire_all()
    assert booking.status is BookingStatus.CANCELLED
    assert booking.no_show_at == booking.cancelled_at == at(MON, 10, 30)
    assert booking.cancel_reason == "no_show" and booking.cancelled_by_id is None
    assert booking.sequence == 1 and booking.updated_at == at(MON, 10, 30)
    assert booking.credit_half_days == 1  # as any cancellation after the start: used
    [entry] = audits("booking.no_show_released")
    assert entry.object_id == booking.id and entry.actor_id is None
    [mail] = no_show_mails()
    assert mail.payload == {"booking_id": booking.id} and mail.key == f"mail.no_show:{booking.id}"


def test_a_paid_no_show_is_not_refunded(place, factory, clock):
    from schiller40.payments.models import Refund

    booking = desk_booking(factory, place, price_gross_cents=700, price_net_cents=588,
                           price_tax_cents=112)
    clock.advance(timedelta(hours=2))
    run_tick(clock)
    db.session.expire_all()
    assert booking.status is BookingStatus.CANCELLED
    assert factory.count(Refund) == 0


def test_checked_in_desks_studios_and_other_days_are_left_alone(place, factory, clock):
    here = desk_booking(factory, place, desk=0)
    studio = factory.booking(resource=place.studio, user=place.member, starts_at=at(MON, 9),
                             duration=timedelta(hours=3))
    tomorrow = factory.booking(resource=place.desks[2], user=place.member,
                               starts_at=at(MON, 9) + timedelta(days=1))
    over = factory.booking(resource=place.desks[3], user=place.member, starts_at=at(MON, 6),
                           duration=timedelta(hours=2))
    check_in(place.member, here, clock)
    clock.advance(timedelta(hours=2))
    assert run_tick(clock).jobs["no_shows"] == 0
    db.session.expire_all()
    for booking in (here, studio, tomorrow, over):
        assert booking.status is BookingStatus.CONFIRMED and booking.no_show_at is None
    assert no_show_mails() == []


def test_a_late_booking_gets_its_own_deadline(place, factory, clock):
    """Booked at 11:00 for the afternoon: due at 13:00 + 90 min, not at 10:30."""
    clock.advance(timedelta(hours=2))  # 11:00
    afternoon = desk_booking(factory, place, hh=13, hours=7)
    clock.advance(timedelta(hours=3, minutes=29))  # 14:29
    assert run_tick(clock).jobs["no_shows"] == 0
    clock.advance(timedelta(minutes=1))  # 14:30
    assert run_tick(clock).jobs["no_shows"] == 1
    db.session.expire_all()
    assert afternoon.no_show_at == at(MON, 14, 30)


def test_two_ticks_release_once_and_queue_one_mail(place, factory, clock):
    desk_booking(factory, place)
    clock.advance(timedelta(hours=2))
    assert run_tick(clock).jobs["no_shows"] == 1
    assert run_tick(clock).jobs["no_shows"] == 0
    assert len(audits("booking.no_show_released")) == 1
    assert len(no_show_mails()) == 1


def test_the_released_desk_is_offered_to_the_waiting_list(place, factory, clock):
    booking = desk_booking(factory, place, hh=8, hours=12)  # the whole day
    waiting = factory.user(tier=place.tier)
    entry = WaitlistEntry(resource=place.desks[0], user=waiting, starts_at=at(MON, 13),
                          ends_at=at(MON, 20), status=WaitlistStatus.WAITING,
                          created_at=clock(), updated_at=clock())
    db.session.add(entry)
    clock.advance(timedelta(minutes=30))  # 09:30 = 08:00 + 90 min
    assert run_tick(clock).jobs["no_shows"] == 1
    db.session.expire_all()
    assert booking.status is BookingStatus.CANCELLED
    assert entry.status is WaitlistStatus.OFFERED and entry.offered_at == at(MON, 9, 30)


def test_the_grace_is_configurable(app, place, factory, clock):
    app.config["CHECKIN_GRACE_MINUTES"] = 30
    booking_settings.install(app)  # as create_app does with the operator's setting
    booking = desk_booking(factory, place)
    clock.advance(timedelta(minutes=30))
    assert run_tick(clock).jobs["no_shows"] == 1
    db.session.expire_all()
    assert booking.no_show_at == at(MON, 9, 30)


# --- what staff see ------------------------------------------------------------------------


def test_no_show_counts_cover_90_days(place, factory, clock):
    other = factory.user(tier=place.tier)
    for days in (1, 40, 89):
        desk_booking(factory, place, status=BookingStatus.CANCELLED,
                     no_show_at=clock() - timedelta(days=days))
    desk_booking(factory, place, status=BookingStatus.CANCELLED,
                 no_show_at=clock() - timedelta(days=91))
    desk_booking(factory, place, user=other, status=BookingStatus.CANCELLED,
                 no_show_at=clock() - timedelta(days=2))
    counts = checkin.no_show_counts(db.session, [place.member.id, other.id, place.staff.id],
                                    now=clock())
    assert counts == {place.member.id: 3, other.id: 1}
    assert len(checkin.recent_no_shows(db.session, place.member.id, now=clock())) == 3
    repeated = set(db.session.scalars(checkin.repeated_no_show_users(clock())))
    assert repeated == {place.member.id}


# --- the member's pages --------------------------------------------------------------------


@pytest.fixture
def mia(app, place):
    from tests.helpers import browser

    return browser(app, place.member)


def test_the_booking_page_shows_the_deadline_and_checks_in(mia, place, factory, clock):
    place.member.locale = "en"
    booking = desk_booking(factory, place)
    detail = f"/bookings/{booking.id}"
    section = page(mia.get(detail)).by_id("check-in")
    assert section is not None and "Check in by 10:30" in section.text
    assert [f for f in page(mia.get(detail)).find_all("form")
            if f.attrs.get("action") == f"{detail}/check-in"]
    clock.advance(timedelta(minutes=12))
    response = mia.post(f"{detail}/check-in", data={"next": detail})
    assert response.status_code == 302 and response.headers["Location"] == detail
    db.session.expire_all()
    assert booking.checked_in_at == at(MON, 9, 12)
    after = page(mia.get(detail))
    assert "Checked in at 9:12" in after.by_id("check-in").text
    assert not [f for f in after.find_all("form") if f.attrs.get("action", "").endswith(
        "/check-in")]


def test_the_german_booking_page(mia, place, factory, clock):
    booking = desk_booking(factory, place)
    section = page(mia.get(f"/bookings/{booking.id}")).by_id("check-in")
    assert "Einchecken bis 10:30" in section.text


def test_a_refusal_is_flashed_and_nothing_changes(mia, place, factory, clock):
    place.member.locale = "en"
    booking = desk_booking(factory, place, hh=13)
    response = mia.post(f"/bookings/{booking.id}/check-in", data={"next": "/bookings"})
    assert response.headers["Location"] == "/bookings"
    assert "too early to check in" in page(mia.get("/bookings")).text
    db.session.expire_all()
    assert booking.checked_in_at is None


def test_someone_elses_booking_is_404_and_next_cannot_leave_the_site(
    mia, place, factory, clock
):
    other = desk_booking(factory, place, user=factory.user(tier=place.tier), desk=1)
    assert mia.post(f"/bookings/{other.id}/check-in").status_code == 404
    assert mia.get(f"/bookings/{other.id}").status_code == 404
    mine = desk_booking(factory, place)
    response = mia.post(f"/bookings/{mine.id}/check-in", data={"next": "//evil.example/"})
    assert response.headers["Location"] == f"/bookings/{mine.id}"


def test_my_bookings_offers_check_in_for_todays_desks(mia, place, factory, clock):
    place.member.locale = "en"
    today = desk_booking(factory, place)
    factory.booking(resource=place.desks[1], user=place.member,
                    starts_at=at(MON, 9) + timedelta(days=1))
    html = page(mia.get("/bookings"))
    forms = [f.attrs["action"] for f in html.find_all("form")
             if f.attrs.get("action", "").endswith("/check-in")]
    assert forms == [f"/bookings/{today.id}/check-in"]
    assert "Check in by 10:30" in html.text
    mia.post(f"/bookings/{today.id}/check-in", data={"next": "/bookings"})
    assert "Checked in at 9:00" in page(mia.get("/bookings")).text


def test_a_released_booking_says_why(mia, place, factory, clock):
    place.member.locale = "en"
    booking = desk_booking(factory, place)
    clock.advance(timedelta(minutes=90))
    run_tick(clock)
    text = page(mia.get(f"/bookings/{booking.id}")).text
    assert "Released at 10:30 AM because nobody had checked in by 10:30" in text
    assert "released for others: nobody had checked in by 10:30" in text


# --- several workers and a member at the same instant (threads, both databases) ----------


def _race(app, *jobs):
    """Run each job in its own thread and app context (its own session), all at once."""
    import threading

    barrier = threading.Barrier(len(jobs), timeout=30)
    results: list = [None] * len(jobs)

    def run(i, job):
        with app.app_context():
            try:
                barrier.wait()
                results[i] = job()
            except Exception as exc:  # reported below, never swallowed
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    return results


def test_two_workers_at_once_release_each_desk_once(app, place, factory, clock):
    from schiller40.booking.settings import DEFAULT_SETTINGS

    for n in range(4):
        desk_booking(factory, place, desk=n)
    db.session.commit()
    clock.advance(timedelta(minutes=90))

    def release():
        return checkin.release_no_shows(db.session, now=clock(), grace=timedelta(minutes=90),
                                        settings=DEFAULT_SETTINGS)

    results = _race(app, release, release)
    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 4
    assert len(audits("booking.no_show_released")) == 4
    assert len(no_show_mails()) == 4


def test_a_check_in_racing_the_release_never_both_win(app, place, factory, clock):
    from schiller40.booking.settings import DEFAULT_SETTINGS

    booking = desk_booking(factory, place)
    member_id, booking_id = place.member.id, booking.id
    db.session.commit()
    clock.advance(timedelta(minutes=90))

    def member_checks_in():
        from schiller40.accounts.models import User

        member = db.session.get(User, member_id)
        return checkin.check_in(db.session, actor=member, booking_id=booking_id,
                                now=clock()).checked_in_at

    def worker_releases():
        return checkin.release_no_shows(db.session, now=clock(), grace=timedelta(minutes=90),
                                        settings=DEFAULT_SETTINGS)

    checked, released = _race(app, member_checks_in, worker_releases)
    db.session.expire_all()
    if released == 1:  # the worker came first: the member is refused, cleanly
        assert isinstance(checked, checkin.CheckInRefused) and checked.code == "released"
        assert booking.checked_in_at is None and booking.status is BookingStatus.CANCELLED
    else:  # the member came first: the desk stays theirs
        assert released == 0 and checked == clock()
        assert booking.no_show_at is None and booking.status is BookingStatus.CONFIRMED


def test_a_move_to_another_day_needs_a_new_check_in_a_move_within_the_day_keeps_it(
    place, factory, clock,
):
    from schiller40.booking.reschedule import reschedule

    booking = desk_booking(factory, place, hh=13, hours=7)  # the afternoon half day
    clock.set(at(MON, 12, 40))
    check_in(place.member, booking, clock)
    moved = reschedule(db.session, actor=place.staff, booking_id=booking.id,
                       start=at(MON, 13), end=at(MON, 20), now=clock(),
                       resource_slug=place.desks[1].slug)
    assert moved.checked_in_at == at(MON, 12, 40)  # another desk, same day: still here
    tuesday = MON + timedelta(days=1)
    moved = reschedule(db.session, actor=place.member, booking_id=booking.id,
                       start=at(tuesday, 13), end=at(tuesday, 20), now=clock())
    assert moved.checked_in_at is None
    # Tuesday without a check-in: released as a no-show at 14:30 like any other.
    clock.set(at(tuesday, 14, 30))
    run_tick(clock)
    db.session.expire_all()
    assert db.session.get(type(booking), booking.id).no_show_at == at(tuesday, 14, 30)
