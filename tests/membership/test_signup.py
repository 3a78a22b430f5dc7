"""Members sign themselves up (membership/signup.py), on both databases: a self-service tier
without a monthly fee is in force at once; an on-request tier becomes a request that staff
confirm or decline; a request never counts as a membership; one open request per member,
however often (and however concurrently) the form is sent."""

from __future__ import annotations

import threading
import traceback
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from schiller40.booking import snapshots
from schiller40.booking.errors import BookingError
from schiller40.booking.settings import current_settings
from schiller40.core.outbox import OutboxMessage
from schiller40.errors import InvalidInput, NotFound
from schiller40.extensions import db
from schiller40.members import privacy
from schiller40.membership import signup
from schiller40.membership.models import (
    Membership,
    MembershipRequest,
    MembershipStatus,
    RequestStatus,
    SignupMode,
    Tier,
)
from schiller40.membership.notice import last_day_when_cancelled
from schiller40.models import AuditEntry, ResourceKind, User
from schiller40.payments.setup import gateway
from tests.factories import PASSWORD
from tests.helpers import MON, TUE, book_hours

from ..mail.helpers import run_tick
from ..mailbox import body

TODAY = MON  # the frozen clock's day


@pytest.fixture
def offer(factory, place) -> dict[str, Tier]:
    """The four ways to get a tier."""
    tiers = {
        "day_pass": factory.tier(
            slug="day-pass", name="Tagespass", monthly_price_cents=0, included_desk_days=0,
            included_studio_hours=0, prices={ResourceKind.DESK: (None, 900, 1500)},
            signup_mode=SignupMode.SELF_SERVICE,
        ),
        "flex": factory.tier(slug="flex-online", name="Flex online",
                             signup_mode=SignupMode.SELF_SERVICE, notice_days=14),
        "resident": factory.tier(slug="resident", name="Resident",
                                 signup_mode=SignupMode.ON_REQUEST, notice_days=90),
        # on request without a monthly fee: confirmed, in force at once
        "startup": factory.tier(slug="startup", name="Startup", monthly_price_cents=0,
                                signup_mode=SignupMode.ON_REQUEST, notice_days=30),
        "legacy": factory.tier(slug="legacy", name="Altvertrag"),  # staff only (the default)
    }
    db.session.commit()
    return tiers


def actions(user_id: int) -> list[str]:
    return list(db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.object_id == user_id,
                                        AuditEntry.object_type == "user")
        .order_by(AuditEntry.id)
    ))


def topics(user_id: int) -> list[str]:
    return list(db.session.scalars(
        select(OutboxMessage.topic).where(OutboxMessage.user_id == user_id)
        .order_by(OutboxMessage.id)
    ))


def requests_of(user: User) -> list[MembershipRequest]:
    db.session.rollback()  # a fresh snapshot: other sessions may have written
    return list(db.session.scalars(
        select(MembershipRequest).where(MembershipRequest.user_id == user.id)
        .order_by(MembershipRequest.id)
    ))


# --- choosing a tier --------------------------------------------------------------------------


def test_a_new_member_chooses_the_day_pass_and_books_at_once(place, offer, factory, clock,
                                                             inbox):
    newcomer = factory.user(name="Nora Neu")
    db.session.commit()
    membership = signup.choose_tier(
        db.session, member=newcomer, tier_id=offer["day_pass"].id, now=clock()
    )
    db.session.expire_all()
    assert (membership.tier.slug, membership.valid_from, membership.valid_until,
            membership.status) == ("day-pass", TODAY, None, MembershipStatus.ACTIVE)
    assert snapshots.membership_on(db.session, newcomer.id, TODAY).id == membership.id
    assert actions(newcomer.id) == ["membership.chosen"]
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "membership.chosen")).one()
    assert entry.actor_id == newcomer.id
    assert entry.details == {"membership": membership.id, "tier": "day-pass",
                             "valid_from": TODAY.isoformat()}
    assert topics(newcomer.id) == [signup.WELCOME_TOPIC]

    # A desk at once, paid per booking: held until the member pays.
    [booking] = book_hours(newcomer, place.desks[0], clock, day=TUE, start=8, end=13)
    assert booking.price_gross_cents == 900

    run_tick(clock)
    message = inbox.only()
    assert message["To"].addresses[0].addr_spec == newcomer.email
    assert message["Subject"] == "Willkommen bei Schiller40: Ihr Tarif Tagespass"
    assert "Tagespass" in body(message) and "/account/membership" in body(message)


