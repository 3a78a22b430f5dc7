"""Membership and induction services (staff use cases) on both databases: overlaps handled,
dates in the past refused, audit entries written, and the booking engine honouring an
induction as soon as it is granted and no longer once it is revoked."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from schiller40.accounts import admin
from schiller40.booking.cancel import cancel
from schiller40.booking.errors import BookingError
from schiller40.errors import Conflict, InvalidInput, NotFound
from schiller40.extensions import db
from schiller40.membership import service
from schiller40.models import (
    AuditEntry,
    Company,
    Induction,
    Membership,
    MembershipStatus,
    Role,
    User,
)
from tests.helpers import MON, TUE, at, book

TODAY = MON  # the frozen clock's day


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def memberships(user: User) -> list[Membership]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(Membership).where(Membership.user_id == user.id).order_by(Membership.valid_from)
    ))


# --- assign_tier ---------------------------------------------------------------------------


def test_assigning_from_today_ends_the_current_membership_yesterday(place, clock, factory):
    pro = factory.tier(slug="pro", name="Pro")
    db.session.commit()
    new = service.assign_tier(
        db.session, actor=place.staff, member_id=place.member.id, tier_id=pro.id,
        valid_from=TODAY, valid_until=None, now=clock(),
    )
    old, current = memberships(place.member)
    assert old.valid_until == TODAY - timedelta(days=1)
    assert (current.id, current.tier_id, current.valid_from, current.valid_until) == (
        new.id, pro.id, TODAY, None)
    db.session.expire_all()
    assert db.session.get(User, place.member.id).active_membership(clock()).tier.slug == "pro"
    assert actions()[-2:] == ["membership.ended", "membership.assigned"]
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "membership.assigned")).one()
    assert entry.actor_id == place.staff.id and entry.object_id == place.member.id
    assert entry.details["tier"] == "pro" and entry.details["ended"][0]["membership"] == old.id


def test_a_later_start_keeps_the_current_tier_until_the_day_before(place, clock, factory):
    pro = factory.tier(slug="pro")
    db.session.commit()
    service.assign_tier(
        db.session, actor=place.staff, member_id=place.member.id, tier_id=pro.id,
        valid_from=date(2026, 12, 1), valid_until=date(2027, 5, 31), now=clock(),
    )
    old, new = memberships(place.member)
    assert old.valid_until == date(2026, 11, 30) and old.tier_id == place.tier.id
    assert (new.valid_from, new.valid_until) == (date(2026, 12, 1), date(2027, 5, 31))


def test_a_planned_membership_in_the_way_is_refused_not_cut(place, clock, factory):
    pro = factory.tier(slug="pro")
    factory.membership(user=place.member, tier=pro, valid_from=date(2027, 1, 1))
    # end the open-ended flex membership so the planned one is the only later one
    place.member.memberships[-1].valid_until = date(2026, 12, 31)
    db.session.commit()
    before = [(m.id, m.valid_from, m.valid_until) for m in memberships(place.member)]
    with pytest.raises(Conflict) as error:
        service.assign_tier(
            db.session, actor=place.staff, member_id=place.member.id, tier_id=place.tier.id,
            valid_from=date(2026, 12, 15), valid_until=None, now=clock(),
        )
    assert "valid_from" in error.value.fields
    db.session.rollback()
    assert [(m.id, m.valid_from, m.valid_until) for m in memberships(place.member)] == before
    assert "membership.assigned" not in actions()


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "field"),
    [
        (TODAY - timedelta(days=1), None, "valid_from"),
        (TODAY + timedelta(days=5), TODAY + timedelta(days=4), "valid_until"),
        (date(2100, 1, 1), None, "valid_from"),
    ],
)
def test_bad_dates_are_refused_and_nothing_changes(place, clock, valid_from, valid_until, field):
    with pytest.raises(InvalidInput) as error:
        service.assign_tier(
            db.session, actor=place.staff, member_id=place.member.id, tier_id=place.tier.id,
            valid_from=valid_from, valid_until=valid_until, now=clock(),
        )
    assert list(error.value.fields) == [field]
    db.session.rollback()
    assert len(memberships(place.member)) == 1 and memberships(place.member)[0].valid_until is None


def test_an_inactive_or_unknown_tier_is_refused(place, clock, factory):
    old = factory.tier(slug="old", is_active=False)
    db.session.commit()
    for tier_id in (old.id, 999_999):
        with pytest.raises(InvalidInput) as error:
            service.assign_tier(
                db.session, actor=place.staff, member_id=place.member.id, tier_id=tier_id,
                valid_from=TODAY, valid_until=None, now=clock(),
            )
        assert "tier" in error.value.fields
        db.session.rollback()


def test_members_cannot_use_the_services(place, clock, factory):
    other = factory.user()
    db.session.commit()
    with pytest.raises(NotFound):
        service.assign_tier(
            db.session, actor=place.member, member_id=other.id, tier_id=place.tier.id,
            valid_from=TODAY, valid_until=None, now=clock(),
        )
    db.session.rollback()
    with pytest.raises(NotFound):
        service.grant_induction(db.session, actor=place.member, member_id=place.member.id,
                                topic="ar-vr-studio", trained_on=TODAY, now=clock())


# --- end / withdraw ------------------------------------------------------------------------


def test_end_a_membership_today_or_later(place, clock):
    membership = place.member.memberships[0]
    service.end_membership(db.session, actor=place.staff, member_id=place.member.id,
                           membership_id=membership.id, last_day=TODAY, now=clock())
    assert memberships(place.member)[0].valid_until == TODAY
    assert actions()[-1] == "membership.ended"
    with pytest.raises(InvalidInput) as error:
        service.end_membership(db.session, actor=place.staff, member_id=place.member.id,
                               membership_id=membership.id,
                               last_day=TODAY - timedelta(days=1), now=clock())
    assert "last_day" in error.value.fields
    db.session.rollback()
    assert memberships(place.member)[0].valid_until == TODAY


def test_end_refuses_a_day_before_the_start_and_an_overlap(place, clock, factory):
    pro = factory.tier(slug="pro")
    db.session.commit()
    service.assign_tier(db.session, actor=place.staff, member_id=place.member.id, tier_id=pro.id,
                        valid_from=date(2027, 1, 1), valid_until=None, now=clock())
    flex, planned = memberships(place.member)
    with pytest.raises(InvalidInput):
        service.end_membership(db.session, actor=place.staff, member_id=place.member.id,
                               membership_id=planned.id, last_day=date(2026, 12, 1),
                               now=clock())
    db.session.rollback()
    with pytest.raises(Conflict):  # extending flex would run into the planned Pro membership
        service.end_membership(db.session, actor=place.staff, member_id=place.member.id,
                               membership_id=flex.id, last_day=date(2027, 2, 1), now=clock())
    db.session.rollback()


def test_withdraw_only_a_membership_that_has_not_started(place, clock, factory):
    pro = factory.tier(slug="pro")
    db.session.commit()
    service.assign_tier(db.session, actor=place.staff, member_id=place.member.id, tier_id=pro.id,
                        valid_from=date(2027, 1, 1), valid_until=None, now=clock())
    flex, planned = memberships(place.member)
    with pytest.raises(InvalidInput):
        service.withdraw_membership(db.session, actor=place.staff, member_id=place.member.id,
                                    membership_id=flex.id, now=clock())
    db.session.rollback()
    service.withdraw_membership(db.session, actor=place.staff, member_id=place.member.id,
                                membership_id=planned.id, now=clock())
    flex, planned = memberships(place.member)
    assert planned.status is MembershipStatus.CANCELLED
    assert actions()[-1] == "membership.withdrawn"
    # the flex membership may now run on again past the withdrawn one's start
    service.end_membership(db.session, actor=place.staff, member_id=place.member.id,
                           membership_id=flex.id, last_day=date(2027, 6, 30), now=clock())
    assert memberships(place.member)[0].valid_until == date(2027, 6, 30)


def test_another_members_membership_is_not_found(place, clock, factory):
    other = factory.user(tier=place.tier)
    db.session.commit()
    with pytest.raises(NotFound):
        service.end_membership(db.session, actor=place.staff, member_id=place.member.id,
                               membership_id=other.memberships[0].id, last_day=TODAY,
                               now=clock())


# --- inductions and the booking engine -----------------------------------------------------


def book_studio(member, clock):
    return book(member, clock, resource_slug="studio", start=at(TUE, 10), end=at(TUE, 11))


def test_a_granted_induction_lets_the_member_book_the_studio_and_a_revoked_one_stops_it(
    place, clock, factory
):
    newcomer = factory.user(tier=place.tier)
    db.session.commit()
    with pytest.raises(BookingError) as refused:
        book_studio(newcomer, clock)
    assert refused.value.code == "not_entitled"
    db.session.rollback()

    induction = service.grant_induction(
        db.session, actor=place.staff, member_id=newcomer.id, topic="ar-vr-studio",
        trained_on=TODAY - timedelta(days=3), note="Trained by Jonas", now=clock(),
    )
    assert induction.granted_by_id == place.staff.id
    assert induction.granted_at == at(TODAY - timedelta(days=3), 12)
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "induction.granted")).one()
    assert entry.details["note"] == "Trained by Jonas" and entry.object_id == newcomer.id

    booked = book_studio(newcomer, clock).bookings[0]
    assert booked.resource.slug == "studio"
    cancel(db.session, actor=newcomer, booking_id=booked.id, now=clock())

    service.revoke_induction(db.session, actor=place.staff, member_id=newcomer.id,
                             induction_id=induction.id, now=clock())
    assert actions()[-1] == "induction.revoked"
    db.session.expire_all()
    with pytest.raises(BookingError) as refused_again:
        book_studio(db.session.get(User, newcomer.id), clock)
    assert refused_again.value.code == "not_entitled"


def test_grant_checks_topic_date_note_and_duplicates(place, clock):
    def grant(**kw):
        values = dict(topic="ar-vr-studio", trained_on=TODAY, note="", now=clock())
        values.update(kw)
        return service.grant_induction(db.session, actor=place.staff,
                                       member_id=place.member.id, **values)

    for kw, field in [
        (dict(topic="knitting"), "topic"),
        (dict(topic="ar-vr-studio ", trained_on=TODAY + timedelta(days=1)), "trained_on"),
        (dict(trained_on=date(1999, 12, 31)), "trained_on"),
        (dict(note="x" * 501), "note"),
        (dict(), "topic"),  # mia already has it
    ]:
        with pytest.raises((InvalidInput, Conflict)) as error:
            grant(**kw)
        assert field in error.value.fields, kw
        db.session.rollback()
    assert db.session.scalars(select(Induction)).all() == [place.member.inductions[0]]


def test_revoking_someone_elses_induction_is_not_found(place, clock, factory):
    other = factory.user()
    db.session.commit()
    with pytest.raises(NotFound):
        service.revoke_induction(db.session, actor=place.staff, member_id=other.id,
                                 induction_id=place.member.inductions[0].id, now=clock())


# --- company and role (accounts.admin) -----------------------------------------------------


def test_set_company_existing_new_matching_and_none(place, clock, factory):
    acme = factory.company(name="ACME GmbH")
    db.session.commit()
    admin.set_company(db.session, actor=place.staff, member_id=place.member.id,
                      company_id=acme.id, now=clock())
    assert db.session.get(User, place.member.id).company_id == acme.id
    admin.set_company(db.session, actor=place.staff, member_id=place.member.id,
                      new_name="  acme gmbh ", now=clock())  # matches, no duplicate
    assert db.session.scalars(select(Company)).all() == [acme]
    admin.set_company(db.session, actor=place.staff, member_id=place.member.id,
                      new_name="Pixelwerk UG", now=clock())
    member = db.session.get(User, place.member.id)
    assert member.company.name == "Pixelwerk UG"
    admin.set_company(db.session, actor=place.staff, member_id=place.member.id, now=clock())
    db.session.expire_all()
    assert db.session.get(User, place.member.id).company_id is None
    assert actions().count("user.company_set") == 4 and "company.created" in actions()


def test_a_company_made_meanwhile_under_the_same_name_is_a_clear_conflict(
    place, clock, factory, monkeypatch
):
    """Two staff name the same new company at once: the second misses the first's row when
    it looks (simulated by a lookup that finds nothing) and the unique name refuses its
    insert. That one duplicate is answered with a message; nothing is changed."""
    factory.company(name="Race GmbH")
    db.session.commit()
    monkeypatch.setattr(admin, "find_company", lambda session, name: None)
    with pytest.raises(Conflict) as conflict:
        admin.set_company(db.session, actor=place.staff, member_id=place.member.id,
                          new_name="Race GmbH", now=clock())
    assert conflict.value.fields == {"new_name": [str(conflict.value.message)]}
    db.session.expire_all()
    assert db.session.get(User, place.member.id).company_id is None
    assert len(db.session.scalars(select(Company)).all()) == 1


def test_set_company_refuses_both_and_unknown(place, clock, factory):
    acme = factory.company()
    db.session.commit()
    with pytest.raises(InvalidInput):
        admin.set_company(db.session, actor=place.staff, member_id=place.member.id,
                          company_id=acme.id, new_name="Other", now=clock())
    db.session.rollback()
    with pytest.raises(InvalidInput):
        admin.set_company(db.session, actor=place.staff, member_id=place.member.id,
                          company_id=999_999, now=clock())
    db.session.rollback()
    assert db.session.get(User, place.member.id).company_id is None


def test_only_admins_change_roles_and_the_last_admin_stays(place, clock, factory):
    boss = factory.user(role=Role.ADMIN)
    db.session.commit()
    with pytest.raises(NotFound):
        admin.set_role(db.session, actor=place.staff, member_id=place.member.id,
                       role=Role.STAFF, now=clock())
    db.session.rollback()
    admin.set_role(db.session, actor=boss, member_id=place.member.id, role=Role.STAFF,
                   now=clock())
    assert db.session.get(User, place.member.id).role is Role.STAFF
    with pytest.raises(Conflict) as error:
        admin.set_role(db.session, actor=boss, member_id=boss.id, role=Role.MEMBER, now=clock())
    assert "role" in error.value.fields
    db.session.rollback()
    assert db.session.get(User, boss.id).role is Role.ADMIN
    admin.set_role(db.session, actor=boss, member_id=place.staff.id, role=Role.ADMIN,
                   now=clock())
    admin.set_role(db.session, actor=boss, member_id=boss.id, role=Role.STAFF, now=clock())
    db.session.expire_all()
    assert db.session.get(User, boss.id).role is Role.STAFF
    assert actions().count("user.role_changed") == 3
