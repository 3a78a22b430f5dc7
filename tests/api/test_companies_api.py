"""/api/v1/companies/me…: the caller's company, its members (managers), a member's caps;
and two managers changing one member's caps at the same instant (both databases)."""

from __future__ import annotations

from sqlalchemy import select

from schiller40.accounts.models import Company, User
from schiller40.core.audit import AuditEntry
from schiller40.extensions import db
from tests.booking.test_concurrency import Call, new_member, race, wait_config
from tests.helpers import WED, book_via_api, fresh


def teams(factory, place):
    """Mia manages Alpha (with Ina); Otto manages Beta."""
    alpha = factory.company(name="Alpha", vat_id="DE136695976", street="Schillerstr. 40",
                            postal_code="38440", city="Wolfsburg",
                            invoice_email="rechnung@alpha.example")
    beta = factory.company(name="Beta")
    ina = factory.user(tier=place.tier, email="ina@example.org")
    otto = factory.user(tier=place.tier, email="otto@example.org")
    place.member.join_company(alpha, manager=True)
    ina.join_company(alpha)
    otto.join_company(beta, manager=True)
    db.session.commit()
    return alpha, beta, ina, otto


def test_my_company_with_billing_data_and_role(api_as, factory, place):
    _alpha, _beta, ina, _otto = teams(factory, place)
    body = api_as(place.member).get("/api/v1/companies/me").get_json()["company"]
    assert body["name"] == "Alpha" and body["legal_name"] == "Alpha"
    assert body["vat_id"] == "DE136695976" and body["role"] == "manager"
    assert body["address"] == {"street": "Schillerstr. 40", "postal_code": "38440",
                               "city": "Wolfsburg", "country": "DE"}
    assert api_as(ina).get("/api/v1/companies/me").get_json()["company"]["role"] == "member"
    assert api_as(place.staff).get("/api/v1/companies/me").status_code == 404


def test_members_with_caps_and_this_months_use_for_managers_only(api_as, factory, place):
    _alpha, _beta, ina, _otto = teams(factory, place)
    book_via_api(api_as(ina), "desk-a1", day=WED, start=8, end=13)  # half a desk day
    mia = api_as(place.member)
    answer = mia.get("/api/v1/companies/me/members").get_json()
    assert answer["month"] == "2026-11"
    rows = {m["email"]: m for m in answer["members"]}
    assert rows["ina@example.org"]["used_desk_days"] == 0.5
    assert rows["mia@example.org"]["used_desk_days"] == 0
    assert rows["mia@example.org"]["role"] == "manager"
    assert rows["ina@example.org"]["cap_desk_days"] is None
    refused = api_as(ina).get("/api/v1/companies/me/members")
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "not_manager"


def test_a_manager_sets_a_cap_and_nobody_else_can(api_as, factory, place):
    _alpha, _beta, ina, otto = teams(factory, place)
    mia = api_as(place.member)
    answer = mia.patch(f"/api/v1/companies/me/members/{ina.id}", json={"cap_desk_days": 2})
    assert answer.status_code == 200, answer.get_json()
    member = answer.get_json()["member"]
    assert (member["cap_desk_days"], member["cap_studio_hours"]) == (2, None)
    assert member["effective_cap_desk_days"] == 2
    # A field left out stays; null goes back to the company's default.
    mia.patch(f"/api/v1/companies/me/members/{ina.id}", json={"cap_studio_hours": 3})
    assert (fresh(User, ina.id).company_cap_desk_days,
            fresh(User, ina.id).company_cap_studio_hours) == (2, 3)
    mia.patch(f"/api/v1/companies/me/members/{ina.id}", json={"cap_desk_days": None})
    assert fresh(User, ina.id).company_cap_desk_days is None
    # Otto (Beta) names Alpha's member: 404, as for a member who does not exist.
    assert api_as(otto).patch(f"/api/v1/companies/me/members/{ina.id}",
                              json={"cap_desk_days": 0}).status_code == 404
    # Ina does not manage Alpha.
    assert api_as(ina).patch(f"/api/v1/companies/me/members/{place.member.id}",
                             json={"cap_desk_days": 0}).status_code == 403
    for bad in ({"cap_desk_days": -1}, {"cap_desk_days": "2"}, {"cap_desk_days": 10_000},
                {"cap": 1}):
        assert mia.patch(f"/api/v1/companies/me/members/{ina.id}",
                         json=bad).status_code == 422
    assert fresh(User, ina.id).company_cap_desk_days is None


def test_two_managers_change_one_members_caps_at_once(app, factory, place):
    """Both changes are made one after the other under the member's lock: both audited,
    the second with the first's value as the one it replaced, and the last one stands."""
    app.config.update(wait_config())
    alpha = factory.company(name="Alpha")
    first = new_member(factory, place.tier)
    second = new_member(factory, place.tier)
    ina = factory.user(tier=place.tier)
    # The two members new_member made: everyone but Ina and the scene's member and staff.
    managers = db.session.scalars(select(User).where(
        User.id.not_in([ina.id, place.member.id, place.staff.id]))).all()
    for manager in managers:
        manager.join_company(alpha, manager=True)
    ina.join_company(alpha)
    db.session.commit()
    path = f"/api/v1/companies/me/members/{ina.id}"
    answers = race(app, [Call("PATCH", path, first, {"cap_desk_days": 1}),
                         Call("PATCH", path, second, {"cap_desk_days": 7})])
    assert [a.status for a in answers] == [200, 200], answers
    db.session.rollback()
    entries = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "company.member_caps_set").order_by(AuditEntry.id)).all()
    assert len(entries) == 2
    assert entries[0].details["cap_desk_days_was"] is None
    assert entries[1].details["cap_desk_days_was"] == entries[0].details["cap_desk_days"]
    assert fresh(User, ina.id).company_cap_desk_days == entries[1].details["cap_desk_days"]
    assert {e.actor_id for e in entries} == {m.id for m in managers}
    assert fresh(Company, alpha.id) is not None
