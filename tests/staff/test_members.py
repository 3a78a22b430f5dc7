"""Staff member pages: search with filters and pages, a member's record, and every form
(tier, end/withdraw, induction grant/revoke, company, role) with its errors beside the fields,
in German and English; members get 404 and strangers are sent to log in."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from schiller40.extensions import db
from schiller40.models import (
    AuditEntry,
    Company,
    Induction,
    Membership,
    MembershipStatus,
    Role,
    User,
    WaitlistEntry,
)
from tests.helpers import MON, browser, log_in
from tests.html import page

TODAY = MON  # the frozen clock's day


def member_row(member_id: int) -> User:
    db.session.expire_all()
    return db.session.get(User, member_id)


def memberships(member_id: int) -> list[Membership]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(Membership).where(Membership.user_id == member_id).order_by(Membership.valid_from)
    ))


def error_text(response, field: str) -> str:
    """The error list tied to a field (by aria-describedby), as a screen reader reads it."""
    html = page(response)
    control = html.by_id(field)
    assert control is not None, f"no control {field}"
    assert control.attrs.get("aria-invalid") == "true"
    assert f"{field}-error" in (control.attrs.get("aria-describedby") or "")
    errors = html.by_id(f"{field}-error")
    assert errors is not None
    return errors.text


def audit_count(action: str) -> int:
    return len(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all())


@pytest.fixture
def admin_browser(app, factory):
    boss = factory.user(role=Role.ADMIN, email="boss@example.org", name="Bettina Boss")
    db.session.commit()
    return browser(app, boss)


@pytest.fixture
def english_staff(app, place):
    place.staff.locale = "en"
    db.session.commit()
    return browser(app, place.staff)


# --- who may see what ----------------------------------------------------------------------

PAGES = [
    "/staff/members",
    "/staff/members/{id}",
    "/staff/members/{id}/memberships/new",
    "/staff/members/{id}/inductions/new",
    "/staff/members/{id}/company",
    "/staff/members/{id}/role",
]


@pytest.mark.parametrize("path", PAGES)
def test_strangers_are_sent_to_log_in(client, place, path):
    response = client.get(path.format(id=place.member.id))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("path", PAGES)
def test_members_get_404_on_every_page_and_form(member_browser, place, path):
    assert member_browser.get(path.format(id=place.member.id)).status_code == 404


def test_members_cannot_post_changes(member_browser, place):
    response = member_browser.post(
        f"/staff/members/{place.member.id}/memberships/new",
        data={"tier": str(place.tier.id), "valid_from": TODAY.isoformat()},
    )
    assert response.status_code == 404
    assert len(memberships(place.member.id)) == 1


def test_the_section_is_on_the_staff_start_page(staff_browser):
    html = page(staff_browser.get("/staff/"))
    links = [a for a in html.find_all("a") if a.attrs.get("href") == "/staff/members"]
    assert links and links[0].text == "Mitglieder"


def test_an_unknown_member_is_404(staff_browser):
    assert staff_browser.get("/staff/members/999999").status_code == 404


# --- search --------------------------------------------------------------------------------


def test_the_list_shows_name_email_company_tier_and_role(staff_browser, place, factory):
    acme = factory.company(name="ACME GmbH")
    place.member.name = "Mia Müller"
    place.member.company = acme
    db.session.commit()
    response = staff_browser.get("/staff/members")
    assert response.status_code == 200
    html = page(response)
    assert html.find_all("h1")[0].text == "Mitglieder"
    rows = [r.text for r in html.find_all("tr")]
    mia = next(r for r in rows if "Mia Müller" in r)
    assert "mia@example.org" in mia and "ACME GmbH" in mia
    assert place.tier.name in mia and "Mitglied" in mia
    assert "2 Mitglieder gefunden" in html.text
    assert html.find_all("caption")


@pytest.mark.parametrize("query", ["mia", "MIA@EXAMPLE", "acme", "Acme GmbH", "müll"])
def test_search_by_name_email_or_company_ignoring_case(staff_browser, place, factory, query):
    place.member.name = "Mia Müller"
    place.member.company = factory.company(name="ACME GmbH")
    factory.user(name="Someone Else", email="else@example.org")
    db.session.commit()
    html = page(staff_browser.get("/staff/members", query_string={"q": query}))
    names = [a.text for a in html.find_all("a") if "/staff/members/" in a.attrs.get("href", "")]
    assert names == ["Mia Müller"]
    assert "1 Mitglied gefunden" in html.text


def test_percent_and_underscore_are_taken_literally(staff_browser, place):
    html = page(staff_browser.get("/staff/members", query_string={"q": "%"}))
    assert "Keine Mitglieder passen zu dieser Suche." in html.text


def test_filters_by_current_tier_none_and_role(staff_browser, place, factory):
    pro = factory.tier(slug="pro", name="Pro")
    factory.user(name="Paul Pro", tier=pro)
    factory.user(name="Nora Nothing")
    factory.user(name="Ole Old", tier=pro).memberships[0].valid_until = date(2026, 1, 31)
    db.session.commit()

    def names(**params):
        html = page(staff_browser.get("/staff/members", query_string=params))
        return sorted(a.text for a in html.find_all("a")
                      if "/staff/members/" in a.attrs.get("href", ""))

    assert names(tier=str(pro.id)) == ["Paul Pro"]
    assert names(tier="none") == sorted(["Nora Nothing", "Ole Old", place.staff.name])
    assert names(role="staff") == [place.staff.name]
    assert names(role="member", tier=str(place.tier.id)) == [place.member.name]


def test_pages_of_25_keep_the_search(staff_browser, place, factory):
    for n in range(30):
        factory.user(name=f"Pat {n:02d}", email=f"pat{n:02d}@example.org")
    db.session.commit()
    first = page(staff_browser.get("/staff/members", query_string={"q": "pat"}))
    assert "30 Mitglieder gefunden" in first.text
    rows = [a for a in first.find_all("a") if a.attrs.get("href", "").startswith("/staff/members/")]
    assert len(rows) == 25 and rows[0].text == "Pat 00"
    nxt = next(a for a in first.find_all("a") if a.attrs.get("rel") == "next")
    assert "q=pat" in nxt.attrs["href"] and "page=2" in nxt.attrs["href"]
    second = page(staff_browser.get(nxt.attrs["href"]))
    rows = [a for a in second.find_all("a") if a.attrs.get("href", "").startswith("/staff/members/")]
    assert [a.text for a in rows] == [f"Pat {n}" for n in range(25, 30)]
    current = [a for a in second.find_all("a") if a.attrs.get("aria-current") == "page"]
    assert any(a.text.endswith("2") for a in current)
    # a page past the end (or nonsense) shows a real page, never an error
    assert staff_browser.get("/staff/members?q=pat&page=99").status_code == 200
    assert staff_browser.get("/staff/members?page=abc").status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [({"role": "king"}, "role"), ({"tier": "12345"}, "tier"), ({"q": "a\x00b"}, "q"),
     ({"q": "x" * 201}, "q")],
)
def test_bad_search_input_is_shown_beside_the_field(staff_browser, place, params, field):
    response = staff_browser.get("/staff/members", query_string=params)
    assert response.status_code == 422
    assert error_text(response, field)


# --- the member page -----------------------------------------------------------------------


def test_the_member_page_shows_profile_memberships_inductions_bookings_waitlist(
    staff_browser, place, factory, clock
):
    upcoming = factory.booking(resource=place.studio, user=place.member)
    past = factory.booking(resource=place.room, user=place.member,
                           starts_at=clock() - timedelta(days=3))
    db.session.add(WaitlistEntry(
        resource=place.room, user=place.member, starts_at=clock() + timedelta(days=2),
        ends_at=clock() + timedelta(days=2, hours=1), created_at=clock(), updated_at=clock(),
    ))
    db.session.commit()
    response = staff_browser.get(f"/staff/members/{place.member.id}")
    assert response.status_code == 200
    html = page(response)
    assert "mia@example.org" in html.text and "Deutsch" in html.text
    hrefs = [a.attrs.get("href") for a in html.find_all("a")]
    assert f"/bookings/{upcoming.id}" in hrefs and f"/bookings/{past.id}" in hrefs
    assert place.studio.name in html.by_id("inductions").text  # the name, not the key
    memberships_text = html.by_id("memberships").text
    assert place.tier.name in memberships_text and "laufend" in memberships_text
    assert place.room.name in html.by_id("waitlist").text
    # staff may follow the link to the booking's page
    assert staff_browser.get(f"/bookings/{upcoming.id}").status_code == 200


def test_the_member_page_in_english(english_staff, place):
    html = page(english_staff.get(f"/staff/members/{place.member.id}"))
    assert html.by_id("memberships-heading").text == "Memberships"
    assert "current" in html.by_id("memberships").text


# --- assign a tier -------------------------------------------------------------------------


def test_assign_a_tier_ends_the_current_membership(staff_browser, place, factory):
    pro = factory.tier(slug="pro", name="Pro")
    db.session.commit()
    form = staff_browser.get(f"/staff/members/{place.member.id}/memberships/new")
    assert form.status_code == 200
    assert page(form).by_id("valid_from").attrs.get("value") == TODAY.isoformat()
    response = staff_browser.post(
        f"/staff/members/{place.member.id}/memberships/new",
        data={"tier": str(pro.id), "valid_from": "2026-12-01", "valid_until": ""},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/staff/members/{place.member.id}#memberships")
    flex, new = memberships(place.member.id)
    assert flex.valid_until == date(2026, 11, 30)
    assert (new.tier_id, new.valid_from, new.valid_until) == (pro.id, date(2026, 12, 1), None)
    assert audit_count("membership.assigned") == 1


def test_assign_refuses_a_start_in_the_past_in_german(staff_browser, place):
    response = staff_browser.post(
        f"/staff/members/{place.member.id}/memberships/new",
        data={"tier": str(place.tier.id), "valid_from": "2026-11-22"},
    )
    assert response.status_code == 422
    assert "Vergangenheit" in error_text(response, "valid_from")
    assert page(response).by_id("valid_from").attrs.get("value") == "2026-11-22"  # kept
    assert len(memberships(place.member.id)) == 1 and audit_count("membership.assigned") == 0


def test_assign_refuses_until_before_from_and_no_tier_in_english(english_staff, place):
    response = english_staff.post(
        f"/staff/members/{place.member.id}/memberships/new",
        data={"tier": "", "valid_from": "2026-12-10", "valid_until": "2026-12-01"},
    )
    assert response.status_code == 422
    assert error_text(response, "valid_until") == "The end must not be before the start."
    assert error_text(response, "tier") == "Please choose a tier."
    response = english_staff.post(
        f"/staff/members/{place.member.id}/memberships/new",
        data={"tier": str(place.tier.id), "valid_from": "not a date"},
    )
    assert response.status_code == 422 and error_text(response, "valid_from")
    assert len(memberships(place.member.id)) == 1


def test_assign_refuses_an_overlap_with_a_planned_membership(staff_browser, place, factory):
    pro = factory.tier(slug="pro", name="Pro")
    flex = place.member.memberships[0]
    flex.valid_until = date(2026, 12, 31)
    factory.membership(user=place.member, tier=pro, valid_from=date(2027, 1, 1))
    db.session.commit()
    response = staff_browser.post(
        f"/staff/members/{place.member.id}/memberships/new",
        data={"tier": str(place.tier.id), "valid_from": "2026-12-15"},
    )
    assert response.status_code == 409
    assert "Pro" in error_text(response, "valid_from")
    assert len(memberships(place.member.id)) == 2


# --- end and withdraw ----------------------------------------------------------------------


def test_end_a_membership(staff_browser, place):
    membership = place.member.memberships[0]
    url = f"/staff/members/{place.member.id}/memberships/{membership.id}/end"
    assert staff_browser.get(url).status_code == 200
    bad = staff_browser.post(url, data={"last_day": "2026-11-01"})
    assert bad.status_code == 422 and error_text(bad, "last_day")
    assert memberships(place.member.id)[0].valid_until is None
    response = staff_browser.post(url, data={"last_day": "2026-12-31"})
    assert response.status_code == 302
    assert memberships(place.member.id)[0].valid_until == date(2026, 12, 31)
    assert audit_count("membership.ended") == 1


def test_withdraw_a_planned_membership(staff_browser, place, factory):
    pro = factory.tier(slug="pro")
    planned = factory.membership(user=place.member, tier=pro, valid_from=date(2027, 1, 1))
    place.member.memberships[-1].valid_until = date(2026, 12, 31)
    db.session.commit()
    form = page(staff_browser.get(
        f"/staff/members/{place.member.id}/memberships/{planned.id}/end"))
    assert form.by_id("withdraw-heading") is not None
    response = staff_browser.post(
        f"/staff/members/{place.member.id}/memberships/{planned.id}/withdraw")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Membership, planned.id).status is MembershipStatus.CANCELLED


def test_a_membership_of_someone_else_is_404(staff_browser, place, factory):
    other = factory.user(tier=place.tier)
    db.session.commit()
    url = f"/staff/members/{place.member.id}/memberships/{other.memberships[0].id}/end"
    assert staff_browser.get(url).status_code == 404
    assert staff_browser.post(url, data={"last_day": "2026-12-31"}).status_code == 404


# --- inductions ----------------------------------------------------------------------------


def test_inductions_are_shown_by_the_name_of_the_spaces_not_their_key(
    staff_browser, place, factory
):
    """Issue 17: staff pages, messages and the audit log said "ar-vr-studio"."""
    place.studio.name = "AR/VR-Studio"
    factory.resource(location=place.studio.location, name="VR-Labor", slug="vr-lab",
                     induction="ar-vr-studio", position=9)
    newcomer = factory.user(name="Nina Neu", tier=place.tier)
    db.session.commit()
    name = "AR/VR-Studio, VR-Labor"

    form = page(staff_browser.get(f"/staff/members/{newcomer.id}/inductions/new"))
    assert [(o.attrs.get("value"), o.text) for o in form.find_all("option")][1:] == [
        ("ar-vr-studio", name)]
    granted = staff_browser.post(
        f"/staff/members/{newcomer.id}/inductions/new",
        data={"topic": "ar-vr-studio", "trained_on": "2026-11-20"})
    shown = page(staff_browser.get(granted.headers["Location"]))  # with the message
    assert name in shown.text and "ar-vr-studio" not in shown.text
    assert name in shown.by_id("inductions").text
    induction = db.session.scalars(select(Induction).where(Induction.user_id == newcomer.id)).one()

    url = f"/staff/members/{newcomer.id}/inductions/{induction.id}/revoke"
    confirm = page(staff_browser.get(url))
    assert name in confirm.text and "ar-vr-studio" not in confirm.text
    revoked = page(staff_browser.get(staff_browser.post(url).headers["Location"]))
    assert name in revoked.text and "ar-vr-studio" not in revoked.text

    spaces = page(staff_browser.get("/staff/resources"))
    assert f"Einweisung: {name}" in spaces.text and "ar-vr-studio" not in spaces.text
    log = page(staff_browser.get("/staff/audit", query_string={"action": "induction."}))
    assert [dd.text for dd in log.find_all("dd") if dd.text == name] == [name, name]


def test_grant_and_revoke_an_induction_through_the_pages(staff_browser, place, factory):
    newcomer = factory.user(name="Nina Neu", tier=place.tier)
    db.session.commit()
    form = page(staff_browser.get(f"/staff/members/{newcomer.id}/inductions/new"))
    options = [o.attrs.get("value") for o in form.find_all("option")]
    assert "ar-vr-studio" in options
    response = staff_browser.post(
        f"/staff/members/{newcomer.id}/inductions/new",
        data={"topic": "ar-vr-studio", "trained_on": "2026-11-20", "note": "with Jonas"},
    )
    assert response.status_code == 302
    induction = db.session.scalars(select(Induction).where(Induction.user_id == newcomer.id)).one()
    assert induction.granted_by_id == place.staff.id
    detail = page(staff_browser.get(f"/staff/members/{newcomer.id}"))
    assert "with Jonas" in detail.by_id("inductions").text

    # the member can book the studio now (the engine, through the booking page)
    nina = browser(staff_browser.application, newcomer)
    booked = nina.post("/resources/studio/book",
                       data={"day": "2026-11-24", "start": "10:00", "end": "11:00"})
    assert booked.status_code in (302, 303)

    url = f"/staff/members/{newcomer.id}/inductions/{induction.id}/revoke"
    confirm = page(staff_browser.get(url))
    assert place.studio.name in confirm.text  # the upcoming booking that stays
    assert staff_browser.post(url).status_code == 302
    assert db.session.scalars(select(Induction).where(Induction.user_id == newcomer.id)).all() == []
    refused = nina.post("/resources/studio/book",
                        data={"day": "2026-11-25", "start": "10:00", "end": "11:00"})
    assert refused.status_code == 422
    assert "Einweisung" in page(refused).text
    assert audit_count("induction.granted") == 1 and audit_count("induction.revoked") == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [({"topic": "knitting", "trained_on": "2026-11-20"}, "topic"),
     ({"topic": "ar-vr-studio", "trained_on": "2026-11-30"}, "trained_on"),
     ({"topic": "ar-vr-studio", "trained_on": ""}, "trained_on"),
     ({"topic": "ar-vr-studio", "trained_on": "2026-11-20", "note": "x" * 501}, "note")],
)
def test_grant_validation(staff_browser, place, factory, data, field):
    newcomer = factory.user()
    db.session.commit()
    response = staff_browser.post(f"/staff/members/{newcomer.id}/inductions/new", data=data)
    assert response.status_code == 422
    assert error_text(response, field)
    assert db.session.scalars(select(Induction).where(Induction.user_id == newcomer.id)).all() == []


def test_granting_twice_is_refused_beside_the_topic(english_staff, place):
    response = english_staff.post(
        f"/staff/members/{place.member.id}/inductions/new",
        data={"topic": "ar-vr-studio", "trained_on": "2026-11-23"},
    )
    assert response.status_code == 409
    assert error_text(response, "topic") == "This member already has this induction."


# --- company -------------------------------------------------------------------------------


def test_choose_or_create_a_company(staff_browser, place, factory):
    acme = factory.company(name="ACME GmbH")
    db.session.commit()
    url = f"/staff/members/{place.member.id}/company"
    assert staff_browser.post(url, data={"company": str(acme.id)}).status_code == 302
    assert member_row(place.member.id).company_id == acme.id
    assert staff_browser.post(url, data={"company": "", "new_name": "Pixelwerk UG"}).status_code == 302
    assert member_row(place.member.id).company.name == "Pixelwerk UG"
    both = staff_browser.post(url, data={"company": str(acme.id), "new_name": "Third"})
    assert both.status_code == 422 and error_text(both, "new_name")
    unknown = staff_browser.post(url, data={"company": "424242"})
    assert unknown.status_code == 422 and error_text(unknown, "company")
    assert member_row(place.member.id).company.name == "Pixelwerk UG"
    assert len(db.session.scalars(select(Company)).all()) == 2
    assert staff_browser.post(url, data={"company": ""}).status_code == 302
    assert member_row(place.member.id).company_id is None


# --- role ----------------------------------------------------------------------------------


def test_staff_cannot_change_roles(staff_browser, place):
    url = f"/staff/members/{place.member.id}/role"
    assert staff_browser.get(url).status_code == 404
    assert staff_browser.post(url, data={"role": "admin"}).status_code == 404
    assert member_row(place.member.id).role is Role.MEMBER
    html = page(staff_browser.get(f"/staff/members/{place.member.id}"))
    assert not any(a.attrs.get("href") == url for a in html.find_all("a"))


def test_an_admin_changes_a_role_but_not_the_last_admin(admin_browser, place):
    url = f"/staff/members/{place.member.id}/role"
    assert admin_browser.get(url).status_code == 200
    assert admin_browser.post(url, data={"role": "staff"}).status_code == 302
    assert member_row(place.member.id).role is Role.STAFF
    boss = db.session.scalars(select(User).where(User.role == Role.ADMIN)).one()
    refused = admin_browser.post(f"/staff/members/{boss.id}/role", data={"role": "member"})
    assert refused.status_code == 409
    assert "Administrator" in error_text(refused, "role")
    assert member_row(boss.id).role is Role.ADMIN
    bad = admin_browser.post(url, data={"role": "emperor"})
    assert bad.status_code == 422 and error_text(bad, "role")
    assert audit_count("user.role_changed") == 1


def test_two_admins_demoting_each_other_at_once_leave_one_admin(app, factory):
    """Both requests race (own thread, own session); the locks make one wait for the other,
    which then finds its actor or its target no longer entitled. Never a 500 or a deadlock,
    and never no admin at all."""
    import threading

    from flask.testing import FlaskClient


    ann = factory.user(role=Role.ADMIN, email="ann@example.org")
    ben = factory.user(role=Role.ADMIN, email="ben@example.org")
    db.session.commit()
    pairs = [(ann.email, ben.id), (ben.email, ann.id)]
    barrier = threading.Barrier(2)
    answers: list[int | str] = [0, 0]

    def run(i: int) -> None:
        email, target = pairs[i]
        client = FlaskClient(app, app.response_class)  # own context, own session
        try:
            log_in(client, email)
            barrier.wait(timeout=30)
            answers[i] = client.post(f"/staff/members/{target}/role",
                                     data={"role": "member"}).status_code
        except BaseException as exc:  # reported below, never swallowed
            barrier.abort()
            answers[i] = repr(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a request hung (deadlock?)"
    assert sorted(answers, key=str) in ([302, 404], [302, 409]), answers
    db.session.rollback()  # end the snapshot read before the race (ids above)
    assert len(db.session.scalars(select(User).where(User.role == Role.ADMIN)).all()) == 1
