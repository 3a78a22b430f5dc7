"""Booking from the web page: a free desk half day is confirmed at once, a paid room goes on
to the checkout and ends confirmed, a taken slot offers alternatives, bad input writes nothing.
On both databases, on the embedded default (simulated payments)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from schiller40.booking import waitlist
from schiller40.booking.cancel import cancel
from schiller40.booking.models import Booking, BookingStatus, WaitlistEntry, WaitlistStatus
from schiller40.booking.settings import DEFAULT_SETTINGS
from schiller40.extensions import db
from schiller40.models import Resource, ResourceKind
from tests.factories import PASSWORD
from tests.helpers import TUE, WED, book_hours, bookings, browser, local
from tests.html import page

DAY = TUE.isoformat()  # as the forms take it; the clock stands on Monday morning


def errors_of(html) -> str:
    return " ".join(e.text for e in html.find_all("div", **{"class": "form-errors"}))


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


def test_the_form_sent_twice_shows_the_booking_already_made(mia):
    """A double click or the back button: the second submission leads to the booking the
    first one made, with a note, not to an error or a second booking."""
    data = {"day": DAY, "part": "morning"}
    first = mia.post("/resources/desk-a1/book", data=data)
    (booking,) = bookings()
    assert first.headers["Location"].endswith(f"/bookings/{booking.id}")
    again = mia.post("/resources/desk-a1/book", data=data)
    assert again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    assert len(bookings()) == 1
    shown = page(mia.get(again.headers["Location"])).text
    assert "Diese Zeit haben Sie bereits gebucht." in shown


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


# --- my bookings -------------------------------------------------------------------------


def actions(response) -> set[str]:
    html = page(response)
    return ({str(f.attrs.get("action")) for f in html.find_all("form")}
            | {str(a.attrs.get("href")) for a in html.find_all("a")})


def test_my_bookings_lists_upcoming_and_past_with_what_can_be_done(mia, place, clock):
    included = book_hours(place.member, "desk-a1", clock, start=8, end=13)[0].id  # Tuesday morning, credit
    clock.advance(timedelta(days=1, hours=5))  # Tuesday afternoon: the morning is past
    held = book_hours(place.member, "room", clock, day=WED, start=10, end=11)[0].id  # Wednesday room: to be paid
    response = mia.get("/bookings")
    assert response.status_code == 200
    text = page(response).text
    assert "Meine Buchungen" in text and "Bevorstehend" in text
    found = actions(response)
    assert {f"/bookings/{held}", f"/bookings/{included}"} <= found
    # The held room can be paid and cancelled; the past desk only looked at.
    assert {f"/bookings/{held}/pay", f"/bookings/{held}/cancel"} <= found
    assert f"/bookings/{included}/cancel" not in found


def test_my_bookings_shows_only_my_own(app, mia, place, factory, clock):
    other = factory.user(tier=place.tier, email="jonas@example.org")
    db.session.commit()
    theirs = book_hours(other, "room", clock, start=10, end=11)[0].id
    assert f"/bookings/{theirs}" not in actions(mia.get("/bookings"))
    assert f"/bookings/{theirs}" in actions(browser(app, other).get("/bookings"))


def test_a_waiting_list_offer_is_booked_or_left_from_my_bookings(mia, place, factory, clock):
    other = factory.user(tier=place.tier, email="jonas@example.org")
    db.session.commit()
    taken = book_hours(other, "room", clock, start=10, end=11)[0].id
    entry = waitlist.join(db.session, actor=place.member, resource_slug="room",
                          start=local(TUE, 10), end=local(TUE, 11), now=clock(),
                          settings=DEFAULT_SETTINGS)
    entry_id = entry.id
    # Not offered yet: only leaving is possible.
    found = actions(mia.get("/bookings"))
    assert f"/waitlist/{entry_id}/accept" not in found and f"/waitlist/{entry_id}/decline" in found
    cancel(db.session, actor=other, booking_id=taken, now=clock())
    assert f"/waitlist/{entry_id}/accept" in actions(mia.get("/bookings"))
    accepted = mia.post(f"/waitlist/{entry_id}/accept")
    assert accepted.status_code == 303  # the room costs money: on to the checkout
    assert urlsplit(accepted.headers["Location"]).path.startswith("/pay/simulated/")
    db.session.expire_all()
    assert db.session.get(WaitlistEntry, entry_id).status is WaitlistStatus.ACCEPTED
    # Accepting again is refused with a message, not an error page.
    again = mia.post(f"/waitlist/{entry_id}/accept")
    assert again.status_code == 302 and again.headers["Location"].endswith("/bookings#waitlist")


def test_leaving_the_waiting_list(mia, place, factory, clock):
    other = factory.user(tier=place.tier, email="jonas@example.org")
    db.session.commit()
    book_hours(other, "room", clock, start=10, end=11)
    entry_id = waitlist.join(db.session, actor=place.member, resource_slug="room",
                             start=local(TUE, 10), end=local(TUE, 11), now=clock(),
                             settings=DEFAULT_SETTINGS).id
    assert mia.post(f"/waitlist/{entry_id}/decline").status_code == 302
    db.session.expire_all()
    assert db.session.get(WaitlistEntry, entry_id).status is WaitlistStatus.CANCELLED
    assert f"/waitlist/{entry_id}/decline" not in actions(mia.get("/bookings"))


# --- the price before confirming -----------------------------------------------------------


def english_speaker(client) -> None:
    """Switch to English as a member does: the choice is saved with the account."""
    assert client.post("/language", data={"lang": "en", "next": "/"}).status_code == 302


def preview_text(response) -> str:
    section = page(response).by_id("preview")
    assert section is not None
    return section.text


def test_a_link_from_the_grid_shows_the_price_before_booking(mia, place):
    response = mia.get(f"/resources/room/book?day={DAY}&start=10:00&end=11:30")
    assert response.status_code == 200
    text = preview_text(response)
    assert "18,00 €" in text and "inkl. 19 % MwSt." in text
    assert "Ihre Mitgliedschaft: " in text and "halber Tag" not in text
    assert "pro Stunde 12,00 €" in text
    assert bookings() == []  # looking costs nothing
    english_speaker(mia)
    english = mia.get(f"/resources/room/book?day={DAY}&start=10:00&end=11:30")
    assert "€18.00" in preview_text(english)


def test_an_included_desk_says_so_and_what_credit_it_uses(mia, place):
    text = preview_text(mia.get(f"/resources/desk-a1/book?day={DAY}&part=morning"))
    assert "in Ihrer Mitgliedschaft enthalten" in text
    assert "Aus Ihrem Inklusivkontingent 1 halber Arbeitsplatztag" in text
    assert "Im November 2026 noch enthalten: 2 halbe Arbeitsplatztage und 60 Studiominuten" in text
    form = page(mia.get(f"/resources/desk-a1/book?day={DAY}&part=morning"))
    assert len(form.find_all("select", name="part")) == 1
    selected = [o for o in form.find_all("option") if "selected" in o.attrs]
    assert [o.attrs["value"] for o in selected] == ["morning"]


def test_check_price_shows_the_price_and_books_nothing(mia):
    response = mia.post("/resources/studio/book", data={
        "day": "2026-11-26", "start": "10:00", "end": "12:00", "action": "preview"})
    assert response.status_code == 200
    text = preview_text(response)
    # Two hours: one included, the second at 35 EUR.
    assert "35,00 €" in text and "60 Studiominuten" in text
    assert bookings() == []
    values = {str(i.attrs["name"]): i.attrs.get("value") for i in page(response).find_all("input")
              if i.attrs.get("name")}
    assert values["start"] == "10:00" and values["end"] == "12:00"  # kept for "Book"
    booked = mia.post("/resources/studio/book", data={
        "day": "2026-11-26", "start": "10:00", "end": "12:00", "action": "book"})
    assert booked.status_code == 303
    (booking,) = bookings()
    assert booking.price_gross_cents == 3500


def test_check_price_explains_a_rule_that_refuses(mia):
    response = mia.post("/resources/room/book", data={
        "day": "2027-03-01", "start": "10:00", "end": "11:00", "action": "preview"})
    assert response.status_code == 422
    assert "nicht so weit im Voraus" in preview_text(response)
    assert bookings() == []


def test_the_booking_form_states_the_cancellation_terms(mia):
    html = page(mia.get("/resources/studio/book"))
    terms = html.by_id("terms-heading")
    assert terms is not None and terms.text == "Stornobedingungen"
    assert "bis 48 Stunden vor Beginn 100 % zurück" in html.text


# --- a taken slot: alternatives and the waiting list -------------------------------------


def test_a_taken_slot_offers_alternatives_and_the_waiting_list(app, mia, place, factory, clock):
    other = factory.user(tier=place.tier, email="jonas@example.org")
    db.session.commit()
    book_hours(other, "room", clock, start=10, end=11)
    response = mia.get(f"/resources/room/book?day={DAY}&start=10:00&end=11:00")
    html = page(response)
    assert "bereits gebucht" in preview_text(response)
    assert [a for a in html.find_all("a") if "start=" in str(a.attrs.get("href"))]
    assert len(html.find_all("form", action="/resources/room/waitlist")) == 1
    joined = mia.post("/resources/room/waitlist",
                      data={"day": DAY, "start": "10:00", "end": "11:00"})
    assert joined.status_code == 302 and joined.headers["Location"].endswith("/bookings#waitlist")
    db.session.expire_all()
    (entry,) = db.session.scalars(select(WaitlistEntry)).all()
    assert entry.user_id == place.member.id and entry.status is WaitlistStatus.WAITING
    again = mia.post("/resources/room/waitlist", data={"day": DAY, "start": "10:00",
                                                       "end": "11:00"})
    assert again.status_code == 422
    assert "bereits auf der Warteliste" in errors_of(page(again))


def test_the_waiting_list_is_only_for_taken_slots_and_members(client, mia):
    free = mia.post("/resources/room/waitlist", data={"day": DAY, "start": "10:00",
                                                      "end": "11:00"})
    assert free.status_code == 422 and "frei" in errors_of(page(free))
    bad = mia.post("/resources/room/waitlist", data={"day": "x", "start": "10:00"})
    assert bad.status_code == 422
    assert client.post("/resources/room/waitlist", data={"day": DAY}).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(WaitlistEntry)) == 0


# --- the confirmation page ---------------------------------------------------------------


def test_the_confirmation_shows_the_booking_the_ics_and_the_terms(mia, place, clock):
    booking_id = book_hours(place.member, "desk-a1", clock, start=8, end=13)[0].id
    html = page(mia.get(f"/bookings/{booking_id}"))
    hrefs = {str(a.attrs.get("href")) for a in html.find_all("a")}
    assert f"/bookings/{booking_id}.ics" in hrefs or any(h.endswith(".ics") for h in hrefs)
    assert f"/bookings/{booking_id}/reschedule" in hrefs
    assert html.by_id("terms-heading") is not None
    assert "Genutztes Inklusivkontingent erhalten Sie zurück" in html.text


# --- rescheduling --------------------------------------------------------------------------


def test_my_bookings_offers_to_change_the_time(mia, place, clock):
    booking_id = book_hours(place.member, "room", clock, start=10, end=11)[0].id
    assert f"/bookings/{booking_id}/reschedule" in actions(mia.get("/bookings"))


def test_a_booking_is_moved_to_another_time_and_space(mia, place, clock):
    booking_id = book_hours(place.member, "desk-a1", clock, start=8, end=13)[0].id
    form = page(mia.get(f"/bookings/{booking_id}/reschedule"))
    assert {o.attrs["value"] for o in form.find_all("option") if "selected" in o.attrs} == {
        "morning", "desk-a1"}
    response = mia.post(f"/bookings/{booking_id}/reschedule", data={
        "resource": "desk-b2", "day": "2026-11-25", "part": "afternoon"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/bookings/{booking_id}")
    (booking,) = bookings()
    assert booking.resource.slug == "desk-b2"
    assert booking.starts_at == local(WED, 13)
    assert "Ihre Buchung wurde verlegt." in page(mia.get(response.headers["Location"])).text


def test_a_move_onto_a_taken_time_keeps_the_input_and_offers_alternatives(
    app, mia, place, factory, clock,
):
    other = factory.user(tier=place.tier, email="jonas@example.org")
    db.session.commit()
    book_hours(other, "room", clock, day=WED, start=10, end=11)
    mine_id = book_hours(place.member, "room", clock, start=10, end=11)[0].id
    response = mia.post(f"/bookings/{mine_id}/reschedule", data={
        "resource": "room", "day": "2026-11-25", "start": "10:00", "end": "11:00"})
    assert response.status_code == 422
    html = page(response)
    assert "bereits gebucht" in errors_of(html)
    values = {str(i.attrs["name"]): i.attrs.get("value") for i in html.find_all("input")
              if i.attrs.get("name")}
    assert values["day"] == "2026-11-25" and values["start"] == "10:00"
    moves = [str(a.attrs["href"]) for a in html.find_all("a")
             if f"/bookings/{mine_id}/reschedule?" in str(a.attrs.get("href"))]
    assert moves, "alternatives lead back to this booking's reschedule form"
    assert bookings()[1].starts_at == local(TUE, 10)  # unchanged


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"resource": "room", "day": DAY, "start": "11:00", "end": "10:00"}, "end"),
        ({"resource": "room", "day": "nope", "start": "10:00", "end": "11:00"}, "day"),
        ({"resource": "studio", "day": DAY, "start": "12:00", "end": "13:00"}, "resource"),
        ({"resource": "room", "day": "9999-01-01", "start": "10:00", "end": "11:00"}, "day"),
    ],
)
def test_a_bad_move_is_explained_and_changes_nothing(mia, place, clock, data, field):
    booking_id = book_hours(place.member, "room", clock, start=10, end=11)[0].id
    response = mia.post(f"/bookings/{booking_id}/reschedule", data=data)
    assert response.status_code == 422
    (control,) = [e for e in page(response).elements if e.attrs.get("name") == field]
    assert control.attrs.get("aria-invalid") == "true"
    (booking,) = bookings()
    assert booking.starts_at == local(TUE, 10) and booking.resource.slug == "room"


def test_only_my_own_upcoming_bookings_can_be_moved(app, client, mia, place, factory, clock):
    other = factory.user(tier=place.tier, email="jonas@example.org")
    db.session.commit()
    theirs = book_hours(other, "room", clock, start=10, end=11)[0].id
    assert mia.get(f"/bookings/{theirs}/reschedule").status_code == 404
    assert mia.post(f"/bookings/{theirs}/reschedule", data={
        "resource": "room", "day": DAY, "start": "12:00", "end": "13:00"}).status_code == 404
    staff = browser(app, place.staff)
    assert staff.get(f"/bookings/{theirs}/reschedule").status_code == 404
    assert mia.get("/bookings/999999/reschedule").status_code == 404
    assert client.get(f"/bookings/{theirs}/reschedule").status_code == 302
    mine_id = book_hours(place.member, "room", clock, start=12, end=13)[0].id
    clock.advance(timedelta(days=2))  # over
    gone = mia.get(f"/bookings/{mine_id}/reschedule")
    assert gone.status_code == 302 and gone.headers["Location"].endswith(f"/bookings/{mine_id}")
    assert bookings()[0].starts_at == local(TUE, 10)


def test_a_hold_that_ran_out_is_not_offered_a_move(mia, place, factory, clock):
    """The member's list, booking page and move form ask ``Booking.can_reschedule``, as the
    service and the staff move page do: a hold that ran out unwritten is not moved."""
    booking = factory.booking(resource=db.session.get(Resource, place.room.id),
                              user=place.member, starts_at=local(TUE, 10),
                              duration=timedelta(hours=1), status=BookingStatus.HELD,
                              hold_expires_at=clock() - timedelta(minutes=1))
    db.session.commit()
    move = f"/bookings/{booking.id}/reschedule"
    assert move not in actions(mia.get("/bookings"))
    detail = page(mia.get(f"/bookings/{booking.id}"))
    assert move not in {str(a.attrs.get("href")) for a in detail.find_all("a")}
    refused = mia.get(move)
    assert refused.status_code == 302
    assert refused.headers["Location"].endswith(f"/bookings/{booking.id}")


def test_the_reschedule_form_in_english(mia, place, clock):
    booking_id = book_hours(place.member, "room", clock, start=10, end=11)[0].id
    english_speaker(mia)
    html = page(mia.get(f"/bookings/{booking_id}/reschedule"))
    assert html.find_all("h1")[0].text == "Change booking"


@pytest.mark.parametrize(
    ("day", "german", "english"),
    [
        ("2026-11-01", "Dieses Datum liegt in der Vergangenheit. Bitte wählen Sie heute oder ein "
                       "späteres Datum.",
         "This date is in the past. Please choose today or a later date."),
        ("2029-01-01", "Bitte wählen Sie ein Datum innerhalb der nächsten zwei Jahre.",
         "Please choose a date within the next two years."),
    ],
)
def test_a_day_in_the_past_is_called_past_not_too_far_ahead(app, mia, place, day, german,
                                                            english):
    """A past date was told "choose a date within the next two years" (issue 17): the booking,
    any-desk and reschedule forms share one validator, which now says which way it is off."""
    from tests.staff.calendar_helpers import errors_of

    assert errors_of(mia.post("/resources/room/book",
                              data={"day": day, "start": "10:00", "end": "11:00"}),
                     "day") == [german]
    assert errors_of(mia.post("/availability/any-desk",
                              data={"any-day": day, "any-part": "day"}),
                     "any-day") == [german]
    assert mia.post("/language", data={"lang": "en"}).status_code == 302
    assert errors_of(mia.post("/resources/desk-a1/book", data={"day": day, "part": "day"}),
                     "day") == [english]
    assert bookings() == []


def test_a_desk_without_a_zone_does_not_break_the_resource_list(client, factory):
    location = factory.location()
    factory.resource(location=location, kind=ResourceKind.DESK, zone=None, name="Tresen 1")
    factory.resource(location=location, kind=ResourceKind.DESK, zone="Open Space A")
    response = client.get("/resources")
    assert response.status_code == 200
    assert "Tresen 1" in response.get_data(as_text=True)


def test_a_hold_past_its_time_shows_as_expired_everywhere(client, factory, clock):
    """Before any write marks it, the page, the API and the feed already call it expired,
    and the feed's ETag changes at that moment, so calendar apps refetch."""
    location = factory.location()
    room = factory.resource(location=location, kind=ResourceKind.ROOM, slug="room")
    member = factory.user(email="anna@example.org")
    held = factory.booking(resource=room, user=member, status=BookingStatus.HELD,
                           starts_at=clock() + timedelta(days=1),
                           hold_expires_at=clock() + timedelta(minutes=15),
                           price_gross_cents=1200, price_net_cents=1008, price_tax_cents=192)
    db.session.commit()
    client.post("/login", data={"email": "anna@example.org", "password": PASSWORD})
    token = client.post("/api/v1/tokens", json={"email": "anna@example.org",
                                                "password": PASSWORD}).get_json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    feed_url = client.get("/api/v1/feeds", headers=auth).get_json()["feeds"][0]["url"]
    feed_path = urlsplit(feed_url).path
    before = client.get(feed_path)
    assert "STATUS:TENTATIVE" in before.get_data(as_text=True)

    clock.advance(timedelta(minutes=16))
    api = client.get(f"/api/v1/bookings/{held.id}", headers=auth).get_json()["booking"]
    assert api["status"] == "expired" and api["payment"]["status"] == "expired"
    page = client.get(f"/bookings/{held.id}").get_data(as_text=True)
    assert "verfallen" in page or "expired" in page
    after = client.get(feed_path, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert "STATUS:CANCELLED" in after.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(type(held), held.id).status is BookingStatus.HELD  # nothing written
