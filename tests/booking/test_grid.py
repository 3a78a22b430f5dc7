"""The availability grid and "any free desk", on both databases.

The clock stands on Monday 23 November 2026, 09:00 in Wolfsburg: Monday's desk mornings have
begun, Tuesday (24th) is entirely ahead. ``place`` has four desks in two zones (desk-a1, desk-a2
in "Open Space A"; desk-b1, desk-b2 in "Open Space B"), a studio with 30 minutes of cleanup,
a room, and the Flex member Mia (1 desk day and 1 studio hour included, 30 days ahead).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from schiller40.booking.models import BookingStatus
from schiller40.extensions import db
from schiller40.models import BlockKind, ResourceKind
from tests.helpers import MON, TUE, WED, bookings, browser, local
from tests.html import Element, Page, page
from tests.statements import statements

DAY = TUE.isoformat()  # as the forms and links take it


def row_cells(html: Page, slug: str) -> list[str]:
    """The text of the cells of a resource's row in the grid (without the row header)."""
    rows = [e for e in html.elements if e.tag == "tr" and e.attrs.get("id") == f"r-{slug}"]
    assert rows, f"no row for {slug}"
    return _cells_after(html, rows[0])


def _cells_after(html: Page, row: Element) -> list[str]:
    start = html.elements.index(row)
    cells: list[str] = []
    for element in html.elements[start + 1:]:
        if element.tag == "tr":
            break
        if element.tag == "td":
            cells.append(element.text)
    return cells


def links(html: Page) -> set[str]:
    return {str(a.attrs.get("href")) for a in html.find_all("a")}


def field_error(html: Page, name: str) -> str:
    invalid = [e for e in html.elements if e.attrs.get("name") == name
               and e.tag in ("input", "select") and e.attrs.get("aria-invalid") == "true"]
    assert len(invalid) == 1, f"{name} is not marked invalid"
    control = invalid[0]
    error = html.by_id(f"{control.attrs['id']}-error")
    assert error is not None
    return error.text


# --- the day view --------------------------------------------------------------------------


def test_anonymous_visitors_see_the_desk_grid_grouped_by_zone(client, place):
    response = client.get("/availability")
    assert response.status_code == 200
    html = page(response)
    assert html.find_all("h1")[0].text == "Belegung"
    nav = [a for a in html.find_all("a", href="/availability") if a.attrs.get("aria-current")]
    assert nav, "the main navigation marks the page"
    zones = [th.text for th in html.find_all("th", scope="rowgroup")]
    assert zones == ["Open Space A", "Open Space B"]
    headers = [th.text for th in html.find_all("th", scope="col")]
    assert headers == ["Platz/Raum", "Vormittag", "Nachmittag", "Ganzer Tag"]
    assert html.find_all("caption")
    # Monday 09:00: the morning and the whole day have begun, the afternoon is free.
    assert row_cells(html, "desk-a1") == ["· vorbei", "Desk 4, Nachmittag: ✓ frei", "· vorbei"]
    assert "/resources/desk-a1/book?day=2026-11-23&part=afternoon" in links(html)
    # Booking needs an account: the any-desk form is replaced by the log-in link.
    assert not html.find_all("form", action="/availability/any-desk")
    assert "/login?next=/availability" in links(html)


def test_the_grid_speaks_english_too(client, place):
    response = client.get(f"/availability?day={DAY}", headers={"Accept-Language": "en"})
    html = page(response)
    assert html.find_all("h1")[0].text == "Availability"
    assert row_cells(html, "desk-b2")[0] == "Desk 7, Morning: ✓ free"
    assert "Tuesday, November 24, 2026" in html.text