def test_choosing_is_refused_with_a_membership_in_force_or_planned(place, offer, factory,
                                                                   clock):
    with pytest.raises(signup.AlreadyMember) as refused:
        signup.choose_tier(db.session, member=place.member, tier_id=offer["day_pass"].id,
                           now=clock())
    assert refused.value.code == "already_member" and refused.value.status == 409

    later = factory.user()
    factory.membership(user=later, tier=offer["flex"], valid_from=TODAY + timedelta(days=7))
    db.session.commit()
    with pytest.raises(signup.AlreadyMember):
        signup.choose_tier(db.session, member=later, tier_id=offer["day_pass"].id,
                           now=clock())

    # An ended or withdrawn membership does not count.
    former = factory.user()
    factory.membership(user=former, tier=offer["flex"], valid_until=TODAY - timedelta(days=1))
    factory.membership(user=former, tier=offer["flex"], valid_from=TODAY + timedelta(days=3),
                       status=MembershipStatus.CANCELLED)
    db.session.commit()
    chosen = signup.choose_tier(db.session, member=former, tier_id=offer["day_pass"].id,
                                now=clock())
    assert chosen.valid_from == TODAY
    assert db.session.scalars(select(Membership).where(
        Membership.user_id == later.id)).one().tier.slug == "flex-online"  # untouched


@pytest.mark.parametrize("which", ["flex", "resident", "legacy"])
def test_only_a_self_service_tier_without_fee_is_chosen(place, offer, factory, clock, which):
    newcomer = factory.user()
    db.session.commit()
    with pytest.raises(signup.NotOffered):
        signup.choose_tier(db.session, member=newcomer, tier_id=offer[which].id, now=clock())
    assert requests_of(newcomer) == [] and actions(newcomer.id) == []
    assert db.session.scalars(select(Membership).where(
        Membership.user_id == newcomer.id)).all() == []


def test_an_inactive_or_unknown_tier_is_not_found(place, offer, factory, clock):
    newcomer = factory.user()
    offer["day_pass"].is_active = False
    db.session.commit()
    for tier_id in (offer["day_pass"].id, 999_999):
        with pytest.raises(NotFound):
            signup.choose_tier(db.session, member=newcomer, tier_id=tier_id, now=clock())


# --- requests ---------------------------------------------------------------------------------


def test_a_request_is_not_a_membership_until_staff_confirm_it(place, offer, factory, clock,
                                                             inbox):
    newcomer = factory.user(name="Rita Startup")
    db.session.commit()
    request = signup.request_tier(db.session, member=newcomer, tier_id=offer["startup"].id,
                                  message="  Vertrag liegt vor.  ", now=clock())
    assert (request.status, request.message) == (RequestStatus.OPEN, "Vertrag liegt vor.")
    # Nothing that reads memberships sees it.
    assert snapshots.membership_on(db.session, newcomer.id, TODAY) is None
    assert db.session.get(User, newcomer.id).memberships == []
    assert signup.current_and_planned(db.session, newcomer.id, TODAY) == []
    with pytest.raises(BookingError):
        book_hours(newcomer, place.desks[0], clock, day=TUE, start=8, end=13)
    assert signup.open_requests(db.session) == [request]
    assert actions(newcomer.id) == ["membership.requested"]
    assert topics(newcomer.id) == []  # the answer is the mail

    start = TODAY + timedelta(days=7)
    confirmed = signup.confirm_request(db.session, actor=place.staff, request_id=request.id,
                                       valid_from=start, now=clock())
    db.session.expire_all()
    assert confirmed.status is RequestStatus.CONFIRMED
    assert confirmed.decided_by_id == place.staff.id and confirmed.decided_at == clock()
    membership = confirmed.membership
    assert (membership.tier.slug, membership.valid_from, membership.valid_until) == (
        "startup", start, None)
    assert snapshots.membership_on(db.session, newcomer.id, start) == membership
    assert signup.open_requests(db.session) == []
    assert actions(newcomer.id) == ["membership.requested", "membership.assigned",
                                    "membership.request_confirmed"]
    assert topics(newcomer.id) == [signup.CONFIRMED_TOPIC]
    run_tick(clock)
    message = inbox.only()
    assert message["Subject"] == "Ihre Mitgliedschaft im Tarif Startup ist bestätigt"
    assert "30. November 2026" in body(message)

    with pytest.raises(signup.RequestDecided):
        signup.decline_request(db.session, actor=place.staff, request_id=request.id,
                               reason="zu spät", now=clock())


