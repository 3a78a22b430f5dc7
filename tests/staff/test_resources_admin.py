"""Staff pages for resources (/staff/resources) and the location (/staff/location*): who may
see them, each form's happy path, each validation error beside its field with nothing
written and the input kept, both languages, and that the booking engine follows."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from sqlalchemy import select

from schiller40.booking.create import create_bookings
from schiller40.booking.errors import BookingError
from schiller40.booking.requests import BookingRequest
from schiller40.booking.snapshots import location_rules
from schiller40.extensions import db
from schiller40.models import AuditEntry, Closure, OpeningHours, Resource, ResourceKind
from tests.helpers import count_rows, log_in
from tests.html import page

EN = {"Accept-Language": "en"}


def speak(user, language: str) -> None:
    """A logged-in user's saved language wins over the browser's; set it like the language
    switch would."""
    user.locale = language
    db.session.commit()


def _room_form(**overrides: str) -> dict[str, str]:
    data = {
        "slug": "room-2", "name": "Raum 2", "kind": "room",
        "zone": "Besprechungsräume", "description": "Acht Plätze", "booking_unit": "slot_30",
        "capacity": "8", "min_duration_minutes": "30", "max_duration_minutes": "240",
        "buffer_before_minutes": "0", "buffer_after_minutes": "15", "induction": "",
        "position": "3", "requires_approval": "y",
    }
    data.update(overrides)
    return data


# --- access -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/staff/resources", "/staff/resources/new", "/staff/location",
])
def test_members_get_404_and_strangers_log_in(place, member_browser, client, path):
    assert member_browser.get(path).status_code == 404
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_members_cannot_post_either(place, member_browser):
    url = f"/staff/resources/{place.room.id}"
    assert member_browser.post(url, data=_room_form(name="Hacked")).status_code == 404
    assert member_browser.post(f"/staff/resources/{place.room.id}/active",
                               data={"active": "0"}).status_code == 404
    assert member_browser.post(f"/staff/locations/{place.location.id}/closures",
                               data={"first_day": "2026-12-01", "last_day": "2026-12-01",
                                     "reason": "x"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(Resource, place.room.id).is_active is True
    assert count_rows(Closure) == 0


def test_the_staff_start_page_lists_the_sections(place, staff_browser):
    html = page(staff_browser.get("/staff/"))
    links = {a.attrs.get("href"): a.text for a in html.find_all("a")}
    assert links["/staff/resources"] == "Räume & Plätze"
    assert links["/staff/tiers"] == "Tarife"
    assert links["/staff/location"] == "Öffnungszeiten & Schließtage"


# --- list -------------------------------------------------------------------------------------


def test_the_list_groups_by_kind_in_german_and_english(place, staff_browser, factory):
    factory.resource(location=place.location, kind=ResourceKind.ROOM, slug="old-room",
                     name="Alter Raum", is_active=False)
    db.session.commit()
    response = staff_browser.get("/staff/resources")
    assert response.status_code == 200
    html = page(response)
    assert html.find_all("h1")[0].text == "Räume & Plätze"
    headings = [h.text for h in html.find_all("h2")]
    assert headings == ["Arbeitsplätze (4)", "Studios (1)", "Besprechungsräume (2)"]
    assert "Inaktiv" in html.text
    speak(place.staff, "en")
    english = page(staff_browser.get("/staff/resources", headers=EN))
    assert english.find_all("h1")[0].text == "Spaces and desks"
    assert "Inactive" in english.text


def test_the_list_filters_by_kind_and_status(place, staff_browser, factory):
    factory.resource(location=place.location, kind=ResourceKind.ROOM, slug="old-room",
                     name="Alter Raum", is_active=False)
    db.session.commit()
    html = page(staff_browser.get("/staff/resources?kind=room&status=inactive"))
    names = [th.text for th in html.find_all("th", scope="row")]
    assert names == ["Alter Raum old-room"]
    # Nonsense filters show everything instead of failing.
    assert staff_browser.get("/staff/resources?kind=x&status=y").status_code == 200


# --- create -----------------------------------------------------------------------------------


def test_staff_create_a_room(place, staff_browser):
    response = staff_browser.post("/staff/resources/new",
                                  data=_room_form())
    assert response.status_code == 302
    room = db.session.scalar(select(Resource).where(Resource.slug == "room-2"))
    assert (room.name, room.capacity, room.buffer_after_minutes, room.requires_approval) == (
        "Raum 2", 8, 15, True)
    assert room.location_id == place.location.id
    html = page(staff_browser.get(response.headers["Location"]))
    assert "Raum 2 wurde angelegt." in html.text


def test_with_several_locations_staff_choose_one(place, staff_browser, factory):
    other = factory.location(name="Außenstelle")
    db.session.commit()
    html = page(staff_browser.get("/staff/resources/new"))
    assert [o.text for o in html.find_all("option") if o.attrs.get("value") == str(other.id)]
    data = _room_form(location_id=str(other.id))
    assert staff_browser.post("/staff/resources/new", data=data).status_code == 302
    room = db.session.scalar(select(Resource).where(Resource.slug == "room-2"))
    assert room.location_id == other.id
    response = staff_browser.post("/staff/resources/new",
                                  data=_room_form(slug="room-3", location_id="9999"))
    assert response.status_code == 422
    assert page(response).by_id("location_id-error") is not None


def test_the_new_form_is_labelled_and_prefilled(place, staff_browser):
    speak(place.staff, "en")
    html = page(staff_browser.get("/staff/resources/new", headers=EN))
    labels = {label.attrs.get("for") for label in html.find_all("label")}
    for name in ("slug", "name", "kind", "booking_unit", "capacity", "min_duration_minutes",
                 "buffer_before_minutes", "buffer_after_minutes", "induction"):
        assert name in labels
    assert html.by_id("capacity").attrs["value"] == "1"
    assert "affects new bookings only" in html.text


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"slug": "Raum 2"}, "slug", "Kleinbuchstaben"),
    ({"slug": "studio"}, "slug", "bereits vergeben"),
    ({"capacity": "0"}, "capacity", "Zwischen 1 und 1000"),
    ({"capacity": "viele"}, "capacity", ""),
    ({"min_duration_minutes": "120", "max_duration_minutes": "60"}, "max_duration_minutes",
     "nicht kürzer"),
    ({"min_duration_minutes": "45"}, "min_duration_minutes", "Vielfaches von 30"),
    ({"buffer_before_minutes": "-10"}, "buffer_before_minutes", "Zwischen 0 und 480"),
    ({"kind": "desk", "booking_unit": "half_day", "buffer_after_minutes": "30"},
     "buffer_after_minutes", "keine Puffer"),
    ({"booking_unit": "day"}, "booking_unit", "30-Minuten-Schritten"),
    ({"induction": "AR VR"}, "induction", "Kleinbuchstaben"),
    ({"name": ""}, "name", "Bitte geben Sie einen Namen ein."),
])
def test_each_error_is_shown_beside_its_field_and_nothing_is_written(
    place, staff_browser, changes, field, message
):
    before = count_rows(Resource)
    data = _room_form(**changes)
    response = staff_browser.post("/staff/resources/new", data=data)
    assert response.status_code == 422
    html = page(response)
    error = html.by_id(f"{field}-error")
    assert error is not None, html.text
    assert message in error.text
    control = html.by_id(field)
    assert control.attrs.get("aria-invalid") == "true"
    assert error.attrs["id"] in control.attrs["aria-describedby"]
    assert count_rows(Resource) == before
    # What was typed stays in the form.
    assert html.by_id("name").attrs.get("value", "") == data["name"]
    if control.tag == "input":
        assert control.attrs.get("value", "") == data[field]


def test_errors_are_english_for_english_readers(place, staff_browser):
    speak(place.staff, "en")
    response = staff_browser.post("/staff/resources/new", headers=EN,
                                  data=_room_form(capacity="0"))
    assert "Between 1 and 1000." in page(response).by_id("capacity-error").text


# --- edit -------------------------------------------------------------------------------------


def _edit_form(resource: Resource, **overrides: str) -> dict[str, str]:
    data = {
        "name": resource.name, "zone": resource.zone or "",
        "description": resource.description, "booking_unit": resource.booking_unit.value,
        "capacity": str(resource.capacity),
        "min_duration_minutes": str(resource.min_duration_minutes),
        "max_duration_minutes": str(resource.max_duration_minutes),
        "buffer_before_minutes": str(resource.buffer_before_minutes),
        "buffer_after_minutes": str(resource.buffer_after_minutes),
        "induction": resource.induction or "", "position": str(resource.position),
    }
    if resource.requires_approval:
        data["requires_approval"] = "y"
    if resource.feed_for_members:
        data["feed_for_members"] = "y"
    data.update(overrides)
    return data


def test_the_edit_form_shows_the_current_values(place, staff_browser):
    html = page(staff_browser.get(f"/staff/resources/{place.studio.id}"))
    assert html.by_id("induction").attrs["value"] == "ar-vr-studio"
    assert html.by_id("buffer_after_minutes").attrs["value"] == "30"
    assert html.by_id("slug") is None and html.by_id("kind") is None  # fixed once created


def test_staff_edit_buffers_and_switches(place, staff_browser):
    studio = place.studio
    response = staff_browser.post(f"/staff/resources/{studio.id}", data=_edit_form(
        studio, buffer_after_minutes="60", requires_approval="y", feed_for_members="y",
    ))
    assert response.status_code == 302
    db.session.expire_all()
    studio = db.session.get(Resource, studio.id)
    assert (studio.buffer_after_minutes, studio.requires_approval, studio.feed_for_members) == (
        60, True, True)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "resource.updated"))
    assert entry.actor_id == place.staff.id
    assert entry.details["changed"]["buffer_after_minutes"] == [30, 60]
    # And off again.
    staff_browser.post(f"/staff/resources/{studio.id}", data=_edit_form(
        studio, requires_approval="", feed_for_members=""))
    data = _edit_form(studio)
    data.pop("requires_approval", None)
    data.pop("feed_for_members", None)
    staff_browser.post(f"/staff/resources/{studio.id}", data=data)
    db.session.expire_all()
    studio = db.session.get(Resource, studio.id)
    assert (studio.requires_approval, studio.feed_for_members) == (False, False)


def test_a_desk_cannot_share_its_calendar(place, staff_browser):
    desk = place.desks[0]
    response = staff_browser.post(f"/staff/resources/{desk.id}",
                                  data=_edit_form(desk, feed_for_members="y"))
    assert response.status_code == 422
    error = page(response).by_id("feed_for_members-error")
    assert "Studios und Räumen" in error.text
    db.session.expire_all()
    assert db.session.get(Resource, desk.id).feed_for_members is False


def test_an_edit_error_keeps_the_input_and_changes_nothing(place, staff_browser):
    room = place.room
    response = staff_browser.post(f"/staff/resources/{room.id}", data=_edit_form(
        room, name="Neuer Name", min_duration_minutes="90", max_duration_minutes="60"))
    assert response.status_code == 422
    html = page(response)
    assert html.by_id("max_duration_minutes-error") is not None
    assert html.by_id("name").attrs["value"] == "Neuer Name"
    db.session.expire_all()
    assert db.session.get(Resource, room.id).name == room.name


def test_an_unknown_resource_is_404(place, staff_browser):
    assert staff_browser.get("/staff/resources/9999").status_code == 404


def test_deactivate_and_reactivate(place, staff_browser):
    room = place.room
    response = staff_browser.post(f"/staff/resources/{room.id}/active", data={"active": "0"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Resource, room.id).is_active is False
    speak(place.staff, "en")
    html = page(staff_browser.get(f"/staff/resources/{room.id}", headers=EN))
    assert "Reactivate" in html.text
    # The public list no longer offers it.
    assert "/resources/room/book" not in staff_browser.get("/resources").get_data(as_text=True)
    staff_browser.post(f"/staff/resources/{room.id}/active", data={"active": "1"})
    db.session.expire_all()
    assert db.session.get(Resource, room.id).is_active is True


def test_delete_only_what_was_never_booked(place, staff_browser, factory):
    factory.booking(resource=place.room, user=place.member)
    db.session.commit()
    speak(place.staff, "en")
    html = page(staff_browser.get(f"/staff/resources/{place.room.id}", headers=EN))
    assert "cannot be deleted" in html.text
    response = staff_browser.post(f"/staff/resources/{place.room.id}/delete")
    assert response.status_code == 302
    assert db.session.get(Resource, place.room.id) is not None
    desk_id = place.desks[3].id
    assert staff_browser.get(f"/staff/resources/{desk_id}/delete").status_code == 200
    assert staff_browser.post(f"/staff/resources/{desk_id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(Resource).where(Resource.id == desk_id)) is None


# --- opening hours ----------------------------------------------------------------------------


def _hours_form(**overrides: str) -> dict[str, str]:
    data: dict[str, str] = {"half_day_split": "13:00"}
    for d in range(7):
        if d < 5:
            data[f"days-{d}-opens"], data[f"days-{d}-closes"] = "08:00", "20:00"
        else:
            data[f"days-{d}-closed"] = "y"
    data.update(overrides)
    return data


def test_the_location_page_shows_the_hours(place, staff_browser):
    response = staff_browser.get("/staff/location")
    assert response.status_code == 302
    html = page(staff_browser.get(response.headers["Location"]))
    assert html.find_all("h1")[0].text == "Öffnungszeiten & Schließtage"
    assert [legend.text for legend in html.find_all("legend")][:2] == ["Montag", "Dienstag"]
    assert html.by_id("days-0-opens").attrs["value"] == "08:00"
    assert "checked" in html.by_id("days-6-closed").attrs
    speak(place.staff, "en")
    english = page(staff_browser.get(response.headers["Location"], headers=EN))
    assert english.find_all("legend")[0].text == "Monday"


def test_staff_save_opening_hours(place, staff_browser):
    url = f"/staff/locations/{place.location.id}/hours"
    data = _hours_form(**{"days-2-opens": "09:30", "days-2-closes": "18:00",
                          "half_day_split": "12:30"})
    del data["days-5-closed"]
    data["days-5-opens"], data["days-5-closes"] = "10:00", "14:00"
    response = staff_browser.post(url, data=data)
    assert response.status_code == 302
    db.session.expire_all()
    rows = db.session.scalars(select(OpeningHours).where(OpeningHours.weekday.in_([2, 5]))
                              .order_by(OpeningHours.weekday, OpeningHours.opens)).all()
    assert [(r.weekday, r.opens, r.closes) for r in rows] == [
        (2, time(9, 30), time(18)), (5, time(10), time(14))]
    assert db.session.get(type(place.location), place.location.id).half_day_split == time(12, 30)
    html = page(staff_browser.get(response.headers["Location"]))
    assert "Die Öffnungszeiten wurden gespeichert." in html.text
    assert html.by_id("outside") is None


def test_new_hours_over_bookings_are_saved_and_the_bookings_listed(place, staff_browser, factory):
    rules = location_rules(place.location, {2026})
    booking = factory.booking(resource=place.room, user=place.member,
                              starts_at=rules.local(date(2026, 11, 24), time(10)))
    db.session.commit()
    url = f"/staff/locations/{place.location.id}/hours"
    data = _hours_form(**{"days-1-closed": "y"})
    response = staff_browser.post(url, data=data)
    assert response.status_code == 302
    html = page(staff_browser.get(response.headers["Location"]))
    assert "1 anstehende Buchung liegt außerhalb der Öffnungszeiten" in html.text
    outside = html.by_id("outside")
    assert place.member.name in outside.text
    assert any(a.attrs.get("href") == f"/bookings/{booking.id}"
               for a in html.find_all("a"))


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"days-1-opens": "18:00", "days-1-closes": "08:00"}, "days-1-closes",
     "Schließzeit muss nach der Öffnungszeit"),
    ({"days-1-opens": ""}, "days-1-opens", "Bitte geben Sie eine Uhrzeit ein"),
    ({"days-1-opens": "8 Uhr"}, "days-1-opens", ""),
])
def test_hours_errors_are_beside_the_day_and_change_nothing(
    place, staff_browser, overrides, field, message
):
    url = f"/staff/locations/{place.location.id}/hours"
    response = staff_browser.post(url, data=_hours_form(**overrides))
    assert response.status_code == 422
    html = page(response)
    error = html.by_id(f"{field}-error")
    assert error is not None and message in error.text
    for name, value in overrides.items():  # typed input is kept
        assert html.by_id(name).attrs.get("value", "") == value
    db.session.expire_all()
    rows = db.session.scalars(select(OpeningHours).where(OpeningHours.weekday == 1)).all()
    assert [(r.opens, r.closes) for r in rows] == [(time(8), time(20))]


# --- closures ---------------------------------------------------------------------------------


def _closure_url(place) -> str:
    return f"/staff/locations/{place.location.id}/closures"


def test_staff_add_a_closure_and_the_engine_refuses_that_day(place, staff_browser, clock):
    response = staff_browser.post(_closure_url(place), data={
        "first_day": "2026-11-27", "last_day": "2026-11-27", "reason": "Betriebsausflug"})
    assert response.status_code == 302
    [closure] = db.session.scalars(select(Closure)).all()
    assert (closure.first_day, closure.reason) == (date(2026, 11, 27), "Betriebsausflug")
    html = page(staff_browser.get(response.headers["Location"]))
    assert "Betriebsausflug" in html.text
    rules = location_rules(place.location, {2026})
    with pytest.raises(BookingError) as caught:
        create_bookings(
            db.session, actor=place.member, now=clock(),
            request=BookingRequest(
                start=rules.local(date(2026, 11, 27), time(10)),
                end=rules.local(date(2026, 11, 27), time(11)), resource_slug="room"),
        )
    assert caught.value.code == "closure"
    # The member's booking page says so too.
    member = staff_browser.application.test_client()
    log_in(member, place.member)
    response = member.post("/resources/room/book", data={
        "day": "2026-11-27", "start": "10:00", "end": "11:00"})
    assert response.status_code == 422


@pytest.mark.parametrize(("data", "field"), [
    ({"first_day": "", "last_day": "2026-12-01", "reason": "x"}, "first_day"),
    ({"first_day": "2026-12-02", "last_day": "2026-12-01", "reason": "x"}, "last_day"),
    ({"first_day": "2026-12-01", "last_day": "2026-12-01", "reason": ""}, "reason"),
    ({"first_day": "kein Datum", "last_day": "2026-12-01", "reason": "x"}, "first_day"),
    ({"first_day": "9999-12-31", "last_day": "9999-12-31", "reason": "x"}, "last_day"),
])
def test_closure_errors_are_beside_the_field(place, staff_browser, data, field):
    response = staff_browser.post(_closure_url(place), data=data)
    assert response.status_code == 422
    html = page(response)
    assert html.by_id(f"{field}-error") is not None
    assert html.by_id("reason").attrs.get("value", "") == data["reason"]
    assert count_rows(Closure) == 0


def test_a_closure_over_bookings_lists_them_and_needs_a_second_submit(
    place, staff_browser, factory
):
    rules = location_rules(place.location, {2026})
    booking = factory.booking(resource=place.room, user=place.member,
                              starts_at=rules.local(date(2026, 11, 26), time(10)))
    db.session.commit()
    data = {"first_day": "2026-11-26", "last_day": "2026-11-26", "reason": "Wasserschaden"}
    speak(place.staff, "en")
    response = staff_browser.post(_closure_url(place), data=data, headers=EN)
    assert response.status_code == 409
    html = page(response)
    warning = html.by_id("closure-warning")
    assert "1 booking falls on these days." in warning.text
    assert place.member.name in warning.text
    assert any(a.attrs.get("href") == f"/bookings/{booking.id}" for a in warning_links(html))
    assert html.by_id("confirmed").attrs["value"] == "1"
    assert count_rows(Closure) == 0
    speak(place.staff, "de")
    response = staff_browser.post(_closure_url(place), data={**data, "confirmed": "1"})
    assert response.status_code == 302
    assert count_rows(Closure) == 1
    # The location page keeps listing the booking still to cancel.
    html = page(staff_browser.get(response.headers["Location"]))
    assert "1 Buchung noch zu stornieren" in html.text


def warning_links(html):
    return [a for a in html.find_all("a") if a.attrs.get("href", "").startswith("/bookings/")]


def test_remove_a_closure(place, staff_browser):
    place.location.closures.append(
        Closure(first_day=date(2026, 12, 24), last_day=date(2026, 12, 26), reason="Weihnachten"))
    db.session.commit()
    closure_id = db.session.scalar(select(Closure.id))
    response = staff_browser.post(f"/staff/closures/{closure_id}/delete")
    assert response.status_code == 302
    assert count_rows(Closure) == 0
    assert staff_browser.post("/staff/closures/9999/delete").status_code == 404


def test_the_booking_after_a_buffer_change_keeps_its_range(place, staff_browser, factory, clock):
    booking = factory.booking(resource=place.studio, user=place.member,
                              starts_at=clock() + timedelta(days=2))
    db.session.commit()
    blocked = (booking.block_start, booking.block_end)
    staff_browser.post(f"/staff/resources/{place.studio.id}",
                       data=_edit_form(place.studio, buffer_after_minutes="120"))
    db.session.expire_all()
    booking = db.session.get(type(booking), booking.id)
    assert (booking.block_start, booking.block_end) == blocked
