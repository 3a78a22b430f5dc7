"""The account page: details form, membership terms, included credit left this month (as the
booking engine computes it), company, calendar feeds and the links to the member's data."""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask_babel import force_locale, format_date, format_decimal
from sqlalchemy import select

from schiller40.core.audit import AuditEntry
from schiller40.extensions import db
from schiller40.models import User
from tests.helpers import TUE, book_hours, browser, fresh, norm, text_of, tr, trn
from tests.html import page


@pytest.fixture
def mia(app, place):
    return browser(app, place.member)


def section_text(response, heading_id: str) -> str:
    """The text of the <section> a heading labels."""
    html = page(response)
    sections = [s for s in html.find_all("section") if s.attrs.get("aria-labelledby") == heading_id]
    assert sections, f"no section labelled by #{heading_id}"
    return norm(sections[0].text)


def assert_field_error(response, field: str, message: str) -> None:
    html = page(response)
    errors = html.by_id(f"{field}-error")
    assert errors is not None, f"no #{field}-error on the page"
    assert message in norm(errors.text)
    control = html.by_id(field)
    assert control is not None and control.attrs.get("aria-invalid") == "true"
    assert f"{field}-error" in (control.attrs.get("aria-describedby") or "").split()


# --- who may see it ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [("GET", "/account"), ("POST", "/account"), ("GET", "/account/export.json"),
     ("GET", "/account/delete"), ("POST", "/account/delete")],
)
def test_anonymous_visitors_are_sent_to_log_in(client, place, method, url):
    response = client.open(url, method=method, data={"name": "X", "password": "x"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert place.member.name != "X"


# --- what it shows ----------------------------------------------------------------------------


def test_the_page_shows_tier_validity_terms_and_the_credit_left(app, mia, place, clock):
    # Mia's Flex tier includes 1 desk day and 1 studio hour a month: she used half a desk day
    # and the studio hour, so half a desk day is left and no studio time.
    book_hours(place.member, place.desks[0], clock, day=TUE, start=8, end=13)
    book_hours(place.member, place.studio, clock, day=TUE, start=14, end=15)

    response = mia.get("/account")
    assert response.status_code == 200
    html = page(response)
    assert html.find_all("html")[0].attrs["lang"] == "de"
    assert norm(html.find_all("h1")[0].text) == tr("My account")

    details = section_text(response, "profile-heading")
    assert "mia@example.org" in details
    assert tr("none (you book for yourself)") in details

    membership = section_text(response, "membership-heading")
    assert place.tier.name in membership
    with force_locale("de"):
        since = format_date(date(2026, 1, 1), "long")
        month = format_date(date(2026, 11, 1), "MMMM yyyy")
        half = format_decimal(0.5)
    assert tr("since %(start)s, until cancelled", start=since) in membership
    assert trn("%(num)d desk day per month", "%(num)d desk days per month", 1) in membership
    assert trn("%(num)d studio hour per month", "%(num)d studio hours per month", 1) in membership
    assert trn("Book up to %(num)d day ahead", "Book up to %(num)d days ahead", 30) in membership
    kinds = ", ".join(tr(k) for k in ("Desks", "Meeting rooms", "Studios"))
    assert tr("You may book: %(kinds)s", kinds=kinds) in membership
    assert tr("Included credit left in %(month)s", month=month) in membership

    credit = {norm(dt.text): norm(dd.text) for dt, dd in zip(
        [e for e in html.find_all("dt")], [e for e in html.find_all("dd")], strict=True)}
    assert credit[tr("Desk days")] == tr("%(left)s left", left=half)
    assert credit[tr("Studio hours")] == tr("%(left)s left", left="0")

    # Links to the member's data and the password change; the feeds are still there.
    links = {a.attrs.get("href") for a in html.find_all("a")}
    assert {"/account/password", "/account/export.json", "/account/delete"} <= links
    assert any((a or "").startswith("webcal://") for a in links)
    feed_urls = [i.attrs["value"] for i in html.find_all("input")
                 if "feed-url" in (i.attrs.get("class") or "")]
    assert feed_urls and all(re.search(r"/feeds/[^/]+\.ics$", u) for u in feed_urls)
    # The stylesheet and the copy script are files (no inline script or style).
    assert not [s for s in html.find_all("script") if not s.attrs.get("src")]
    assert not [e for e in html.elements if "style" in e.attrs]


def test_the_page_in_english(app, place, factory):
    place.member.locale = "en"
    db.session.commit()
    response = browser(app, place.member).get("/account")
    html = page(response)
    assert html.find_all("html")[0].attrs["lang"] == "en"
    shown = text_of(response)
    assert "My account" in shown and "Included credit left in November 2026" in shown
    assert "1 desk day per month" in shown and "Download all my data (JSON file)" in shown


def test_a_company_member_sees_the_shared_pool(app, place, factory, clock):
    company = factory.company(name="Pixelwerk GmbH")
    colleague = factory.user(tier=place.tier, email="jonas@example.org", company=company)
    place.member.company = company
    db.session.commit()
    # The pool holds 2 desk days (4 half days): Jonas used a whole day, Mia a morning.
    book_hours(colleague, place.desks[1], clock, day=TUE, start=8, end=20)
    book_hours(place.member, place.desks[0], clock, day=TUE, start=8, end=13)

    response = browser(app, place.member).get("/account")
    details = section_text(response, "profile-heading")
    assert "Pixelwerk GmbH" in details
    membership = section_text(response, "membership-heading")
    assert tr("You share the included credit with the other members of %(company)s; what "
              "they use is no longer left for you.", company="Pixelwerk GmbH") in membership
    with force_locale("de"):
        half = format_decimal(0.5)
    assert tr("%(left)s left", left=half) in membership
    assert "jonas@example.org" not in text_of(response)


def test_without_a_membership_the_page_says_so_and_names_the_next_one(app, place, factory):
    loner = factory.user(email="lena@example.org")
    factory.membership(user=loner, tier=place.tier, valid_from=date(2027, 1, 1))
    db.session.commit()
    response = browser(app, loner).get("/account")
    assert response.status_code == 200
    membership = section_text(response, "membership-heading")
    assert tr("You have no membership in force today, so you cannot book spaces yet.") in membership
    assert tr("Choose a tier") in membership  # the way on: /account/membership
    with force_locale("de"):
        start = format_date(date(2027, 1, 1), "long")
    assert tr("Your next membership, %(tier)s, starts on %(start)s.", tier=place.tier.name,
              start=start) in membership


# --- the details form -------------------------------------------------------------------------


def test_a_member_changes_name_and_language(app, mia, place):
    html = page(mia.get("/account"))
    assert html.by_id("name").attrs["value"] == place.member.name
    options = {o.attrs["value"]: o for o in html.find_all("option")}
    assert "selected" in options["de"].attrs

    saved = mia.post("/account", data={"name": "  Mia Schulz ", "locale": "en"})
    assert saved.status_code == 302 and saved.headers["Location"] == "/account"
    user = fresh(User, place.member.id)
    assert (user.name, user.locale) == ("Mia Schulz", "en")
    # The next page is in English, with the confirmation.
    shown = mia.get("/account")
    assert page(shown).find_all("html")[0].attrs["lang"] == "en"
    assert "Your details have been saved." in text_of(shown)
    (entry,) = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "user.profile_updated")).all()
    assert entry.actor_id == entry.object_id == place.member.id
    assert entry.details == {"fields": ["name", "locale"]}  # which, not what


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "   ", "locale": "de"}, "name", "Please enter your name."),
        ({"name": "x" * 201, "locale": "de"}, "name", "Use at most %(max)d characters."),
        ({"name": "Mia\x00", "locale": "de"}, "name",
         "This field contains a character that is not allowed."),
        ({"name": "Mia", "locale": "fr"}, "locale", "Please choose a language from the list."),
        ({"name": "Mia"}, "locale", "Please choose a language from the list."),
    ],
)
def test_invalid_details_are_refused_beside_the_field(mia, place, data, field, message):
    before = (place.member.name, place.member.locale)
    response = mia.post("/account", data=data)
    assert response.status_code == 422
    expected = tr(message, max=200) if "%(max)d" in message else tr(message)
    assert_field_error(response, field, expected)
    # What was typed stays in the form.
    if field == "locale" and data.get("name"):
        assert page(response).by_id("name").attrs["value"] == data["name"]
    user = fresh(User, place.member.id)
    assert (user.name, user.locale) == before
    assert db.session.scalar(
        select(AuditEntry.id).where(AuditEntry.action == "user.profile_updated")) is None