def test_confirming_moves_a_member_from_the_day_pass(place, offer, factory, clock):
    member = factory.user()
    db.session.commit()
    day_pass = signup.choose_tier(db.session, member=member, tier_id=offer["day_pass"].id,
                                  now=clock())
    request = signup.request_tier(db.session, member=member, tier_id=offer["startup"].id,
                                  message="", now=clock())
    start = TODAY + timedelta(days=8)
    signup.confirm_request(db.session, actor=place.staff, request_id=request.id,
                           valid_from=start, now=clock())
    db.session.expire_all()
    assert db.session.get(Membership, day_pass.id).valid_until == start - timedelta(days=1)


def test_staff_decline_with_a_reason(place, offer, factory, clock, inbox):
    newcomer = factory.user(locale="en")
    db.session.commit()
    request = signup.request_tier(db.session, member=newcomer, tier_id=offer["startup"].id,
                                  message="", now=clock())
    with pytest.raises(InvalidInput) as missing:
        signup.decline_request(db.session, actor=place.staff, request_id=request.id,
                               reason="   ", now=clock())
    assert "reason" in missing.value.fields
    declined = signup.decline_request(
        db.session, actor=place.staff, request_id=request.id,
        reason="Startup tier is for companies founded in Wolfsburg.", now=clock(),
    )
    db.session.expire_all()
    assert declined.status is RequestStatus.DECLINED and declined.membership is None
    assert db.session.get(User, newcomer.id).memberships == []
    assert actions(newcomer.id)[-1] == "membership.request_declined"
    run_tick(clock)
    message = inbox.only()
    assert message["Subject"] == "Your request for Startup"
    assert "founded in Wolfsburg" in body(message) and "founded in Wolfsburg" in body(
        message, "html")
    # Declined: the member may ask again.
    again = signup.request_tier(db.session, member=newcomer, tier_id=offer["startup"].id,
                                message="", now=clock())
    assert again.id != request.id and again.is_open


def test_members_cannot_answer_requests(place, offer, factory, clock):
    newcomer = factory.user()
    db.session.commit()
    request = signup.request_tier(db.session, member=newcomer, tier_id=offer["resident"].id,
                                  message="", now=clock())
    with pytest.raises(NotFound):
        signup.confirm_request(db.session, actor=newcomer, request_id=request.id,
                               valid_from=TODAY, now=clock())
    with pytest.raises(NotFound):
        signup.decline_request(db.session, actor=place.member, request_id=request.id,
                               reason="no", now=clock())
    assert requests_of(newcomer)[0].is_open


def test_a_request_cannot_start_in_the_past(place, offer, factory, clock):
    newcomer = factory.user()
    db.session.commit()
    request = signup.request_tier(db.session, member=newcomer, tier_id=offer["resident"].id,
                                  message="", now=clock())
    with pytest.raises(InvalidInput) as refused:
        signup.confirm_request(db.session, actor=place.staff, request_id=request.id,
                               valid_from=TODAY - timedelta(days=1), now=clock())
    assert "valid_from" in refused.value.fields
    assert requests_of(newcomer)[0].is_open


