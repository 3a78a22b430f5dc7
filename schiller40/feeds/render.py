"""Render events as an RFC 5545 / RFC 7986 calendar. Pure: data in, bytes out.

Every time is written in UTC ("Z"). Floating or zoned times need a VTIMEZONE, and the one
the icalendar package generates for Europe/Berlin is misread by ical.js and vobject (summer
events an hour early); UTC is read identically by every client, and clients show it in the
viewer's zone anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import icalendar

PRODID = "-//Stadt Wolfsburg//Schiller40 Booking//DE"
UID_DOMAIN = "schiller40-booking"
REFRESH = timedelta(hours=1)


@dataclass(frozen=True)
class FeedEvent:
    uid: str
    start: datetime
    end: datetime
    summary: str
    status: str  # CONFIRMED, TENTATIVE or CANCELLED
    sequence: int
    created: datetime
    last_modified: datetime
    location: str = ""
    description: str = ""
    url: str | None = None


def calendar(name: str, events: Iterable[FeedEvent], *, method: str = "PUBLISH") -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    cal.add("name", name)
    cal.add("x-wr-calname", name)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    # An X- property has no known type, so icalendar would write str(timedelta): "1:00:00".
    cal.add("x-published-ttl", icalendar.vDuration(REFRESH))
    for event in events:
        cal.add_component(_vevent(event))
    return cal.to_ical()


def _vevent(event: FeedEvent) -> icalendar.Event:
    vevent = icalendar.Event()
    vevent.add("uid", f"{event.uid}@{UID_DOMAIN}")
    # With METHOD:PUBLISH, DTSTAMP is when this version of the event was made: the last
    # change. A fetch-time stamp would make every download look like a change.
    vevent.add("dtstamp", event.last_modified)
    vevent.add("created", event.created)
    vevent.add("last-modified", event.last_modified)
    vevent.add("sequence", event.sequence)
    vevent.add("dtstart", event.start)
    vevent.add("dtend", event.end)
    vevent.add("summary", event.summary)
    vevent.add("status", event.status)
    vevent.add("transp", "TRANSPARENT" if event.status == "CANCELLED" else "OPAQUE")
    if event.location:
        vevent.add("location", event.location)
    if event.description:
        vevent.add("description", event.description)
    if event.url:
        vevent.add("url", event.url)
    return vevent