def test_taken_blocked_and_my_own_cells_say_so_in_words(app, mia, place, factory):
    other = factory.user(tier=place.tier, email="jonas@example.org")
    a1, a2, b1 = place.desks[0], place.desks[1], place.desks[2]
    factory.booking(resource=a1, user=other, starts_at=local(TUE, 8),
                    duration=timedelta(hours=5))
    factory.booking(resource=a2, user=place.member, starts_at=local(TUE, 13),
                    duration=timedelta(hours=7))
    factory.block(resource=b1, starts_at=local(TUE, 0), ends_at=local(TUE, 23),
                  kind=BlockKind.MAINTENANCE)
    # A hold whose time has run out no longer takes the slot.
    factory.booking(resource=place.desks[3], user=other, starts_at=local(TUE, 8),
                    duration=timedelta(hours=5), status=BookingStatus.HELD,
                    hold_expires_at=local(MON, 8, 30))
    db.session.commit()
    html = page(mia.get(f"/availability?kind=desk&day={DAY}"))
    a1_cells = row_cells(html, "desk-a1")
    assert "✗ belegt" in a1_cells[0] and "Alternativen und Warteliste" in a1_cells[0]
    assert a1_cells[1] == "Desk 4, Nachmittag: ✓ frei"
    assert "✗ belegt" in a1_cells[2]  # the whole day overlaps the morning
    assert "★ Ihre Buchung" in row_cells(html, "desk-a2")[1]
    assert row_cells(html, "desk-b1") == ["⊘ gesperrt"] * 3
    assert "✓ frei" in row_cells(html, "desk-b2")[0]
    # A taken slot links to the form, where the alternatives and the waiting list are.
    assert f"/resources/desk-a1/book?day={DAY}&part=morning" in links(html)
    # Who booked is never shown.
    assert "jonas" not in html.text.lower() and "User" not in html.text


def test_studio_hours_account_for_cleanup_and_notice(app, client, place, factory):
    factory.booking(resource=place.studio, starts_at=local(TUE, 10),
                    duration=timedelta(hours=2))
    db.session.commit()
    html = page(client.get(f"/availability?kind=studio&day={DAY}"))
    headers = [th.text for th in html.find_all("th", scope="col")]
    assert headers[1:] == [f"{h:02d}:00" for h in range(8, 20)]
    cells = dict(zip(headers[1:], row_cells(html, "studio"), strict=True))
    assert "✓ frei" in cells["08:00"]
    # 09:00-10:00 would need its 30 minutes of cleanup inside the 10:00 booking.
    assert cells["09:00"] == "· nicht buchbar"
    assert "✗ belegt" in cells["10:00"] and "✗ belegt" in cells["11:00"]
    assert "✗ belegt" in cells["12:00"]  # the cleanup until 12:30
    assert "✓ frei" in cells["13:00"]
    assert f"/resources/studio/book?day={DAY}&start=13:00&end=14:00" in links(html)
    # Today, the studio's two hours of notice: 09:00 is past, 10:00 too soon, 11:00 free.
    today = page(client.get("/availability?kind=studio"))
    cells = dict(zip(headers[1:], row_cells(today, "studio"), strict=True))
    assert cells["08:00"] == "· vorbei"
    assert cells["09:00"] == cells["10:00"] == "· zu kurzfristig"
    assert "✓ frei" in cells["11:00"]


def test_closed_days_and_public_holidays_say_so(client, place, factory):
    factory.tier(slug="long", booking_horizon_days=60)
    sunday = page(client.get("/availability?day=2026-11-29"))
    assert "an diesem Tag geschlossen" in sunday.text
    assert not sunday.find_all("table")
    christmas = page(client.get("/availability?day=2026-12-25"))
    assert "Feiertag" in christmas.text


def test_prev_and_next_stop_at_yesterday_and_the_horizon(mia, place):
    html = page(mia.get("/availability?day=2026-11-22"))  # yesterday: shown, all past
    assert not html.find_all("a", rel="prev")
    assert html.find_all("a", rel="next")[0].attrs["href"] == (
        "/availability?kind=desk&view=day&day=2026-11-23")
    last = page(mia.get("/availability?day=2026-12-23"))  # 30 days ahead: Mia's horizon
    assert not last.find_all("a", rel="next") and last.find_all("a", rel="prev")


