"""The web pages for the desk limit and booking notes, on both databases.

"Any free desk" sent twice leads to the desk the first one booked (as the desk form already
did); a second desk at the same time is explained beside the form with a link to the desk the
member has; the note a member writes is shown, escaped, on the booking, in the studio calendar
and on "Desks today".
"""

from __future__ import annotations

from datetime import date

import pytest

from tests.helpers import TUE, bookings, browser
from tests.html import page

DAY = TUE.isoformat()  # as the forms take it; the clock stands on Monday, 09:00
NOTE = 'Bringe <script>alert("x")</script> & Monitor mit'


def errors_of(html) -> str:
    return " ".join(e.text for e in html.find_all("div", **{"class": "form-errors"}))


def hrefs(html) -> list[str]:
    return [str(a.attrs.get("href", "")) for a in html.find_all("a")]


@pytest.mark.parametrize("zone", ["", "Open Space B"])
def test_any_free_desk_sent_twice_leads_to_the_desk_already_booked(mia, zone):
    data = {"any-day": DAY, "any-part": "morning", "any-zone": zone}
    first = mia.post("/availability/any-desk", data=data)
    assert first.status_code == 302
    (booking,) = bookings()
    again = mia.post("/availability/any-desk", data=data)
    assert again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Location"].endswith(f"/bookings/{booking.id}")
    assert len(bookings()) == 1
    assert "Diese Zeit haben Sie bereits gebucht." in page(mia.get(again.headers["Location"])).text


def test_a_second_desk_at_the_same_time_is_explained_with_a_link(mia):
    first = mia.post("/resources/desk-a1/book", data={"day": DAY, "part": "day"})
    assert first.status_code == 302
    (booking,) = bookings()
    response = mia.post("/resources/desk-b1/book", data={"day": DAY, "part": "morning"})
    assert response.status_code == 422
    html = page(response)
    assert "Sie haben zu dieser Zeit bereits einen Arbeitsplatz gebucht" in errors_of(html)
    assert f"/bookings/{booking.id}" in hrefs(html)
    # "Check price" says the same before booking.
    preview = page(mia.get(f"/resources/desk-b1/book?day={DAY}&part=afternoon"))
    assert "bereits einen Arbeitsplatz gebucht" in preview.text
    assert f"/bookings/{booking.id}" in hrefs(preview)
    # And "any free desk" for an overlapping half day.
    response = mia.post("/availability/any-desk", data={"any-day": DAY, "any-part": "afternoon"})
    assert response.status_code == 422
    html = page(response)
    assert "bereits einen Arbeitsplatz gebucht" in errors_of(html)
    assert f"/bookings/{booking.id}" in hrefs(html)
    assert len(bookings()) == 1


def test_the_note_is_shown_escaped_to_the_member(mia):
    response = mia.post("/resources/desk-a1/book", data={"day": DAY, "part": "morning",
                                                         "note": NOTE})
    assert response.status_code == 302
    detail = mia.get(response.headers["Location"])
    body = detail.get_data(as_text=True)
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Monitor mit" in body
    assert NOTE in page(detail).text


def test_staff_see_the_note_on_desks_today_and_in_the_studio_calendar(app, mia, place):
    assert mia.post("/resources/desk-a1/book", data={"day": DAY, "part": "morning",
                                                     "note": NOTE}).status_code == 302
    assert mia.post("/resources/studio/book", data={
        "day": DAY, "start": "10:00", "end": "11:00", "note": "Greenscreen aufbauen <b>bitte</b>",
    }).status_code in (302, 303)
    staff = browser(app, place.staff)

    desks = staff.get(f"/staff/desks?day={DAY}")
    assert desks.status_code == 200
    assert NOTE in page(desks).text
    assert "<script>alert" not in desks.get_data(as_text=True)

    week = date.fromisoformat(DAY).isocalendar()
    calendar = staff.get(f"/staff/calendar/studio?week={week.year}-W{week.week:02d}")
    assert calendar.status_code == 200
    assert "Greenscreen aufbauen <b>bitte</b>" in page(calendar).text
    assert "<b>bitte</b>" not in calendar.get_data(as_text=True)
