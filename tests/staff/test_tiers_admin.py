"""Staff pages for tiers (/staff/tiers): staff read, admins change; prices typed in euros
with a decimal comma; each validation error beside its field; the engine quotes what was
saved."""

from __future__ import annotations

from datetime import date, time

import pytest
from sqlalchemy import select

from schiller40.booking.create import create_bookings
from schiller40.booking.errors import BookingError
from schiller40.booking.requests import BookingRequest
from schiller40.booking.snapshots import location_rules
from schiller40.core.forms import parse_euros
from schiller40.extensions import db
from schiller40.membership import tiers as tier_service
from schiller40.models import AuditEntry, ResourceKind, Role, Tier
from tests.helpers import browser
from tests.html import page


@pytest.fixture
def admin_user(place, factory):
    user = factory.user(role=Role.ADMIN, email="admin@example.org")
    db.session.commit()
    return user


@pytest.fixture
def admin_browser(app, admin_user):
    return browser(app, admin_user)


def speak(user, language: str) -> None:
    user.locale = language
    db.session.commit()


def _form(**overrides: str) -> dict[str, str]:
    data = {
        "slug": "coworking-plus", "name": "Coworking Plus", "description": "Für Vielnutzer",
        "monthly_price_cents": "129,00", "booking_horizon_days": "45",
        "max_future_bookings": "20", "included_desk_days": "10", "included_studio_hours": "3",
        "desk_allowed": "y", "desk_half_day_cents": "6,50", "desk_day_cents": "11,00",
        "studio_allowed": "y", "studio_hour_cents": "32,50",
        "room_allowed": "y", "room_hour_cents": "12,50",
        "is_active": "y", "position": "5", "signup_mode": "staff_only", "notice_days": "0",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _edit_form(tier: Tier, **overrides: str) -> dict[str, str]:
    data = _form(**overrides)
    del data["slug"]
    return data


def _tiers() -> int:
    db.session.expire_all()
    return db.session.scalar(select(db.func.count()).select_from(Tier))


# --- money input ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "cents"), [
    ("12,50", 1250), ("12.50", 1250), ("12", 1200), ("0", 0), ("0,5", 50),
    (" 1.234,56 € ", 123456), ("1,234.56", 123456), ("12 €", 1200),
])
def test_amounts_in_euros_become_cents(text, cents):
    assert parse_euros(text) == cents


@pytest.mark.parametrize("text", ["", "abc", "-5", "12,345", "1,2,3", "12,5a", "€"])
def test_anything_else_is_not_an_amount(text):
    with pytest.raises(ValueError):
        parse_euros(text)


# --- access -----------------------------------------------------------------------------------


def test_members_get_404_and_strangers_log_in(place, member_browser, client):
    for path in ("/staff/tiers", "/staff/tiers/new", f"/staff/tiers/{place.tier.id}",
                 f"/staff/tiers/{place.tier.id}/delete"):
        assert member_browser.get(path).status_code == 404
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert member_browser.post("/staff/tiers/new", data=_form()).status_code == 404
    assert _tiers() == 1


def test_staff_read_the_tiers_but_only_admins_change_them(place, staff_browser):
    response = staff_browser.get("/staff/tiers")
    assert response.status_code == 200
    html = page(response)
    assert html.find_all("h1")[0].text == "Tarife"
    assert "Nur Administratoren können Tarife und Preise ändern." in html.text
    assert "12,00 € pro Stunde" in html.text  # the place's room price
    assert not any(a.attrs.get("href", "").startswith("/staff/tiers/") for a in html.find_all("a"))
    for path in ("/staff/tiers/new", f"/staff/tiers/{place.tier.id}",
                 f"/staff/tiers/{place.tier.id}/delete"):
        assert staff_browser.get(path).status_code == 403
    assert staff_browser.post("/staff/tiers/new", data=_form()).status_code == 403
    assert staff_browser.post(f"/staff/tiers/{place.tier.id}",
                              data=_edit_form(place.tier, name="Hacked")).status_code == 403
    assert staff_browser.post(f"/staff/tiers/{place.tier.id}/delete").status_code == 403
    assert _tiers() == 1
    assert db.session.get(Tier, place.tier.id).name != "Hacked"