@pytest.mark.parametrize(
    ("query", "name", "expected"),
    [
        ("day=not-a-date", "day", "Datum wie"),
        ("day=2026-11-21", "day", "Bitte wählen Sie einen Tag vom"),
        ("day=2026-12-24", "day", "Bitte wählen Sie einen Tag vom"),
        ("day=9999-12-31", "day", "Bitte wählen Sie einen Tag vom"),
        ("day=0001-01-01", "day", "Bitte wählen Sie einen Tag vom"),
        ("kind=spaceship", "kind", "Arbeitsplätze, Studios oder Besprechungsräume"),
        ("view=month", "view", "Tages- oder die Wochenansicht"),
    ],
)
def test_bad_or_out_of_range_input_is_explained_not_an_error(mia, query, name, expected):
    response = mia.get(f"/availability?{query}")
    assert response.status_code == 422
    html = page(response)
    assert expected in field_error(html, name)
    assert html.find_all("table") or "geschlossen" in html.text  # a grid is still shown


# --- the week view -------------------------------------------------------------------------


def test_the_week_sums_each_day_up_and_links_to_it(app, client, place, factory):
    other = factory.user(tier=place.tier, email="jonas@example.org")
    factory.booking(resource=place.desks[0], user=other, starts_at=local(TUE, 8),
                    duration=timedelta(hours=12))
    db.session.commit()
    response = client.get(f"/availability?view=week&day={DAY}")
    assert response.status_code == 200
    html = page(response)
    days = [th.text for th in html.find_all("th", scope="col")][1:]
    assert days == ["Mo. 23.11.", "Di. 24.11.", "Mi. 25.11.", "Do. 26.11.", "Fr. 27.11.",
                    "Sa. 28.11.", "So. 29.11."]
    a1 = row_cells(html, "desk-a1")
    assert "✓ frei" in a1[0]  # Monday: only the afternoon is left, and it is free
    assert "✗ belegt" in a1[1]
    assert "✓ frei" in a1[2]
    assert a1[6] == "– geschlossen"  # Sunday
    assert "✓ frei" in row_cells(html, "desk-a2")[1]
    assert "/availability?kind=desk&view=day&day=2026-11-24#r-desk-a1" in links(html)
    assert html.find_all("a", rel="next")


def test_a_partly_free_day_in_the_week(client, place, factory):
    factory.booking(resource=place.room, starts_at=local(TUE, 10), duration=timedelta(hours=1))
    db.session.commit()
    html = page(client.get(f"/availability?kind=room&view=week&day={DAY}",
                           headers={"Accept-Language": "en"}))
    assert "◐ partly free" in row_cells(html, "room")[1]


# --- queries -------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["day", "week"])
def test_queries_do_not_grow_with_the_number_of_desks(mia, place, factory, view):
    url = f"/availability?kind=desk&view={view}&day={DAY}"
    mia.get(url)  # warm up (first-request work)
    with statements() as few:
        assert mia.get(url).status_code == 200
    for n in range(30):
        desk = factory.resource(location=place.location, kind=ResourceKind.DESK,
                                slug=f"desk-c{n}", zone="Open Space C", position=n)
        factory.booking(resource=desk, starts_at=local(TUE, 8), duration=timedelta(hours=5))
        factory.block(resource=desk, starts_at=local(WED, 8))
    db.session.commit()
    with statements() as many:
        html = page(mia.get(url))
    assert len(many) == len(few), (len(few), len(many))
    assert len(few) <= 20
    if view == "day":
        assert "✗ belegt" in row_cells(html, "desk-c7")[0]


# --- any free desk -------------------------------------------------------------------------


def test_any_free_desk_in_the_preferred_zone(mia, place):
    html = page(mia.get(f"/availability?day={DAY}"))
    assert html.find_all("form", action="/availability/any-desk")
    zones = [o.text for o in html.find_all("option")
             if str(o.attrs.get("value", "")).startswith("Open")]
    assert zones == ["Open Space A", "Open Space B"]
    response = mia.post("/availability/any-desk",
                        data={"any-day": DAY, "any-part": "morning", "any-zone": "Open Space B"})
    assert response.status_code == 302
    (booking,) = bookings()
    assert booking.resource.slug == "desk-b1" and booking.status is BookingStatus.CONFIRMED
    assert response.headers["Location"].endswith(f"/bookings/{booking.id}")
    detail = page(mia.get(response.headers["Location"]))
    assert "Für Sie gebucht: Desk 6 (Open Space B)." in detail.text


