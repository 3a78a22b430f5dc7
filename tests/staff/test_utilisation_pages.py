"""The utilisation page and its CSV export: staff only, charts with text alternatives and data
tables, validated filters, both languages, and no personal data in the export."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest

from schiller40.extensions import db
from schiller40.models import BookingStatus
from schiller40.reports.utilisation import CSV_COLUMNS
from tests.helpers import at
from tests.html import page

MONDAY = date(2026, 11, 2)  # ISO week 2026-W45
WEEK = {"from_week": "2026-W45", "to_week": "2026-W45"}


@pytest.fixture
def booked(place, factory):
    """Week 45: the studio 10-12 on Monday (50 % of 10-11 and 11-12... i.e. 120 of 3960
    minutes), a desk all Monday, and a cancelled room booking that must not count."""
    mia = place.member
    factory.booking(resource=place.studio, user=mia, starts_at=at(MONDAY, 10))
    factory.booking(resource=place.desks[0], user=mia, starts_at=at(MONDAY, 8),
                    duration=timedelta(hours=12))
    factory.booking(resource=place.room, user=mia, starts_at=at(MONDAY, 14),
                    status=BookingStatus.CANCELLED)
    db.session.commit()
    return place


def en(client):
    """Switch to English the way a person does (it is stored on the account too)."""
    assert client.post("/language", data={"lang": "en", "next": "/"}).status_code == 302
    return client


# --- access --------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/staff/utilisation", "/staff/utilisation.csv"])
def test_members_get_404_and_strangers_are_sent_to_log_in(member_browser, client, url):
    assert member_browser.get(url).status_code == 404
    response = client.get(url)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_staff_start_page_lists_utilisation(staff_browser):
    html = page(staff_browser.get("/staff/"))
    links = {a.attrs.get("href"): a.text for a in html.find_all("a")}
    assert links["/staff/utilisation"] == "Auslastung"


# --- the page ------------------------------------------------------------------------------------


def test_without_filters_the_last_eight_full_weeks_are_shown(staff_browser, booked):
    response = staff_browser.get("/staff/utilisation")
    assert response.status_code == 200
    html = page(response)
    assert html.by_id("from_week").attrs["value"] == "2026-W40"
    assert html.by_id("to_week").attrs["value"] == "2026-W47"
    assert html.find_all("h1")[0].text == "Auslastung"


def test_charts_are_svg_with_a_text_alternative_and_a_data_table(staff_browser, booked):
    response = staff_browser.get("/staff/utilisation", query_string=WEEK)
    body = response.get_data(as_text=True).replace("\xa0", " ")
    html = page(response)
    svgs = html.find_all("svg", role="img")
    assert len(svgs) == 4  # desks, studios, rooms per week; the heatmap
    for svg in svgs:
        title_id, desc_id = svg.attrs["aria-labelledby"].split()
        assert html.by_id(title_id).tag == "title" and html.by_id(title_id).text
        assert html.by_id(desc_id).tag == "desc" and html.by_id(desc_id).text
    studio_desc = html.by_id("chart-week-studio-desc").text
    assert studio_desc == "Studios: 3,0 % der Öffnungszeit in 1 Woche gebucht."
    # Values appear as text on the bars, not only as their height.
    studio_chart = body.split('id="chart-week-studio-title"')[1].split("</svg>")[0]
    assert ">3 %<" in studio_chart and ">KW 45<" in studio_chart
    # The data table beside the chart, inside a details/summary.
    table_cells = [td.text for td in html.find_all("td")]
    assert "3,0 %" in table_cells  # the studio's week: 2 of 66 hours
    assert "2" in table_cells and "66" in table_cells
    assert "<details" in body and "<summary>" in body
    assert "style=" not in body and "<script" not in body


def test_the_heatmap_shows_percentages_as_text_and_a_legend(staff_browser, booked):
    response = staff_browser.get("/staff/utilisation", query_string={**WEEK, "kind": "desk"})
    body = response.get_data(as_text=True).replace("\xa0", " ")
    heat = body.split('id="heatmap-title"')[1].split("</svg>")[0]
    # Monday 08-09: one of four desks booked = 25 %; Sunday is closed and not drawn.
    assert re.search(r"<title>Montag, 08:00–09:00: 25,0 % \(1 von 4 ", heat)
    assert ">25 %<" in heat and "Sonntag" not in heat
    assert "closed-pattern" in heat  # Saturday before 10:00 is hatched
    html = page(response)
    legend = [li.text for li in html.find_all("li") if "bis unter" in li.text or "Schraffiert" in li.text]
    assert legend[0] == "0 % bis unter 20 %" and "Schraffiert" in legend[-1]
    heat_rows = [tr for tr in html.find_all("tr") if tr.text.startswith("Montag")]
    assert heat_rows and "25,0 %" in heat_rows[0].text


def test_the_per_space_table_and_cancelled_bookings(staff_browser, booked):
    html = page(staff_browser.get("/staff/utilisation", query_string=WEEK))
    rows = {tr.text.split(" ")[0] + " " + tr.text.split(" ")[1]: tr.text
            for tr in html.find_all("tr") if tr.text.startswith(("Studio", "Room", "Desk"))}
    room = next(text for key, text in rows.items() if key.startswith("Room"))
    assert room.endswith("66 0 0,0 %")  # the cancelled booking does not count


def test_english(staff_browser, booked):
    response = en(staff_browser).get("/staff/utilisation", query_string=WEEK)
    html = page(response)
    assert html.find_all("h1")[0].text == "Utilisation"
    body = response.get_data(as_text=True).replace("\xa0", " ")
    assert ">W45<" in body and ">3%<" in body
    assert "Download as CSV" in body


def test_filter_by_one_space(staff_browser, booked):
    response = staff_browser.get(
        "/staff/utilisation", query_string={**WEEK, "resource": "studio"})
    html = page(response)
    assert html.by_id("resource").tag == "select"
    assert len(html.find_all("svg", role="img")) == 2  # studios per week, and the heatmap
    assert "Desk" not in html.by_id("per-space").text


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "field", "message"), [
    ({"from_week": "week 45", "to_week": ""}, "from_week", "Kalenderwoche wie 2026-W45"),
    ({"from_week": "2026-W54", "to_week": ""}, "from_week", "Kalenderwoche wie 2026-W45"),
    ({"from_week": "1999-W10", "to_week": ""}, "from_week", "zwischen 2000"),
    ({"from_week": "2026-W45", "to_week": "2026-W40"}, "to_week", "nicht vor der ersten"),
    ({"from_week": "2024-W01", "to_week": "2026-W01"}, "to_week", "höchstens 53 Wochen"),
    ({"kind": "spaceship"}, "kind", "Art aus der Liste"),
    ({"resource": "no-such-space"}, "resource", "Platz aus der Liste"),
    ({"kind": "desk", "resource": "studio"}, "resource", "nicht von der gewählten Art"),
    ({"from_week": "2026-W45\x00"}, "from_week", "unzulässiges Zeichen"),
])
def test_bad_filters_show_a_message_beside_the_field(staff_browser, booked, args, field,
                                                     message):
    response = staff_browser.get("/staff/utilisation", query_string=args)
    assert response.status_code == 200
    html = page(response)
    error = html.by_id(f"{field}-error")
    assert error is not None and message in error.text, error and error.text
    assert html.by_id(field).attrs.get("aria-invalid") == "true"
    assert not html.find_all("svg", role="img")  # no report for filters that are wrong
    for name, typed in args.items():  # the form keeps what was typed
        element = html.by_id(name)
        if element.tag == "input" and "\x00" not in typed:
            assert element.attrs.get("value", "") == typed


def test_one_week_alone_gives_eight_weeks_from_there(staff_browser, booked):
    html = page(staff_browser.get("/staff/utilisation", query_string={"from_week": "2026w30"}))
    assert html.by_id("from_week").attrs["value"] == "2026-W30"
    assert html.by_id("to_week").attrs["value"] == "2026-W37"


# --- CSV -----------------------------------------------------------------------------------------


def read_csv(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_csv_export_with_headers_and_exact_rows(staff_browser, booked):
    response = staff_browser.get("/staff/utilisation.csv", query_string=WEEK)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="schiller40-utilisation_2026-W45_2026-W45.csv"')
    text = response.get_data(as_text=True)
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = read_csv(response)
    # 6 spaces x (5 days x 12 hours + Saturday 6 hours)
    assert len(rows) == 6 * 66
    studio_10 = next(r for r in rows if r["resource_slug"] == "studio"
                     and r["date"] == "2026-11-02" and r["hour"] == "10")
    assert studio_10 == {
        "resource_slug": "studio", "resource_name": booked.studio.name, "kind": "studio",
        "zone": "Studios", "iso_year": "2026", "iso_week": "45", "date": "2026-11-02",
        "weekday": "1", "hour": "10", "open_minutes": "60", "booked_minutes": "60",
        "occupancy_percent": "100.0",
    }
    room = [r for r in rows if r["resource_slug"] == "room"]
    assert sum(int(r["booked_minutes"]) for r in room) == 0


def test_csv_with_a_kind_names_the_file_after_it_and_has_only_that_kind(staff_browser, booked):
    response = staff_browser.get("/staff/utilisation.csv", query_string={**WEEK, "kind": "desk"})
    assert 'filename="schiller40-utilisation_2026-W45_2026-W45_desk.csv"' in \
        response.headers["Content-Disposition"]
    assert {r["kind"] for r in read_csv(response)} == {"desk"}


def test_csv_has_no_personal_data(staff_browser, booked):
    body = staff_browser.get("/staff/utilisation.csv", query_string=WEEK).get_data(as_text=True)
    for person in (booked.member, booked.staff):
        assert person.email not in body and person.name not in body
    assert "@" not in body


def test_csv_with_bad_filters_goes_back_to_the_form(staff_browser, booked):
    response = staff_browser.get("/staff/utilisation.csv", query_string={"from_week": "x"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/utilisation?from_week=x")
    html = page(staff_browser.get(response.headers["Location"]))
    assert html.by_id("from_week-error") is not None


def test_the_page_links_the_csv_with_the_same_filters(staff_browser, booked):
    html = page(staff_browser.get("/staff/utilisation", query_string={**WEEK, "kind": "studio"}))
    link = next(a for a in html.find_all("a") if a.attrs.get("href", "").startswith(
        "/staff/utilisation.csv"))
    assert link.attrs["href"] == (
        "/staff/utilisation.csv?from_week=2026-W45&to_week=2026-W45&kind=studio")
