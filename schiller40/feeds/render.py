"""Render events as an RFC 5545 / RFC 7986 calendar. Pure: data in, bytes out.

Every time is written in UTC ("Z"). Floating or zoned times need a VTIMEZONE, and the one
the icalendar package generates for Europe/Berlin is misread by ical.js and vobject (summer
events an hour early); UTC is read identically by every client, and clients show it in the
viewer's zone anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import icalendar

PRODID = "-//Stadt Wolfsburg//Schiller40 Booking//DE"
UID_DOMAIN = "schiller40-booking"
REFRESH = timedelta(hours=1)
# RFC 5545 §3.3.11: TEXT may hold no control character but HTAB (line breaks are escaped).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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
    # Fix: icalendar does not know NAME (RFC 7986) or X-WR-CALNAME and wrote them raw, so a
    # resource named "Studio 1, Markthalle" gave an unescaped comma in a TEXT value, and a
    # line break a crash. vText escapes them like SUMMARY.
    cal.add("name", icalendar.vText(_text(name)))
    cal.add("x-wr-calname", icalendar.vText(_text(name)))
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    # An X- property has no known type, so icalendar would write str(timedelta): "1:00:00".
    cal.add("x-published-ttl", icalendar.vDuration(REFRESH))
    for event in events:
        cal.add_component(_vevent(event))
    return cal.to_ical()


def _utc(moment: datetime) -> datetime:
    """Fix: an aware time in another zone (e.g. Europe/Berlin) used to be written with a
    TZID and no VTIMEZONE, which clients read as floating or reject; naive times were written
    floating. Every time leaves here in UTC, whatever the caller passed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r} in a calendar feed")
    return moment.astimezone(UTC)


def _text(value: str) -> str:
    """Fix: control characters (from a member's note or a name) went into the file as they
    were, which RFC 5545 forbids and strict parsers refuse; they are dropped."""
    return _CONTROL.sub("", value)


def _vevent(event: FeedEvent) -> icalendar.Event:
    vevent = icalendar.Event()
    vevent.add("uid", f"{event.uid}@{UID_DOMAIN}")
    # With METHOD:PUBLISH, DTSTAMP is when this version of the event was made: the last
    # change. A fetch-time stamp would make every download look like a change.
    vevent.add("dtstamp", _utc(event.last_modified))
    vevent.add("created", _utc(event.created))
    vevent.add("last-modified", _utc(event.last_modified))
    vevent.add("sequence", event.sequence)
    vevent.add("dtstart", _utc(event.start))
    vevent.add("dtend", _utc(event.end))
    vevent.add("summary", _text(event.summary))
    vevent.add("status", event.status)
    vevent.add("transp", "TRANSPARENT" if event.status == "CANCELLED" else "OPAQUE")
    if event.location:
        vevent.add("location", _text(event.location))
    if event.description:
        vevent.add("description", _text(event.description))
    if event.url:
        vevent.add("url", event.url)
    return vevent