def test_any_free_desk_without_a_zone_is_the_engines_choice(mia, place):
    response = mia.post("/availability/any-desk", data={"any-day": DAY, "any-part": "afternoon",
                                                        "any-zone": ""})
    assert response.status_code == 302
    (booking,) = bookings()
    assert booking.resource.kind is ResourceKind.DESK


def test_any_free_desk_falls_back_when_the_zone_is_full(mia, place, factory):
    other = factory.user(tier=place.tier, email="jonas@example.org")
    for desk in place.desks[2:]:
        factory.booking(resource=desk, user=other, starts_at=local(TUE, 8),
                        duration=timedelta(hours=5))
    db.session.commit()
    response = mia.post("/availability/any-desk",
                        data={"any-day": DAY, "any-part": "morning", "any-zone": "Open Space B"})
    assert response.status_code == 302
    mine = [b for b in bookings() if b.user_id == place.member.id]
    assert mine[0].resource.zone == "Open Space A"
    assert "In Open Space B war kein Arbeitsplatz frei" in page(
        mia.get(response.headers["Location"])).text


def test_no_desk_free_shows_the_alternatives(mia, place, factory):
    other = factory.user(tier=place.tier, email="jonas@example.org")
    for desk in place.desks:
        factory.booking(resource=desk, user=other, starts_at=local(TUE, 8),
                        duration=timedelta(hours=5))
    db.session.commit()
    response = mia.post("/availability/any-desk", data={"any-day": DAY, "any-part": "morning"})
    assert response.status_code == 422
    html = page(response)
    assert "bereits gebucht" in " ".join(e.text for e in html.find_all("div", **{
        "class": "form-errors"}))
    alternatives = [h for h in links(html) if "/resources/desk-" in h and "start=" in h]
    # Later mornings (the afternoon is a different length).
    assert alternatives and all("start=08:00&end=13:00" in h for h in alternatives)
    assert len(bookings()) == 4  # nothing new


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ({"day": DAY, "part": "evening"}, "part"),
        ({"day": DAY, "part": "morning", "zone": "The roof"}, "zone"),
        ({"day": "nope", "part": "morning"}, "day"),
        ({"day": "9999-12-31", "part": "morning"}, "day"),
        ({"day": "2026-11-29", "part": "morning"}, "day"),  # Sunday: closed
        ({"part": "morning"}, "day"),
    ],
)
def test_any_free_desk_bad_input_writes_nothing(mia, place, data, name):
    response = mia.post("/availability/any-desk",
                        data={f"any-{key}": value for key, value in data.items()})
    assert response.status_code == 422
    field_error(page(response), f"any-{name}")
    assert bookings() == []


def test_any_free_desk_needs_a_login(client, place):
    response = client.post("/availability/any-desk",
                           data={"any-day": DAY, "any-part": "morning"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert bookings() == []


def test_the_desk_page_shows_what_the_tier_includes(mia, place):
    html = page(mia.get(f"/availability?day={DAY}"))
    text = html.find_all("section", id="any-desk")[0].text
    assert "Ihre Mitgliedschaft: " in text
    assert "2 halbe Arbeitsplatztage" in text
    assert "halber Tag 7,00 €" in text  # (the reader folds the no-break space)


def test_staff_see_the_grid_without_the_members_notice(app, place):
    staff = browser(app, place.staff)
    html = page(staff.get("/availability?kind=studio"))
    headers = [th.text for th in html.find_all("th", scope="col")]
    cells = dict(zip(headers[1:], row_cells(html, "studio"), strict=True))
    # Staff are not bound by the studio's two hours of notice.
    assert "✓ frei" in cells["09:00"] and "✓ frei" in cells["10:00"]
    week = staff.get("/availability?kind=room&view=week", headers={"Accept-Language": "en"})
    assert week.status_code == 200


def test_the_week_view_speaks_english(client, place):
    html = page(client.get(f"/availability?view=week&day={DAY}",
                           headers={"Accept-Language": "en"}))
    days = [th.text for th in html.find_all("th", scope="col")][1:]
    assert days[:2] == ["Mon 11/23", "Tue 11/24"]
    assert "Desks, week from Nov 23, 2026 to Nov 29, 2026" in html.text
