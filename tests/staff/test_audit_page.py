"""The audit log page: staff only, newest first, 50 a page, filters validated, details escaped,
both languages."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete

from schiller40.core import audit
from schiller40.core.audit import AuditEntry
from schiller40.extensions import db
from schiller40.payments.models import PaymentStatus
from schiller40.staff.audit_text import ACTION_LABELS, OBJECT_LABELS
from tests.html import page

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # 10:00 in Wolfsburg


def entry(*, at: datetime, action: str, actor=None, object_type: str = "booking",
          object_id: int | None = 1, details: dict | None = None) -> AuditEntry:
    return audit.record(db.session, action=action, now=at, actor_id=actor.id if actor else None,
                        object_type=object_type, object_id=object_id, details=details)


@pytest.fixture
def log(place, factory):
    """A booking by Mia, cancelled by staff, a payment by the system, and a lot of log-ins.

    The log starts empty (the staff browser's own log-in is an entry too) so counts are exact.
    """
    db.session.execute(delete(AuditEntry))
    booking = factory.booking(resource=place.studio, user=place.member)
    entry(at=START, action="booking.created", actor=place.member, object_id=booking.id,
          details={"resource": "studio", "note": "<script>alert(1)</script>"})
    entry(at=START + timedelta(hours=1), action="booking.cancelled", actor=place.staff,
          object_id=booking.id, details={"reason": "Wartung & Reinigung"})
    entry(at=START + timedelta(hours=2), action="payment.expired", object_type="payment",
          object_id=7)
    for i in range(117):  # 120 entries: three pages
        entry(at=START - timedelta(days=1, minutes=i), action="user.logged_in",
              actor=place.member, object_type="user", object_id=place.member.id)
    db.session.commit()
    return type("Log", (), {"booking": booking, "place": place})


def rows(response) -> list[str]:
    html = page(response)
    table = html.find_all("tbody")
    return [tr.text for tr in html.find_all("tr")][1:] if table else []


# --- access -------------------------------------------------------------------------------------


def test_members_get_404_and_strangers_are_sent_to_log_in(member_browser, client):
    assert member_browser.get("/staff/audit").status_code == 404
    response = client.get("/staff/audit")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_staff_start_page_lists_the_audit_log(staff_browser):
    html = page(staff_browser.get("/staff/"))
    assert {a.attrs.get("href"): a.text for a in html.find_all("a")}["/staff/audit"] == \
        "Protokoll"


# --- list ---------------------------------------------------------------------------------------


def test_newest_first_in_local_time_with_actor_action_and_subject(staff_browser, log):
    response = staff_browser.get("/staff/audit")
    assert response.status_code == 200
    html = page(response)
    assert html.find_all("h1")[0].text == "Protokoll"
    assert html.by_id("audit-count").text == "Einträge 1 bis 50 von 120"
    first, second, third = rows(response)[:3]
    assert first.startswith("02.11.2026, 12:00:00 System Zahlung abgelaufen payment.expired")
    assert "Zahlung #7" in first
    assert second.startswith("02.11.2026, 11:00:00")
    assert "staff@example.org" in second and "Buchung storniert booking.cancelled" in second
    assert "mia@example.org" in third and "Buchung angelegt" in third
    # A booking links to its page, and every object to its own history.
    links = {a.attrs["href"] for a in html.find_all("a")}
    assert f"/bookings/{log.booking.id}" in links
    assert f"/staff/audit?object_type=booking&object_id={log.booking.id}" in links
    assert len(html.find_all("tr")) == 51  # a header row and 50 entries
    times = [t.attrs["datetime"] for t in html.find_all("time")]
    assert times == sorted(times, reverse=True)


def test_details_are_pretty_json_and_escaped(staff_browser, log):
    body = staff_browser.get("/staff/audit").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "Wartung &amp; Reinigung" in body
    html = page(staff_browser.get("/staff/audit"))
    details = [p.text for p in html.find_all("pre")]
    assert '{ "note": "<script>alert(1)</script>", "resource": "studio" }' in details


def test_pagination_keeps_filters_and_marks_the_current_page(staff_browser, log):
    second = staff_browser.get("/staff/audit?page=2")
    html = page(second)
    assert html.by_id("audit-count").text == "Einträge 51 bis 100 von 120"
    current = [a for a in html.find_all("a") if a.attrs.get("aria-current") == "page"
               and "page=" in a.attrs.get("href", "")]
    assert [a.text for a in current] == ["Seite 2"]
    hrefs = {a.text: a.attrs["href"] for a in html.find_all("a") if "page=" in
             a.attrs.get("href", "")}
    assert hrefs["Neuere"] == "/staff/audit?page=1" and hrefs["Ältere"] == "/staff/audit?page=3"
    last = page(staff_browser.get("/staff/audit?page=3"))
    assert last.by_id("audit-count").text == "Einträge 101 bis 120 von 120"
    filtered = page(staff_browser.get("/staff/audit?action=user.&page=2"))
    assert filtered.by_id("audit-count").text == "Einträge 51 bis 100 von 117"
    assert any(a.attrs.get("href") == "/staff/audit?action=user.&page=3"
               for a in filtered.find_all("a"))


@pytest.mark.parametrize("number", ["0", "-1", "x", "99", "99999999999"])
def test_a_page_number_out_of_range_is_not_an_error(staff_browser, log, number):
    response = staff_browser.get(f"/staff/audit?page={number}")
    assert response.status_code == 200
    count = page(response).by_id("audit-count").text
    assert count in ("Einträge 1 bis 50 von 120", "Einträge 101 bis 120 von 120")


# --- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "expected"), [
    ({"action": "booking."}, 2),
    ({"action": "BOOKING.cancelled"}, 1),
    ({"action": "booking_"}, 0),  # "_" is a character here, not a wildcard
    ({"actor": "MIA@"}, 118),
    ({"actor": "User"}, 119),  # both people have generated names "User n"
    ({"actor": "%"}, 0),
    ({"object_type": "payment"}, 1),
    ({"object_type": "booking", "object_id": "1"}, 2),
    ({"since": "2026-11-02"}, 3),
    ({"until": "2026-11-01"}, 117),
    ({"since": "2026-11-02", "until": "2026-11-02", "action": "payment"}, 1),
])
def test_filters(staff_browser, log, query, expected):
    response = staff_browser.get("/staff/audit", query_string=query)
    assert response.status_code == 200
    html = page(response)
    if expected:
        assert html.by_id("audit-count").text.endswith(f"von {expected}")
    else:
        assert "Keine Einträge passen zu diesen Filtern." in html.text
    assert any(a.text == "Alle Einträge anzeigen" for a in html.find_all("a"))


def test_the_local_day_decides_the_date_filter(staff_browser, place):
    db.session.execute(delete(AuditEntry))
    # 23:30 UTC on 1 November is 00:30 on 2 November in Wolfsburg.
    entry(at=datetime(2026, 11, 1, 23, 30, tzinfo=UTC), action="feed.rotated",
          object_type="calendar_feed")
    db.session.commit()
    html = page(staff_browser.get("/staff/audit", query_string={"since": "2026-11-02",
                                                                "until": "2026-11-02"}))
    assert html.by_id("audit-count").text == "Einträge 1 bis 1 von 1"


@pytest.mark.parametrize(("query", "field", "message"), [
    ({"since": "02.11.2026x"}, "since", ""),
    ({"since": "1850-01-01"}, "since", "zwischen 2000 und 2100"),
    ({"since": "2026-11-05", "until": "2026-11-01"}, "until", "nicht vor dem ersten Tag"),
    ({"object_id": "-3"}, "object_id", "ganze Zahl größer als null"),
    ({"object_id": "99999999999"}, "object_id", ""),
    ({"action": "booking.%"}, "action", "Buchstaben, Ziffern"),
    ({"action": "x" * 65}, "action", ""),
    ({"actor": "mia\x00"}, "actor", "unzulässiges Zeichen"),
    ({"object_type": "spaceship"}, "object_type", "Objekt aus der Liste"),
])
def test_bad_filters_show_a_message_beside_the_field(staff_browser, log, query, field,
                                                     message):
    response = staff_browser.get("/staff/audit", query_string=query)
    assert response.status_code == 200
    html = page(response)
    error = html.by_id(f"{field}-error")
    assert error is not None and message in error.text
    assert html.by_id(field).attrs.get("aria-invalid") == "true"
    assert html.by_id("audit-count") is None  # no list for filters that are wrong


def test_the_form_keeps_what_was_typed(staff_browser, log):
    html = page(staff_browser.get("/staff/audit", query_string={
        "action": "booking.", "actor": "staff", "since": "2026-11-05", "until": "2026-11-01"}))
    assert html.by_id("action").attrs["value"] == "booking."
    assert html.by_id("actor").attrs["value"] == "staff"
    assert html.by_id("since").attrs["value"] == "2026-11-05"


def test_english(staff_browser, log):
    assert staff_browser.post("/language", data={"lang": "en", "next": "/"}).status_code == 302
    response = staff_browser.get("/staff/audit", query_string={"action": "booking."})
    html = page(response)
    assert html.find_all("h1")[0].text == "Audit log"
    assert html.by_id("audit-count").text == "Entries 1 to 2 of 2"
    assert "Booking cancelled" in html.text and "Nov 2, 2026" in html.text
    bad = page(staff_browser.get("/staff/audit", query_string={"object_id": "x"}))
    assert bad.by_id("object_id-error").text == "Please enter a whole number greater than zero."


def test_an_unknown_action_is_shown_by_its_name(staff_browser, place):
    entry(at=START, action="gadget.polished", object_type="gadget_box", object_id=3,
          actor=place.staff)
    db.session.commit()
    html = page(staff_browser.get("/staff/audit"))
    assert "gadget.polished" in html.text and "gadget box #3" in html.text


# --- in words: every action named, details readable, times local (issue 17) ----------------

SOURCE = Path(__file__).resolve().parents[2] / "schiller40"


def _audit_calls() -> Iterator[tuple[str, ast.Call]]:
    """Every call in schiller40/ that passes ``action=`` (audit.record and its helpers)."""
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and any(k.arg == "action" for k in node.keywords):
                yield f"{path.relative_to(SOURCE)}:{node.lineno}", node


def _written_actions() -> set[str]:
    """Every action name the code can write, read from the syntax tree: a literal, or either
    side of ``a if c else b``; ``payment.<status>`` stands for every payment status. Any
    other kind of expression fails here, so a new way of naming actions cannot slip past
    the labels."""
    names: set[str] = set()

    def add(node: ast.expr, where: str) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)
        elif isinstance(node, ast.IfExp):
            add(node.body, where)
            add(node.orelse, where)
        elif isinstance(node, ast.JoinedStr) and ast.unparse(node) == "f'payment.{after.value}'":
            names.update(f"payment.{status.value}" for status in PaymentStatus)
        elif isinstance(node, ast.Name) and node.id == "action":
            pass  # passed on by a helper; its callers' literals are found at their calls
        else:
            raise AssertionError(f"{where}: action={ast.unparse(node)} is not a name this "
                                 "test can read; write a literal or teach the test")

    for where, call in _audit_calls():
        add(next(k.value for k in call.keywords if k.arg == "action"), where)
    return names


def test_every_action_the_code_writes_has_a_readable_label():
    written = _written_actions()
    assert {"payment.paid", "booking.created", "induction.granted"} <= written  # it reads
    assert sorted(written - set(ACTION_LABELS)) == []
    assert sorted(set(ACTION_LABELS) - written) == []  # no label for an action nobody writes


def test_every_object_kind_the_code_writes_has_a_readable_label():
    kinds = {
        keyword.value.value
        for _, call in _audit_calls()
        for keyword in call.keywords
        if keyword.arg == "object_type" and isinstance(keyword.value, ast.Constant)
    }
    assert "payment" in kinds and sorted(kinds - set(OBJECT_LABELS)) == []


def test_details_are_readable_in_local_time_with_the_raw_form_kept(staff_browser, place):
    db.session.execute(delete(AuditEntry))
    entry(at=START, action="payment.paid", object_type="payment", object_id=7,
          details={"from": "pending", "checkout": "cs_1", "received_cents": 1200})
    entry(at=START + timedelta(minutes=1), action="booking.rescheduled", actor=place.staff,
          details={"from": {"resource": "studio", "start": "2026-11-02T09:00:00+00:00"},
                   "to": {"resource": "studio", "start": "2026-07-14T08:00:00+00:00"},
                   "overrides": True})
    db.session.commit()
    html = page(staff_browser.get("/staff/audit"))
    moved, paid = rows(staff_browser.get("/staff/audit"))
    assert "Buchung verschoben booking.rescheduled" in moved
    assert "Zahlung eingegangen payment.paid" in paid
    shown = [(dt.text, dd.text) for dt, dd in zip(html.find_all("dt"), html.find_all("dd"),
                                                    strict=True)]
    assert shown == [
        # Winter and summer time in Wolfsburg, not the recorded UTC.
        ("Vorher", "Platz/Raum studio Beginn 02.11.2026, 10:00:00"),
        ("Platz/Raum", "studio"), ("Beginn", "02.11.2026, 10:00:00"),
        ("Regeln übergangen", "ja"),
        ("Nachher", "Platz/Raum studio Beginn 14.07.2026, 10:00:00"),
        ("Platz/Raum", "studio"), ("Beginn", "14.07.2026, 10:00:00"),
        ("Bezahlung", "cs_1"), ("Vorher", "wartet auf Zahlung"),
        ("Eingegangen", "12,00 €"),  # the page's text with its no-break space as a space
    ]
    # The recorded form stays one click away, unchanged.
    raw = [p.text for p in html.find_all("pre")]
    assert '{ "checkout": "cs_1", "from": "pending", "received_cents": 1200 }' in raw
    assert "2026-11-02T09:00:00+00:00" in " ".join(raw)
    staff_browser.post("/language", data={"lang": "en", "next": "/"})
    english = page(staff_browser.get("/staff/audit"))
    assert "Payment received" in english.text
    assert [dd.text for dd in english.find_all("dd")][1:3] == [
        "studio", "Nov 2, 2026, 10:00:00 AM"]


def test_date_shaped_text_typed_by_a_person_never_breaks_the_page(staff_browser, place):
    """A cancellation reason or a note is free text: an instant in year 1 or 9999 left the
    datetime range when moved into Wolfsburg's zone (500), and a note is shown as typed."""
    db.session.execute(delete(AuditEntry))
    entry(at=START, action="booking.cancelled", object_type="booking", object_id=1,
          details={"reason": "0001-01-01T00:30:00+01:00", "note": "2026-11-02T09:00:00+00:00"})
    entry(at=START, action="booking.cancelled", object_type="booking", object_id=2,
          details={"reason": "9999-12-31T23:30:00-01:00"})
    db.session.commit()
    response = staff_browser.get("/staff/audit")
    assert response.status_code == 200
    shown = [dd.text for dd in page(response).find_all("dd")]
    assert "0001-01-01T00:30:00+01:00" in shown and "9999-12-31T23:30:00-01:00" in shown
    assert "2026-11-02T09:00:00+00:00" in shown
