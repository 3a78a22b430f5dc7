"""Company use cases: founding, billing data, invitations, the team, caps in the engine."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from schiller40.accounts import companies, invitations
from schiller40.accounts.companies import CompanyDetails, InvitationProblem, NotManager
from schiller40.accounts.models import Company, CompanyInvitation, User
from schiller40.booking import snapshots
from schiller40.core.audit import AuditEntry
from schiller40.core.outbox import OutboxMessage
from schiller40.errors import Conflict, InvalidInput, NotEntitled, NotFound
from schiller40.extensions import db
from schiller40.members.overview import location_rules_for
from tests.helpers import MON, count_rows, fresh

SECRET = "test-secret"


def details(name: str = "Wolfsbyte", **kw) -> CompanyDetails:
    values = dict(name=name, legal_name=f"{name} GmbH", street="Schillerstr. 40",
                  postal_code="38440", city="Wolfsburg", country="de",
                  vat_id="de 136 695 976", invoice_email="Rechnung@Example.org")
    values.update(kw)
    return CompanyDetails(**values)


def found(member, clock, **kw) -> Company:
    return companies.create_company(db.session, actor=member, details=details(**kw), now=clock())


def test_a_member_founds_a_company_and_manages_it(place, clock):
    company = found(place.member, clock)
    member = fresh(User, place.member.id)
    assert member.company_id == company.id and member.is_company_manager
    company = fresh(Company, company.id)
    assert (company.legal_name, company.country, company.vat_id, company.invoice_email) == (
        "Wolfsbyte GmbH", "DE", "DE136695976", "rechnung@example.org")
    assert company.billing_complete
    with pytest.raises(Conflict):  # one company at most
        found(fresh(User, place.member.id), clock, name="Second")


def test_staff_found_a_company_without_joining_it(place, clock):
    company = found(place.staff, clock, legal_name="")
    assert fresh(Company, company.id).legal_name == "Wolfsbyte"
    assert fresh(User, place.staff.id).company_id is None


@pytest.mark.parametrize(("field", "value"), [
    ("vat_id", "DE136695977"), ("leitweg_id", "04011000-1234512345-07"),
    ("invoice_email", "no address"), ("country", "Germany"), ("name", "  "),
])
def test_bad_billing_data_is_refused_beside_its_field(place, clock, field, value):
    with pytest.raises(InvalidInput) as caught:
        found(place.member, clock, **{field: value})
    assert field in caught.value.fields
    assert count_rows(Company) == 0


def test_a_name_taken_ignoring_case_is_a_conflict(place, factory, clock):
    factory.company(name="Wolfsbyte")
    db.session.commit()
    with pytest.raises(Conflict):
        found(place.member, clock, name="WOLFSBYTE")


def test_invitation_accept_and_the_link_works_once(place, factory, clock):
    company = found(place.member, clock)
    ina = factory.user(tier=place.tier, email="ina@example.org")
    db.session.commit()
    manager = fresh(User, place.member.id)
    invitation = companies.invite(db.session, actor=manager, company_id=company.id,
                                  email=" Ina@Example.org ", now=clock(), secret_key=SECRET)
    row = fresh(CompanyInvitation, invitation.id)
    assert row.email == "ina@example.org"
    token = invitations.token_for(row.nonce, SECRET)
    assert row.digest == invitations.digest(token) and token not in (row.digest, row.nonce)
    outbox = db.session.scalars(select(OutboxMessage)).one()
    assert outbox.topic == "mail.company_invitation"
    assert outbox.payload == {"invitation_id": row.id}  # never the token

    stranger = factory.user(email="stranger@example.org")
    db.session.commit()
    with pytest.raises(NotEntitled):  # another address's account
        companies.accept_invitation(db.session, actor=stranger, token=token, now=clock())
    companies.accept_invitation(db.session, actor=fresh(User, ina.id), token=token, now=clock())
    ina = fresh(User, ina.id)
    assert ina.company_id == company.id and not ina.is_company_manager
    with pytest.raises(InvitationProblem) as caught:
        companies.accept_invitation(db.session, actor=ina, token=token, now=clock())
    assert caught.value.reason == "used"
    with pytest.raises(InvitationProblem):
        companies.invitation_for(db.session, "x" * 43, now=clock())


def test_an_invitation_runs_out_and_can_be_withdrawn(place, clock):
    company = found(place.member, clock)
    manager = fresh(User, place.member.id)
    invitation = companies.invite(db.session, actor=manager, company_id=company.id,
                                  email="ina@example.org", now=clock(), secret_key=SECRET)
    token = invitations.token_for(fresh(CompanyInvitation, invitation.id).nonce, SECRET)
    with pytest.raises(InvitationProblem) as caught:
        companies.invitation_for(db.session, token,
                                 now=clock() + companies.INVITATION_LIFETIME)
    assert caught.value.reason == "expired"
    companies.withdraw_invitation(db.session, actor=manager, company_id=company.id,
                                  invitation_id=invitation.id, now=clock())
    with pytest.raises(InvitationProblem) as caught:
        companies.invitation_for(db.session, token, now=clock())
    assert caught.value.reason == "withdrawn"


def team(place, factory, clock):
    """Mia manages Wolfsbyte with Ina in it; Otto manages Other with Olga."""
    company = found(place.member, clock)
    ina = factory.user(tier=place.tier, email="ina@example.org")
    otto = factory.user(tier=place.tier, email="otto@example.org")
    olga = factory.user(tier=place.tier, email="olga@example.org")
    db.session.commit()
    other = found(otto, clock, name="Other", vat_id="")
    db.session.rollback()
    db.session.expire_all()
    ina.join_company(db.session.get(Company, company.id))
    olga.join_company(db.session.get(Company, other.id))
    db.session.commit()
    return company, other, ina, otto, olga


def test_a_member_of_another_company_learns_nothing_and_a_non_manager_may_not(
    place, factory, clock,
):
    company, other, ina, otto, _olga = team(place, factory, clock)
    otto = fresh(User, otto.id)
    for call in (
        lambda: companies.set_member_caps(db.session, actor=otto, company_id=company.id,
                                          member_id=ina.id, cap_desk_days=1, now=clock()),
        lambda: companies.set_member_caps(db.session, actor=otto, company_id=other.id,
                                          member_id=ina.id, cap_desk_days=1, now=clock()),
        lambda: companies.remove_member(db.session, actor=otto, company_id=company.id,
                                        member_id=ina.id, now=clock()),
        lambda: companies.update_company(db.session, actor=otto, company_id=company.id,
                                         details=details("Stolen"), now=clock()),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(NotManager):
        companies.remove_member(db.session, actor=fresh(User, ina.id), company_id=company.id,
                                member_id=place.member.id, now=clock())
    assert fresh(User, ina.id).company_id == company.id


def test_removing_and_leaving_keep_bookings_and_a_manager(place, factory, clock):
    company, _other, ina, *_ = team(place, factory, clock)
    manager = fresh(User, place.member.id)
    with pytest.raises(Conflict):  # the last manager hands over first
        companies.leave_company(db.session, actor=manager, now=clock())
    companies.remove_member(db.session, actor=manager, company_id=company.id,
                            member_id=ina.id, now=clock())
    assert fresh(User, ina.id).company_id is None
    companies.leave_company(db.session, actor=fresh(User, place.member.id), now=clock())
    member = fresh(User, place.member.id)
    assert member.company_id is None and not member.company_manager


def test_staff_set_and_unset_managers(place, factory, clock):
    company, _other, ina, *_ = team(place, factory, clock)
    companies.set_manager(db.session, actor=place.staff, company_id=company.id,
                          member_id=ina.id, manager=True, now=clock())
    companies.set_manager(db.session, actor=place.staff, company_id=company.id,
                          member_id=place.member.id, manager=False, now=clock())
    assert fresh(User, ina.id).is_company_manager
    assert not fresh(User, place.member.id).is_company_manager
    with pytest.raises(NotFound):  # members do not make managers
        companies.set_manager(db.session, actor=fresh(User, ina.id), company_id=company.id,
                              member_id=place.member.id, manager=True, now=clock())


def test_the_engine_honours_the_members_own_cap_over_the_companys(place, factory, clock):
    company, _other, ina, *_ = team(place, factory, clock)
    rules = location_rules_for(db.session, MON)
    pooled = snapshots.credit_left(db.session, fresh(User, ina.id), day=MON, location=rules)
    assert pooled.half_days == 4  # two Flex memberships, one desk day each
    db.session.rollback()
    row = fresh(Company, company.id)
    row.member_cap_desk_days = 1  # the company's default
    db.session.commit()
    assert snapshots.credit_left(db.session, fresh(User, ina.id), day=MON,
                                 location=rules).half_days == 2
    db.session.rollback()
    companies.set_member_caps(db.session, actor=fresh(User, place.member.id),
                              company_id=company.id, member_id=ina.id, cap_desk_days=0,
                              cap_studio_hours=companies.KEEP, now=clock())
    ina = fresh(User, ina.id)
    assert (ina.company_cap_desk_days, ina.company_cap_studio_hours) == (0, None)
    credit = snapshots.credit_left(db.session, ina, day=MON, location=rules)
    assert credit.half_days == 0 and credit.minutes == 120
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "company.member_caps_set")).one()
    assert entry.details["cap_desk_days"] == 0 and entry.details["cap_desk_days_was"] is None


def test_caps_must_be_whole_numbers_in_range(place, factory, clock):
    company, _other, ina, *_ = team(place, factory, clock)
    with pytest.raises(InvalidInput):
        companies.set_member_caps(db.session, actor=fresh(User, place.member.id),
                                  company_id=company.id, member_id=ina.id, cap_desk_days=-1,
                                  now=clock())


def test_invitations_are_bounded_per_day(place, clock, monkeypatch):
    company = found(place.member, clock)
    manager = fresh(User, place.member.id)
    monkeypatch.setattr(companies, "MAX_INVITATIONS_PER_DAY", 2)
    for n in range(2):
        companies.invite(db.session, actor=manager, company_id=company.id,
                         email=f"p{n}@example.org", now=clock(), secret_key=SECRET)
    with pytest.raises(Conflict):
        companies.invite(db.session, actor=manager, company_id=company.id,
                         email="p2@example.org", now=clock(), secret_key=SECRET)
    assert count_rows(CompanyInvitation) == 2