def test_the_list_in_english(place, admin_browser, admin_user):
    speak(admin_user, "en")
    html = page(admin_browser.get("/staff/tiers"))
    assert html.find_all("h1")[0].text == "Tiers"
    assert "€12.00 per hour" in html.text
    assert any(a.attrs.get("href") == "/staff/tiers/new" for a in html.find_all("a"))


# --- create -----------------------------------------------------------------------------------


def test_an_admin_creates_a_tier_with_euro_amounts(place, admin_browser, admin_user):
    response = admin_browser.post("/staff/tiers/new", data=_form())
    assert response.status_code == 302
    tier = db.session.scalar(select(Tier).where(Tier.slug == "coworking-plus"))
    assert (tier.monthly_price_cents, tier.booking_horizon_days, tier.included_desk_days) == (
        12900, 45, 10)
    desk, studio, room = (tier.price_for(k) for k in
                          (ResourceKind.DESK, ResourceKind.STUDIO, ResourceKind.ROOM))
    assert (desk.price_half_day_cents, desk.price_day_cents, desk.price_hour_cents) == (
        650, 1100, None)
    assert (studio.price_hour_cents, room.price_hour_cents) == (3250, 1250)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "tier.created"))
    assert entry.actor_id == admin_user.id
    html = page(admin_browser.get("/staff/tiers"))
    assert "129,00 €" in html.text and "Coworking Plus" in html.text


def test_a_kind_left_unticked_is_not_bookable(place, admin_browser):
    data = _form(room_allowed=None, room_hour_cents="")
    assert admin_browser.post("/staff/tiers/new", data=data).status_code == 302
    tier = db.session.scalar(select(Tier).where(Tier.slug == "coworking-plus"))
    assert tier.bookable_kinds == [ResourceKind.DESK, ResourceKind.STUDIO]


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"slug": "Coworking Plus"}, "slug", "Kleinbuchstaben"),
    ({"slug": "flex"}, "slug", "bereits vergeben"),
    ({"name": ""}, "name", "Namen"),
    ({"monthly_price_cents": "12,345"}, "monthly_price_cents", "Betrag in Euro"),
    ({"monthly_price_cents": "-5"}, "monthly_price_cents", "Betrag in Euro"),
    ({"monthly_price_cents": "20000"}, "monthly_price_cents", "Zwischen 0,00"),
    ({"monthly_price_cents": ""}, "monthly_price_cents", "Betrag in Euro"),
    ({"room_hour_cents": "zwölf"}, "room_hour_cents", "Betrag in Euro"),
    ({"studio_hour_cents": ""}, "studio_hour_cents", "Stundenpreis"),
    ({"desk_half_day_cents": "", "desk_day_cents": ""}, "desk_day_cents", "Halbtagespreis"),
    ({"desk_allowed": None}, "included_desk_days", "Arbeitsplätze"),
    ({"studio_allowed": None}, "included_studio_hours", "Studios"),
    ({"booking_horizon_days": "900"}, "booking_horizon_days", "Zwischen 0 und 730"),
    ({"max_future_bookings": "viele"}, "max_future_bookings", ""),
    ({"included_desk_days": "-1"}, "included_desk_days", "Zwischen 0 und 31"),
])
def test_each_error_is_beside_its_field_and_nothing_is_written(
    place, admin_browser, changes, field, message
):
    data = _form(**changes)
    response = admin_browser.post("/staff/tiers/new", data=data)
    assert response.status_code == 422
    html = page(response)
    error = html.by_id(f"{field}-error")
    assert error is not None, html.text
    assert message in error.text
    control = html.by_id(field)
    assert control.attrs.get("aria-invalid") == "true"
    assert _tiers() == 1
    for name in ("name", "monthly_price_cents", "room_hour_cents"):  # typed input is kept
        assert html.by_id(name).attrs.get("value", "") == data.get(name, "")


def test_errors_in_english(place, admin_browser, admin_user):
    speak(admin_user, "en")
    response = admin_browser.post("/staff/tiers/new", data=_form(room_hour_cents="x"))
    assert "Please enter an amount in euros" in page(response).by_id("room_hour_cents-error").text


