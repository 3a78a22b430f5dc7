"""The pages of signing up: ``/account/membership`` for members (choose, ask, see), the staff's
requests list and the member's staff page (confirm, decline), the way there from
registration and the account page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from schiller40.extensions import db
from schiller40.membership.models import (
    Membership,
    MembershipRequest,
    RequestStatus,
)
from schiller40.models import Role
from tests.helpers import MON, log_in, text_of, tr
from tests.html import page

from .test_signup import offer  # noqa: F401  (the fixture)

PAGE = "/account/membership"


@pytest.fixture
def newcomer(factory, offer):  # noqa: F811
    user = factory.user(name="Nora Neu", email="nora@example.org")
    db.session.commit()
    return user


def memberships_of(user) -> list[Membership]:
    db.session.rollback()
    return list(db.session.scalars(select(Membership).where(Membership.user_id == user.id)))


def requests_of(user) -> list[MembershipRequest]:
    db.session.rollback()
    return list(db.session.scalars(
        select(MembershipRequest).where(MembershipRequest.user_id == user.id)))


def followed(client, response):
    """The page a redirect leads to (the flash message is on it)."""
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client.get(response.headers["Location"])


def test_strangers_log_in_first(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_page_offers_each_tier_its_own_way(client, newcomer, offer):  # noqa: F811
    log_in(client, newcomer)
    response = client.get(PAGE)
    assert response.status_code == 200
    html = page(response)
    actions = {f.attrs["action"] for f in html.find_all("form")}
    assert f"/account/membership/choose/{offer['day_pass'].id}" in actions
    assert f"/account/membership/request/{offer['resident'].id}" in actions
    assert f"/account/membership/request/{offer['startup'].id}" in actions
    # Not chosen here: the monthly tier (a subscription, not built yet) and the staff-only one.
    assert not any(str(offer[t].id) in a for t in ("flex", "legacy") for a in actions)
    [legacy] = html.find_all("section", **{"aria-labelledby": "tier-legacy"})
    assert tr("Please ask the Schiller40 team for this tier.") in legacy.text
    [flex] = html.find_all("section", **{"aria-labelledby": "tier-flex-online"})
    assert "/subscriptions" not in flex.text and html.find_all("a", href="/subscriptions") == []
    # Each request form's field has a label of its own.
    field = html.by_id(f"tier-{offer['resident'].id}-message")
    assert field is not None and field.tag == "textarea"
    assert html.find_all("label", **{"for": f"tier-{offer['resident'].id}-message"})
    assert tr("You have no membership yet. Choose a tier below: then you can book.") in (
        text_of(response))


def test_a_monthly_self_service_tier_links_to_its_sign_up_page(client, newcomer, offer):  # noqa: F811
    log_in(client, newcomer)
    hrefs = {a.attrs.get("href") for a in page(client.get(PAGE)).find_all("a")}
    assert "/account/membership/monthly/flex-online" in hrefs
    # ... and only that tier: on-request and staff-only tiers are not sold there.
    assert not [h for h in hrefs if h and h.startswith("/account/membership/monthly/")
                and h != "/account/membership/monthly/flex-online"]
    assert client.get("/account/membership/monthly/flex-online").status_code == 200
    assert client.get(f"/account/membership/monthly/{offer['resident'].slug}").status_code == 404


def test_choosing_the_day_pass_leads_to_booking(client, newcomer, offer):  # noqa: F811
    log_in(client, newcomer)
    response = client.post(f"/account/membership/choose/{offer['day_pass'].id}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/availability")
    [membership] = memberships_of(newcomer)
    assert (membership.tier.slug, membership.valid_from) == ("day-pass", MON)
    html = page(client.get(PAGE))
    [mine] = html.find_all("section", id="mine")
    assert "Tagespass" in mine.text
    assert f"/account/membership/choose/{offer['day_pass'].id}" not in {
        f.attrs["action"] for f in html.find_all("form")}
    # Twice: refused with a message, nothing more written.
    response = client.post(f"/account/membership/choose/{offer['day_pass'].id}")
    assert tr("You already have a membership. To change your tier, please ask the "
              "Schiller40 team.") in text_of(followed(client, response))
    assert len(memberships_of(newcomer)) == 1


def test_a_tier_that_cannot_be_chosen_is_refused(client, newcomer, offer):  # noqa: F811
    log_in(client, newcomer)
    response = client.post(f"/account/membership/choose/{offer['resident'].id}")
    assert tr("This tier cannot be chosen online. Please ask the Schiller40 team.") in (
        text_of(followed(client, response)))
    assert client.post("/account/membership/choose/999999").status_code == 404
    assert memberships_of(newcomer) == []


def test_asking_for_a_tier(client, newcomer, offer):  # noqa: F811
    log_in(client, newcomer)
    resident = offer["resident"]
    field = f"tier-{resident.id}-message"
    response = client.post(f"/account/membership/request/{resident.id}",
                           data={field: "x" * 1001})
    assert response.status_code == 422
    html = page(response)
    assert html.by_id(f"{field}-error") is not None
    assert html.by_id(field).attrs.get("aria-invalid") == "true"
    assert requests_of(newcomer) == []

    response = client.post(f"/account/membership/request/{resident.id}",
                           data={field: "Vertrag ab Januar"})
    assert response.status_code == 302
    # The same form again (a double click) is the same request.
    client.post(f"/account/membership/request/{resident.id}", data={field: "Vertrag"})
    [request] = requests_of(newcomer)
    assert (request.tier_id, request.message, request.status) == (
        resident.id, "Vertrag ab Januar", RequestStatus.OPEN)
    text = text_of(client.get(PAGE))
    assert tr("You have asked for this tier. The team will answer by e-mail.") in text
    assert tr("You can ask for one tier at a time.") in text
    # Asking for another tier meanwhile: refused with a message.
    response = client.post(f"/account/membership/request/{offer['startup'].id}",
                           data={f"tier-{offer['startup'].id}-message": ""})
    assert tr("You have already asked for %(tier)s. Please wait for the team's answer.",
              tier="Resident") in text_of(followed(client, response))
    assert len(requests_of(newcomer)) == 1


def test_the_account_page_leads_to_the_membership_page(client, newcomer):
    log_in(client, newcomer)
    response = client.get("/account")
    assert PAGE in {a.attrs.get("href") for a in page(response).find_all("a")}
    assert "Please ask the Schiller40 team" not in text_of(response)
    assert "Schiller40-Team" not in page(response).by_id("membership").text


def test_registration_leads_to_the_membership_page(client, offer):  # noqa: F811
    response = client.post("/register", data={
        "email": "neu@example.org", "name": "Neu", "password": "ein-langes-Passwort-2026",
        "password_confirm": "ein-langes-Passwort-2026", "accept": "y",
    })
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert response.headers["Location"] == "/login?next=/account/membership"
    response = client.post(response.headers["Location"], data={
        "email": "neu@example.org", "password": "ein-langes-Passwort-2026"})
    assert response.headers["Location"] == PAGE


# --- staff ------------------------------------------------------------------------------------


@pytest.fixture
def asked(client, newcomer, offer):  # noqa: F811
    log_in(client, newcomer)
    client.post(f"/account/membership/request/{offer['startup'].id}",
                data={f"tier-{offer['startup'].id}-message": "Wir sind ein Team aus drei."})
    client.post("/logout")
    [request] = requests_of(newcomer)
    return request


def test_staff_see_open_requests_and_confirm_one(client, place, newcomer, asked):
    log_in(client, place.staff)
    index = text_of(client.get("/staff/"))
    assert tr("Membership requests") in index
    html = page(client.get("/staff/membership-requests"))
    assert "Nora Neu" in html.text and "Wir sind ein Team aus drei." in html.text
    start_field = html.by_id(f"confirm-{asked.id}-valid_from")
    assert start_field.attrs["value"] == MON.isoformat()  # today by default

    start = MON + timedelta(days=8)
    response = client.post(f"/staff/membership-requests/{asked.id}/confirm",
                           data={f"confirm-{asked.id}-valid_from": start.isoformat()})
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/membership-requests"
    [membership] = memberships_of(newcomer)
    assert (membership.tier.slug, membership.valid_from) == ("startup", start)
    assert requests_of(newcomer)[0].status is RequestStatus.CONFIRMED
    assert tr("No open requests.") in text_of(client.get("/staff/membership-requests"))


def test_staff_decline_on_the_member_page(client, place, newcomer, asked):
    log_in(client, place.staff)
    member_page = f"/staff/members/{newcomer.id}"
    html = page(client.get(member_page))
    assert html.by_id(f"request-{asked.id}") is not None
    field = f"decline-{asked.id}-reason"
    response = client.post(f"/staff/membership-requests/{asked.id}/decline",
                           data={field: "  ", "next": member_page})
    assert response.status_code == 422
    assert page(response).by_id(f"{field}-error") is not None
    assert requests_of(newcomer)[0].is_open

    response = client.post(f"/staff/membership-requests/{asked.id}/decline",
                           data={field: "Nur für Gründungen aus Wolfsburg.",
                                 "next": member_page + "#memberships"})
    assert response.status_code == 302
    assert response.headers["Location"] == member_page + "#memberships"
    [request] = requests_of(newcomer)
    assert (request.status, request.decline_reason) == (
        RequestStatus.DECLINED, "Nur für Gründungen aus Wolfsburg.")
    assert page(client.get(member_page)).by_id(f"request-{asked.id}") is None
    # Answered already: a second answer is refused with a message.
    response = client.post(f"/staff/membership-requests/{asked.id}/confirm",
                           data={f"confirm-{asked.id}-valid_from": MON.isoformat()})
    assert tr("This request has already been answered.") in text_of(
        followed(client, response))
    assert memberships_of(newcomer) == []
    # The member reads the answer on their page.
    client.post("/logout")
    log_in(client, newcomer)
    assert "Nur für Gründungen aus Wolfsburg." in text_of(client.get(PAGE))


def test_a_confirmation_in_the_past_is_shown_beside_the_date(client, place, newcomer, asked):
    log_in(client, place.staff)
    field = f"confirm-{asked.id}-valid_from"
    response = client.post(f"/staff/membership-requests/{asked.id}/confirm",
                           data={field: (MON - timedelta(days=1)).isoformat()})
    assert response.status_code == 422
    assert page(response).by_id(f"{field}-error") is not None
    assert memberships_of(newcomer) == []


def test_members_do_not_see_the_staff_pages(client, newcomer, asked, factory):
    other = factory.user(role=Role.MEMBER)
    db.session.commit()
    log_in(client, other)
    assert client.get("/staff/membership-requests").status_code == 404
    response = client.post(f"/staff/membership-requests/{asked.id}/confirm",
                           data={f"confirm-{asked.id}-valid_from": MON.isoformat()})
    assert response.status_code == 404
    assert requests_of(newcomer)[0].is_open