def test_the_english_error_messages(app, place):
    place.member.locale = "en"
    db.session.commit()
    response = browser(app, place.member).post("/account", data={"name": "", "locale": "en"})
    assert response.status_code == 422
    assert_field_error(response, "name", "Please enter your name.")


# --- CSRF -------------------------------------------------------------------------------------


def csrf_token(response) -> str:
    (token,) = [i.attrs["value"] for i in page(response).find_all("input")
                if i.attrs.get("name") == "csrf_token" and i.attrs.get("id") == "csrf_token"]
    return token or ""


def test_the_forms_carry_a_csrf_token_and_refuse_a_post_without_it(app, mia, place):
    # The test configuration switches CSRF off; this test switches it on, as in production.
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        shown = mia.get("/account")
        token = csrf_token(shown)
        assert token
        refused = mia.post("/account", data={"name": "Forged", "locale": "en"})
        assert refused.status_code == 400
        assert fresh(User, place.member.id).name != "Forged"
        delete_page = mia.get("/account/delete")
        refused = mia.post("/account/delete", data={"password": "correct horse battery"})
        assert refused.status_code == 400
        assert fresh(User, place.member.id).is_active
        assert csrf_token(delete_page)

        accepted = mia.post("/account", data={"name": "Mia S.", "locale": "de",
                                              "csrf_token": token})
        assert accepted.status_code == 302
        assert fresh(User, place.member.id).name == "Mia S."
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
