"""Booking from the web page: a free desk half day is confirmed at once, a paid room goes on
to the checkout and ends confirmed, a taken slot offers alternatives, bad input writes nothing.
On both databases, on the embedded default (simulated payments)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from schiller40.booking.models import Booking, BookingStatus
from schiller40.extensions import db
from schiller40.models import Resource
from tests.factories import PASSWORD
from tests.html import page

DAY = "2026-11-24"  # a Tuesday; the clock stands on Monday morning


def browser(app, user):
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


@pytest.fixture
def mia(app, place):
    return browser(app, place.member)


def errors_of(html) -> str:
    return " ".join(e.text for e in html.find_all("div", **{"class": "form-errors"}))


def bookings() -> list[Booking]:
    db.session.expire_all()
    return list(db.session.scalars(select(Booking).order_by(Booking.id)))


def test_a_desk_half_day_from_the_included_credit_is_confirmed(mia, place):
    form = mia.get("/resources/desk-a1/book")
    assert form.status_code == 200
    assert page(form).find_all("select", name="part")
    response = mia.post("/resources/desk-a1/book", data={"day": DAY, "part": "morning"})
    assert response.status_code == 302
    (booking,) = bookings()
    assert response.headers["Location"].endswith(f"/bookings/{booking.id}")
    assert booking.status is BookingStatus.CONFIRMED and booking.price_gross_cents == 0
    local = booking.starts_at.astimezone(place.location.tz), booking.ends_at.astimezone(
        place.location.tz)
    assert (local[0].hour, local[1].hour) == (8, 13)
    assert "Gebucht. Bis bald im Schiller40!" in page(mia.get(response.headers["Location"])).text


def test_a_paid_room_goes_to_the_checkout_and_ends_confirmed(mia):
    response = mia.post("/resources/room/book",
                        data={"day": DAY, "start": "10:00", "end": "11:30", "note": "Pitch"})
    assert response.status_code == 303
    checkout = urlsplit(response.headers["Location"]).path
    assert checkout.startswith("/pay/simulated/cs_sim_")
    (booking,) = bookings()
    assert booking.status is BookingStatus.HELD and booking.note == "Pitch"
    assert booking.price_gross_cents == 1800  # 1.5 hours at 12 EUR
    back = mia.post(checkout, data={"action": "pay"})
    detail = mia.get(back.headers["Location"])
    assert detail.status_code == 302
    (booking,) = bookings()
    assert booking.status is BookingStatus.CONFIRMED


def test_a_taken_slot_explains_and_links_real_alternatives(app, mia, place, factory):
    other = factory.user(tier=place.tier, email="jonas@example.org")
    db.session.commit()
    jonas = browser(app, other)
    assert jonas.post("/resources/room/book",
                      data={"day": DAY, "start": "10:00", "end": "11:00"}).status_code == 303
    refused = mia.post("/resources/room/book", data={"day": DAY, "start": "10:00", "end": "11:00"})
    assert refused.status_code == 422
    html = page(refused)
    assert "bereits gebucht" in errors_of(html)
    links = [str(a.attrs["href"]) for a in html.find_all("a") if "?day=" in str(a.attrs.get("href"))]
    assert links, "a conflict offers alternatives"
    # Following one pre-fills the form, and booking it works.
    prefilled = page(mia.get(links[0]))
    values = {str(i.attrs["name"]): i.attrs.get("value") for i in prefilled.find_all("input")
              if i.attrs.get("name")}
    assert values["day"] and values["start"] and values["end"]
    target = urlsplit(links[0]).path
    assert mia.post(target, data={"day": values["day"], "start": values["start"],
                                  "end": values["end"]}).status_code == 303
    assert len(bookings()) == 2


@pytest.mark.parametrize(
    ("slug", "data", "field"),
    [
        ("room", {"day": DAY, "start": "11:00", "end": "10:00"}, "end"),
        ("room", {"day": DAY, "start": "10:00"}, "end"),
        ("room", {"day": "not-a-date", "start": "10:00", "end": "11:00"}, "day"),
        ("room", {"day": "0001-01-01", "start": "00:00", "end": "23:30"}, "day"),
        ("room", {"day": "9999-12-31", "start": "00:00", "end": "23:30"}, "day"),
        ("desk-a1", {"day": "9999-12-31", "part": "day"}, "day"),
        ("desk-a1", {"day": "2026-11-29", "part": "morning"}, "day"),  # a Sunday: closed
        ("desk-a1", {"day": DAY, "part": "evening"}, "part"),
        ("room", {"day": DAY, "start": "10:00", "end": "11:00", "note": "x" * 501}, "note"),
        ("room", {"day": DAY, "start": "10:00", "end": "11:00", "note": "a\x00b"}, "note"),
    ],
)
def test_bad_input_is_explained_beside_the_field_and_writes_nothing(mia, slug, data, field):
    response = mia.post(f"/resources/{slug}/book", data=data)
    assert response.status_code == 422
    html = page(response)
    (control,) = [e for e in html.elements if e.attrs.get("name") == field]
    assert control.attrs.get("aria-invalid") == "true"
    assert bookings() == []


def test_rules_refusing_show_their_reason(mia):
    # 09:15 is not on the 30-minute grid of rooms.
    response = mia.post("/resources/room/book", data={"day": DAY, "start": "09:15", "end": "10:15"})
    assert response.status_code == 422
    assert "Schritten" in errors_of(page(response))  # the rule's own explanation
    assert bookings() == []


def test_the_form_needs_a_login_and_a_real_active_space(app, client, mia, place):
    assert client.get("/resources/room/book").status_code == 302  # to the log-in page
    assert mia.get("/resources/nope/book").status_code == 404
    db.session.get(Resource, place.room.id).is_active = False
    db.session.commit()
    assert mia.get("/resources/room/book").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 0


def test_spaces_page_links_to_the_form(client, place):
    html = page(client.get("/resources"))
    hrefs = {a.attrs.get("href") for a in html.find_all("a")}
    assert "/resources/studio/book" in hrefs and "/resources/desk-a1/book" in hrefs


def test_a_mangled_link_gives_an_empty_form_not_an_error(mia):
    for query in ("day=9999-12-31&start=10:00&end=11:00", "day=2026-02-30",
                  "day=2026-11-24&start=25:00&end=x"):
        assert mia.get(f"/resources/room/book?{query}").status_code == 200