def test_one_open_request_per_member(place, offer, factory, clock):
    newcomer = factory.user()
    db.session.commit()
    first = signup.request_tier(db.session, member=newcomer, tier_id=offer["resident"].id,
                                message="a", now=clock())
    second = signup.request_tier(db.session, member=newcomer, tier_id=offer["resident"].id,
                                 message="a", now=clock())
    assert second.id == first.id  # the same form sent twice
    with pytest.raises(signup.RequestOpen):
        signup.request_tier(db.session, member=newcomer, tier_id=offer["startup"].id,
                            message="", now=clock())
    with pytest.raises(signup.NotOffered):
        signup.request_tier(db.session, member=newcomer, tier_id=offer["legacy"].id,
                            message="", now=clock())
    with pytest.raises(InvalidInput):
        signup.request_tier(db.session, member=newcomer, tier_id=offer["startup"].id,
                            message="x" * (signup.MESSAGE_MAX + 1), now=clock())
    assert [r.id for r in requests_of(newcomer)] == [first.id]
    assert actions(newcomer.id) == ["membership.requested"]


def test_the_database_keeps_a_member_to_one_open_request(place, offer, factory, clock):
    newcomer = factory.user()
    db.session.commit()

    def open_request(tier: Tier) -> MembershipRequest:
        return MembershipRequest(user=newcomer, tier=tier, status=RequestStatus.OPEN,
                                 message="", decline_reason="", created_at=clock())

    db.session.add(open_request(offer["resident"]))
    db.session.commit()
    db.session.add(open_request(offer["startup"]))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    # Answered requests do not count: any number of them.
    for _ in range(2):
        row = open_request(offer["startup"])
        row.status = RequestStatus.DECLINED
        db.session.add(row)
    db.session.commit()
    assert len(requests_of(newcomer)) == 3


def test_a_double_submit_from_two_servers_makes_one_request(app, place, offer, factory, clock):
    newcomer = factory.user()
    db.session.commit()
    member_id, tier_id = newcomer.id, offer["resident"].id
    racers = 4
    barrier = threading.Barrier(racers)
    results: list[object] = [None] * racers

    def run(i: int) -> None:
        # Its own app context: its own database session, as in another server process.
        with app.app_context():
            try:
                member = db.session.get(User, member_id)
                barrier.wait(timeout=30)
                results[i] = signup.request_tier(
                    db.session, member=member, tier_id=tier_id, message="", now=clock()
                ).id
            except BaseException:
                barrier.abort()
                results[i] = traceback.format_exc()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a request hung (deadlock?)"
    assert all(isinstance(r, int) for r in results), results
    [request] = requests_of(newcomer)
    assert set(results) == {request.id}
    db.session.expire_all()
    assert actions(member_id) == ["membership.requested"]


def test_the_data_export_lists_requests_and_deletion_removes_them(place, offer, factory,
                                                                  clock):
    newcomer = factory.user()
    db.session.commit()
    signup.request_tier(db.session, member=newcomer, tier_id=offer["resident"].id,
                        message="Mein Vertrag", now=clock())
    exported = privacy.export_data(db.session, user=newcomer, now=clock())
    assert [(r["tier"]["slug"], r["status"], r["message"])
            for r in exported["membership_requests"]] == [("resident", "open", "Mein Vertrag")]
    privacy.delete_account(db.session, gateway(), actor=newcomer, user=newcomer,
                           password=PASSWORD, now=clock(), settings=current_settings())
    assert requests_of(newcomer) == []
    assert signup.open_requests(db.session) == []


# --- notice periods (pure) --------------------------------------------------------------------


@pytest.mark.parametrize(("given_on", "days", "last_day"), [
    (date(2026, 3, 10), 14, date(2026, 3, 31)),
    (date(2026, 3, 20), 14, date(2026, 4, 30)),
    (date(2026, 3, 17), 14, date(2026, 3, 31)),  # exactly 14 days left
    (date(2026, 3, 31), 0, date(2026, 3, 31)),
    (date(2026, 11, 23), 90, date(2027, 2, 28)),
    (date(2027, 12, 15), 30, date(2028, 1, 31)),
])
def test_notice_ends_at_a_month_end(given_on, days, last_day):
    assert last_day_when_cancelled(given_on, days) == last_day


def test_negative_notice_is_a_bug():
    with pytest.raises(ValueError):
        last_day_when_cancelled(date(2026, 1, 1), -1)