# --- edit -------------------------------------------------------------------------------------


def test_the_edit_form_shows_amounts_in_the_readers_format(place, admin_browser, admin_user):
    url = f"/staff/tiers/{place.tier.id}"
    html = page(admin_browser.get(url))
    assert html.by_id("studio_hour_cents").attrs["value"] == "35,00"
    assert html.by_id("desk_half_day_cents").attrs["value"] == "7,00"
    assert html.by_id("slug") is None
    assert "checked" in html.by_id("room_allowed").attrs
    speak(admin_user, "en")
    assert page(admin_browser.get(url)).by_id("studio_hour_cents").attrs["value"] == "35.00"


def _book_room(place, clock):
    rules = location_rules(place.location, {2026})
    request = BookingRequest(
        start=rules.local(date(2026, 11, 25), time(10)),
        end=rules.local(date(2026, 11, 25), time(11)), resource_slug="room",
    )
    return create_bookings(db.session, actor=place.member, request=request,
                           now=clock())


def test_an_edited_price_is_what_the_engine_then_quotes(place, admin_browser, clock):
    response = admin_browser.post(f"/staff/tiers/{place.tier.id}", data=_edit_form(
        place.tier, name="Flex", room_hour_cents="15,50", included_desk_days="1",
        included_studio_hours="1"))
    assert response.status_code == 302
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "tier.updated"))
    assert entry.details["changed"]["prices"][1]["room"] == [1550, None, None]
    outcome = _book_room(place, clock)
    assert outcome.bookings[0].price_gross_cents == 1550
    assert outcome.bookings[0].price_net_cents + outcome.bookings[0].price_tax_cents == 1550


def test_unticking_a_kind_takes_the_permission_away(place, admin_browser, clock):
    response = admin_browser.post(f"/staff/tiers/{place.tier.id}", data=_edit_form(
        place.tier, name="Flex", room_allowed=None, room_hour_cents=""))
    assert response.status_code == 302
    with pytest.raises(BookingError) as caught:
        _book_room(place, clock)
    assert caught.value.code == "not_entitled"


def test_an_edit_error_changes_nothing_and_keeps_the_input(place, admin_browser):
    response = admin_browser.post(f"/staff/tiers/{place.tier.id}", data=_edit_form(
        place.tier, name="Flex Neu", studio_hour_cents="-3"))
    assert response.status_code == 422
    html = page(response)
    assert html.by_id("studio_hour_cents-error") is not None
    assert html.by_id("name").attrs["value"] == "Flex Neu"
    assert html.by_id("studio_hour_cents").attrs["value"] == "-3"
    db.session.expire_all()
    tier = db.session.get(Tier, place.tier.id)
    assert tier.name != "Flex Neu"
    assert tier.price_for(ResourceKind.STUDIO).price_hour_cents == 3500


def test_deactivating_a_tier(place, admin_browser):
    data = _edit_form(place.tier, is_active=None, included_desk_days="1",
                      included_studio_hours="1")
    assert admin_browser.post(f"/staff/tiers/{place.tier.id}", data=data).status_code == 302
    db.session.expire_all()
    assert db.session.get(Tier, place.tier.id).is_active is False
    assert "Inaktiv" in page(admin_browser.get("/staff/tiers")).text


# --- delete -----------------------------------------------------------------------------------


def test_a_tier_in_use_cannot_be_deleted(place, admin_browser):
    html = page(admin_browser.get(f"/staff/tiers/{place.tier.id}"))
    assert "kann er nicht gelöscht werden" in html.text
    response = admin_browser.post(f"/staff/tiers/{place.tier.id}/delete")
    assert response.status_code == 302
    assert _tiers() == 1
    assert "Deaktivieren Sie ihn stattdessen" in page(
        admin_browser.get(response.headers["Location"])).text


