"""Render events as an RFC 5545 / RFC 7986 calendar. Pure: data in, bytes out.

Every time is written in UTC ("Z"). Floating or zoned times need a VTIMEZONE, and the one
the icalendar package generates for Europe/Berlin is misread by ical.js and vobject (summer
events an hour early); UTC is read identically by every client, and clients show it in the
viewer's zone anyway.

The writer is our own rather than the icalendar package's: we emit one fixed set of
properties, and the package spent about a millisecond per event (mostly folding), which made
a staff feed of a few thousand events take seconds. Correctness is held by the tests: a
strict structural checker on the raw bytes, and two independent parsers (vobject, ical.js)
that must agree with the database to the second.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

CONTENT_TYPE = "text/calendar; charset=utf-8"
PRODID = "-//Stadt Wolfsburg//Schiller40 Booking//DE"
UID_DOMAIN = "schiller40-booking"
REFRESH = timedelta(hours=1)
# RFC 5545 §3.3.11: TEXT may hold no control character but HTAB (line breaks are escaped).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_OCTETS = 75


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
    # For invitations sent by mail (METHOD:REQUEST / CANCEL, RFC 5546): who sends it, and the
    # member it is for. Feeds (METHOD:PUBLISH) carry neither.
    organizer: tuple[str, str] | None = None  # (name, address)
    attendee: tuple[str, str] | None = None


def calendar(name: str, events: Iterable[FeedEvent], *, method: str = "PUBLISH") -> bytes:
    return b"".join(stream(name, events, method=method))


def stream(
    name: str, events: Iterable[FeedEvent], *, method: str = "PUBLISH"
) -> Iterator[bytes]:
    """The calendar in pieces: the header, then one piece per event, then the end. A feed
    response sends them as they are made (the whole body of a large feed is never held)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"METHOD:{method}",
        # NAME (RFC 7986) and X-WR-CALNAME are TEXT: escaped like SUMMARY.
        f"NAME:{_text(name)}",
        f"X-WR-CALNAME:{_text(name)}",
        f"REFRESH-INTERVAL;VALUE=DURATION:{_duration(REFRESH)}",
        f"X-PUBLISHED-TTL:{_duration(REFRESH)}",
    ]
    yield b"".join(_fold(line) for line in lines)
    for event in events:
        yield b"".join(_fold(line) for line in _vevent(event))
    yield _fold("END:VCALENDAR")


def _vevent(event: FeedEvent) -> list[str]:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{_text(event.uid)}@{UID_DOMAIN}",
        # With METHOD:PUBLISH, DTSTAMP is when this version of the event was made: the last
        # change. A fetch-time stamp would make every download look like a change.
        f"DTSTAMP:{_utc(event.last_modified)}",
        f"CREATED:{_utc(event.created)}",
        f"LAST-MODIFIED:{_utc(event.last_modified)}",
        f"SEQUENCE:{int(event.sequence)}",
        f"DTSTART:{_utc(event.start)}",
        f"DTEND:{_utc(event.end)}",
        f"SUMMARY:{_text(event.summary)}",
        f"STATUS:{event.status}",
        f"TRANSP:{'TRANSPARENT' if event.status == 'CANCELLED' else 'OPAQUE'}",
    ]
    if event.location:
        lines.append(f"LOCATION:{_text(event.location)}")
    if event.description:
        lines.append(f"DESCRIPTION:{_text(event.description)}")
    if event.url:
        # A URI value is not TEXT-escaped; line breaks and controls cannot be part of it.
        url = _CONTROL.sub("", event.url).replace("\r", "").replace("\n", "")
        lines.append(f"URL:{url}")
    if event.organizer:
        name, address = event.organizer
        lines.append(f"ORGANIZER;CN={_param(name)}:mailto:{_address(address)}")
    if event.attendee:
        lines.append(
            f"ATTENDEE;CN={_param(event.attendee[0])};ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;"
            f"RSVP=FALSE:mailto:{_address(event.attendee[1])}"
        )
    lines.append("END:VEVENT")
    return lines


def _param(value: str) -> str:
    """A quoted parameter value (RFC 5545 §3.2): no double quotes or controls inside."""
    cleaned = _CONTROL.sub("", value).replace('"', "'").replace("\r", "").replace("\n", " ")
    return f'"{cleaned}"'


def _address(value: str) -> str:
    return _CONTROL.sub("", value).replace("\r", "").replace("\n", "").replace(" ", "")


def _utc(moment: datetime) -> str:
    """Every time leaves here in UTC, whatever the caller passed: a zoned time would need a
    VTIMEZONE, a naive one would be read as floating."""
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment!r} in a calendar feed")
        moment = moment.astimezone(UTC)
    # Formatted by hand: strftime was the largest single cost of a 2,000-event feed.
    return (f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"
            f"T{moment.hour:02d}{moment.minute:02d}{moment.second:02d}Z")


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text + (f"{secs}S" if secs or text == "PT" else "")


def _text(value: str) -> str:
    """A TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma and line breaks escaped;
    control characters (from a member's note or a name) dropped, as the RFC forbids them."""
    value = _CONTROL.sub("", value).replace("\r\n", "\n").replace("\r", "\n")
    return (
        value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
    )


def _fold(line: str) -> bytes:
    """One content line, folded at 75 octets (never inside a UTF-8 character), CRLF-ended."""
    data = line.encode()
    if len(data) <= _LINE_OCTETS:
        return data + b"\r\n"
    parts = []
    start, limit = 0, _LINE_OCTETS
    while len(data) - start > limit:
        cut = start + limit
        while data[cut] & 0xC0 == 0x80:  # a continuation byte: back up to a character start
            cut -= 1
        parts.append(data[start:cut])
        start, limit = cut, _LINE_OCTETS - 1  # continuation lines begin with one space
    parts.append(data[start:])
    return b"\r\n ".join(parts) + b"\r\n"
