"""The audit log page shows through which channel each change came in, and filters by it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete

from schiller40.core import audit
from schiller40.core.audit import AuditEntry, Channel
from schiller40.extensions import db
from tests.helpers import tr
from tests.html import page

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def log(place):
    """One entry per channel, the newest first in this order: unknown, worker, cli, api, web."""
    db.session.execute(delete(AuditEntry))
    for minutes, channel in enumerate(Channel):
        with audit.using_channel(channel):
            audit.record(db.session, action="booking.cancelled", now=START + timedelta(
                minutes=minutes), actor_id=place.staff.id, object_type="booking", object_id=1)
    db.session.commit()


def channel_cells(response, heading: str | None = None) -> list[str]:
    """The text of the column headed "Channel" (in German unless ``heading`` says), row by
    row."""
    html = page(response)
    headers = [th.text for th in html.find_all("th")]
    cells = html.find_all("td")
    return [c.text for c in cells[headers.index(heading or tr("Channel"))::len(headers)]]


def channel_options(response) -> list[tuple[str | None, str, bool]]:
    """The channel filter's choices: value, text and whether it is selected."""
    elements = page(response).elements
    start = next(i for i, e in enumerate(elements) if e.attrs.get("id") == "channel")
    options = []
    for element in elements[start + 1:]:
        if element.tag != "option":
            break
        options.append((element.attrs.get("value"), element.text, "selected" in element.attrs))
    return options


def test_each_entry_shows_its_channel(staff_browser, log):
    response = staff_browser.get("/staff/audit")
    assert response.status_code == 200
    assert channel_cells(response) == [tr("Not recorded"), tr("Background worker"),
                                       tr("Command line"), tr("API"), tr("Web")]


def test_in_english(staff_browser, log):
    staff_browser.post("/language", data={"lang": "en", "next": "/"})
    response = staff_browser.get("/staff/audit")
    assert channel_cells(response, "Channel") == [
        "Not recorded", "Background worker", "Command line", "API", "Web"]
    assert [text for _value, text, _selected in channel_options(response)] == [
        "All channels", "Web", "API", "Command line", "Background worker", "Not recorded"]


@pytest.mark.parametrize("channel", ["web", "api", "cli", "worker", "unknown"])
def test_the_channel_filter(staff_browser, log, channel):
    response = staff_browser.get("/staff/audit", query_string={"channel": channel})
    assert page(response).by_id("audit-count").text == "Einträge 1 bis 1 von 1"
    assert channel_cells(response) == [tr(
        {"web": "Web", "api": "API", "cli": "Command line", "worker": "Background worker",
         "unknown": "Not recorded"}[channel])]
    # The choice is kept in the form.
    assert [value for value, _text, selected in channel_options(response) if selected] == [
        channel]


def test_a_channel_not_in_the_list_is_refused_beside_the_field(staff_browser, log):
    response = staff_browser.get("/staff/audit", query_string={"channel": "fax"})
    assert response.status_code == 200
    html = page(response)
    assert tr("Please choose a channel from the list.") in html.by_id("channel-error").text
    assert html.by_id("channel").attrs.get("aria-invalid") == "true"
    assert html.by_id("audit-count") is None