def test_an_unused_tier_can_be_deleted(place, admin_browser, factory):
    tier_id = factory.tier(slug="mistake").id
    db.session.commit()
    assert admin_browser.get(f"/staff/tiers/{tier_id}/delete").status_code == 200
    assert admin_browser.post(f"/staff/tiers/{tier_id}/delete").status_code == 302
    assert _tiers() == 1
    assert admin_browser.get(f"/staff/tiers/{tier_id}").status_code == 404


# --- the service on its own -------------------------------------------------------------------


def test_the_service_drops_prices_the_engine_would_never_charge(place, admin_user, clock):
    data = tier_service.TierData(
        slug="odd", name="Odd", prices={
            ResourceKind.DESK: tier_service.KindTerms(hour_cents=999, day_cents=1000),
            ResourceKind.ROOM: tier_service.KindTerms(hour_cents=800, day_cents=5000),
        })
    tier = tier_service.create_tier(db.session, data=data, actor=admin_user, now=clock())
    desk, room = tier.price_for(ResourceKind.DESK), tier.price_for(ResourceKind.ROOM)
    assert (desk.price_hour_cents, desk.price_day_cents) == (None, 1000)
    assert (room.price_hour_cents, room.price_day_cents) == (800, None)


def test_saving_unchanged_terms_writes_no_audit_entry(place, admin_user, clock):
    tier = place.tier
    data = tier_service.TierData(
        name=tier.name, description=tier.description,
        monthly_price_cents=tier.monthly_price_cents,
        booking_horizon_days=tier.booking_horizon_days,
        max_future_bookings=tier.max_future_bookings,
        included_desk_days=tier.included_desk_days,
        included_studio_hours=tier.included_studio_hours, is_active=tier.is_active,
        position=tier.position,
        prices={p.kind: tier_service.KindTerms(p.price_hour_cents, p.price_half_day_cents,
                                               p.price_day_cents) for p in tier.prices},
    )
    tier_service.update_tier(db.session, tier_id=tier.id, data=data, actor=admin_user,
                             now=clock())
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "tier.updated")) is None


# --- sign-up mode and notice period -----------------------------------------------------------


def test_admins_set_how_members_get_a_tier_and_its_notice(admin_browser, place):
    response = admin_browser.post("/staff/tiers/new", data=_form(
        signup_mode="on_request", notice_days="30"))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    tier = db.session.scalars(select(Tier).where(Tier.slug == "coworking-plus")).one()
    assert (tier.signup_mode.value, tier.notice_days) == ("on_request", 30)
    html = page(admin_browser.get(f"/staff/tiers/{tier.id}"))
    [selected] = [o for o in html.find_all("option") if "selected" in o.attrs]
    assert selected.attrs["value"] == "on_request"
    assert html.by_id("notice_days").attrs["value"] == "30"

    response = admin_browser.post(f"/staff/tiers/{tier.id}", data=_edit_form(
        tier, signup_mode="self_service", notice_days="14"))
    assert response.status_code == 302
    db.session.expire_all()
    assert (tier.signup_mode.value, tier.notice_days) == ("self_service", 14)
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "tier.updated").order_by(AuditEntry.id.desc())).first()
    assert entry.details["changed"]["signup_mode"] == ["on_request", "self_service"]
    assert entry.details["changed"]["notice_days"] == [30, 14]


@pytest.mark.parametrize(("field", "value"), [
    ("notice_days", "-1"), ("notice_days", "366"), ("notice_days", ""),
    ("notice_days", "zwei"), ("signup_mode", "anyone"), ("signup_mode", ""),
])
def test_a_bad_mode_or_notice_is_shown_beside_its_field(admin_browser, place, field, value):
    before = _tiers()
    response = admin_browser.post("/staff/tiers/new", data=_form(**{field: value}))
    assert response.status_code == 422
    html = page(response)
    assert html.by_id(f"{field}-error") is not None
    assert html.by_id(field).attrs.get("aria-invalid") == "true"
    assert _tiers() == before


def test_the_service_refuses_a_negative_notice(place, admin_user, clock):
    data = tier_service.TierData(name="X", slug="x-tier", notice_days=-3)
    with pytest.raises(tier_service.InvalidInput) as refused:
        tier_service.create_tier(db.session, data=data, actor=admin_user, now=clock())
    assert "notice_days" in refused.value.fields
