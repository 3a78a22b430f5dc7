"""A strict, independent reader of the iCalendar files the app serves (RFC 5545, RFC 7986).

It does not use the ``icalendar`` package the app renders with: a bug shared by writer and
reader would cancel out. ``strict_parse_feed(body)`` checks the raw bytes (CRLF only, at most 75
octets a line, folding, UTF-8, no control characters), the component structure, the
properties every calendar app relies on, and the values (UTC times, escaping), and returns
the parsed calendar for the test to look into. Any violation raises ``IcsError`` naming the
line. ``checking(client)`` makes a test client run it on every calendar it receives; the feed
tests' clients all do (tests/feeds/conftest.py).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

MAX_OCTETS = 75
NAME = re.compile(r"[A-Za-z0-9-]+\Z")
# param = name "=" value *("," value); a value is a quoted string or safe characters.
PARAM = re.compile(r';([A-Za-z0-9-]+)=((?:"[^"\x00-\x08\x0a-\x1f\x7f]*"|[^";:,\x00-\x08\x0a-\x1f\x7f]*)'
                   r'(?:,(?:"[^"\x00-\x08\x0a-\x1f\x7f]*"|[^";:,\x00-\x08\x0a-\x1f\x7f]*))*)')
# CONTROL in RFC 5545 §3.1: every ASCII control except HTAB (CR and LF only as line ends).
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
UTC_TIME = re.compile(r"\d{8}T\d{6}Z\Z")
ESCAPE = re.compile(r"\\(.)|([,;])", re.DOTALL)
TEXT = {"SUMMARY", "DESCRIPTION", "LOCATION", "NAME", "X-WR-CALNAME", "COMMENT", "CATEGORIES"}
TIMES = ("DTSTART", "DTEND", "DTSTAMP", "LAST-MODIFIED", "CREATED")

CALENDAR_ONCE = {
    "VERSION": "2.0",
    "PRODID": None,
    "CALSCALE": "GREGORIAN",
    "METHOD": "PUBLISH",
    "NAME": None,
    "X-WR-CALNAME": None,
    "REFRESH-INTERVAL": "PT1H",
    "X-PUBLISHED-TTL": "PT1H",
}
EVENT_REQUIRED = ("UID", "DTSTAMP", "DTSTART", "DTEND", "LAST-MODIFIED", "SEQUENCE", "SUMMARY",
                  "STATUS")
EVENT_OPTIONAL = ("CREATED", "LOCATION", "DESCRIPTION", "URL", "TRANSP")
STATUSES = {"TENTATIVE", "CONFIRMED", "CANCELLED"}


class IcsError(AssertionError):
    pass


def checking(client):
    """Make ``client`` check every calendar (text/calendar with a body) it receives."""
    opened = client.open

    def open_and_check(*args, **kwargs):
        response = opened(*args, **kwargs)
        if response.mimetype == "text/calendar" and response.data:
            strict_parse_feed(response.data)
        return response

    client.open = open_and_check  # get, head and post all go through open
    return client


@dataclass
class Prop:
    name: str
    params: dict[str, str]
    value: str  # as written, still escaped
    line: int  # number of the physical line it starts on, 1-based

    @property
    def text(self) -> str:
        """The value of a TEXT property, unescaped (RFC 5545 §3.3.11)."""
        return unescape(self.value, self.line)

    @property
    def utc(self) -> datetime:
        return parse_utc(self.value, self.line)


@dataclass
class Component:
    name: str
    line: int
    props: list[Prop] = field(default_factory=list)
    children: list[Component] = field(default_factory=list)

    def all(self, name: str) -> list[Prop]:
        return [p for p in self.props if p.name == name]

    def one(self, name: str) -> Prop:
        found = self.all(name)
        if len(found) != 1:
            raise IcsError(f"{self.name} at line {self.line}: {len(found)} {name}, want 1")
        return found[0]

    def get(self, name: str) -> Prop | None:
        found = self.all(name)
        return found[0] if found else None

    def __getitem__(self, name: str) -> str:
        """The unescaped text of a TEXT property, or the raw value of any other."""
        prop = self.one(name)
        return prop.text if name in TEXT else prop.value


@dataclass
class Ics:
    calendar: Component

    @property
    def events(self) -> list[Component]:
        return [c for c in self.calendar.children if c.name == "VEVENT"]

    def by_uid(self) -> dict[str, Component]:
        return {e["UID"]: e for e in self.events}

    def event(self, uid: str) -> Component:
        """The event of a booking or block uid (with or without the "@domain" part)."""
        for e in self.events:
            if e["UID"] == uid or e["UID"].split("@", 1)[0] == uid:
                return e
        raise KeyError(uid)

    def uids(self) -> set[str]:
        """The events' UIDs without the "@domain" part (booking uids, "block-<id>")."""
        return {e["UID"].split("@", 1)[0] for e in self.events}


def unescape(value: str, line: int = 0) -> str:
    def replace(match: re.Match) -> str:
        escaped, bare = match.groups()
        if bare is not None:
            raise IcsError(f"line {line}: unescaped {bare!r} in a TEXT value: {value!r}")
        if escaped in "nN":
            return "\n"
        if escaped in "\\;,":
            return escaped
        raise IcsError(f"line {line}: invalid escape \\{escaped} in {value!r}")

    # ESCAPE needs a character after each backslash: an odd run at the end is dangling.
    if (len(value) - len(value.rstrip("\\"))) % 2:
        raise IcsError(f"line {line}: dangling backslash in {value!r}")
    return ESCAPE.sub(replace, value)


def parse_utc(value: str, line: int = 0) -> datetime:
    if not UTC_TIME.match(value):
        raise IcsError(f"line {line}: {value!r} is not a UTC date-time (YYYYMMDDTHHMMSSZ)")
    return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def physical_lines(body: bytes) -> list[bytes]:
    """Split on CRLF only and check each line's bytes (never str.splitlines: it breaks on
    U+2028, U+0085 and other characters that are ordinary text in iCalendar)."""
    if not body:
        raise IcsError("empty calendar")
    if body.startswith(b"\xef\xbb\xbf"):
        raise IcsError("byte order mark before BEGIN:VCALENDAR")
    if not body.endswith(b"\r\n"):
        raise IcsError("the last line does not end with CRLF")
    lines = body[:-2].split(b"\r\n")
    for number, raw in enumerate(lines, 1):
        if b"\n" in raw:
            raise IcsError(f"line {number}: bare LF: {raw[:80]!r}")
        if b"\r" in raw:
            raise IcsError(f"line {number}: bare CR: {raw[:80]!r}")
        if len(raw) > MAX_OCTETS:
            raise IcsError(f"line {number}: {len(raw)} octets, at most {MAX_OCTETS}: {raw!r}")
        if not raw:
            raise IcsError(f"line {number}: empty line")
        try:
            # Each physical line on its own: folding must not cut a UTF-8 sequence in two
            # (RFC 5545 allows it, but Outlook and several web clients then show garbage).
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IcsError(f"line {number}: not UTF-8 on its own ({exc}): {raw!r}") from None
    if lines[0].startswith((b" ", b"\t")):
        raise IcsError("line 1 is a continuation line")
    return lines


def unfold(lines: list[bytes]) -> list[tuple[int, str]]:
    """(first physical line number, content line) pairs."""
    logical: list[tuple[int, bytes]] = []
    for number, raw in enumerate(lines, 1):
        if raw.startswith(b"\t"):
            raise IcsError(f"line {number}: folded with a TAB; every client reads a space")
        if raw.startswith(b" "):
            if len(raw) == 1:
                raise IcsError(f"line {number}: continuation line with no content")
            start, previous = logical[-1]
            logical[-1] = (start, previous + raw[1:])
        else:
            logical.append((number, raw))
    return [(number, raw.decode("utf-8")) for number, raw in logical]


def content_line(number: int, line: str) -> Prop:
    match = re.match(r"[A-Za-z0-9-]+", line)
    if match is None:
        raise IcsError(f"line {number}: no property name: {line!r}")
    name, rest = match.group(0), line[match.end():]
    params: dict[str, str] = {}
    while rest.startswith(";"):
        param = PARAM.match(rest)
        if param is None:
            raise IcsError(f"line {number}: malformed parameter in {line!r}")
        key = param.group(1).upper()
        if key in params:
            raise IcsError(f"line {number}: parameter {key} twice")
        params[key] = param.group(2)
        rest = rest[param.end():]
    if not rest.startswith(":"):
        raise IcsError(f"line {number}: no ':' after name and parameters: {line!r}")
    value = rest[1:]
    if CONTROL.search(value):
        raise IcsError(f"line {number}: control character in value {value!r}")
    return Prop(name.upper(), params, value, number)


def parse(body: bytes) -> Ics:
    """Structure only: lines, folding, BEGIN/END nesting."""
    stack: list[Component] = []
    root: Component | None = None
    for number, line in unfold(physical_lines(body)):
        prop = content_line(number, line)
        if prop.name == "BEGIN":
            if prop.params:
                raise IcsError(f"line {number}: BEGIN with parameters")
            component = Component(prop.value.upper(), number)
            if stack:
                stack[-1].children.append(component)
            elif root is not None:
                raise IcsError(f"line {number}: second top-level component {prop.value}")
            else:
                root = component
            stack.append(component)
        elif prop.name == "END":
            if not stack:
                raise IcsError(f"line {number}: END:{prop.value} without BEGIN")
            if stack[-1].name != prop.value.upper():
                raise IcsError(
                    f"line {number}: END:{prop.value} closes BEGIN:{stack[-1].name} "
                    f"of line {stack[-1].line}"
                )
            stack.pop()
        else:
            if not stack:
                raise IcsError(f"line {number}: property {prop.name} outside any component")
            stack[-1].props.append(prop)
    if stack:
        raise IcsError(f"BEGIN:{stack[-1].name} of line {stack[-1].line} is never closed")
    if root is None:
        raise IcsError("no component")
    if root.name != "VCALENDAR":
        raise IcsError(f"the file is a {root.name}, not a VCALENDAR")
    return Ics(root)


def strict_parse_feed(body: bytes) -> Ics:
    """Every check; returns the parsed calendar."""
    ics = parse(body)
    cal = ics.calendar
    for name, wanted in CALENDAR_ONCE.items():
        prop = cal.one(name)
        if wanted is not None and prop.value != wanted:
            raise IcsError(f"line {prop.line}: {name}:{prop.value}, want {wanted}")
    refresh = cal.one("REFRESH-INTERVAL")
    if refresh.params != {"VALUE": "DURATION"}:
        raise IcsError(f"line {refresh.line}: REFRESH-INTERVAL needs VALUE=DURATION (RFC 7986)")
    if not cal["NAME"] or cal["NAME"] != cal["X-WR-CALNAME"]:
        raise IcsError("NAME and X-WR-CALNAME must be the same, non-empty name")
    for child in cal.children:
        if child.name != "VEVENT":
            raise IcsError(f"line {child.line}: unexpected {child.name} (all times are UTC)")
        if child.children:
            raise IcsError(f"line {child.line}: VEVENT with subcomponents")
        strict_check_vevent(child)
    uids = Counter(e["UID"] for e in ics.events)
    duplicates = [uid for uid, n in uids.items() if n > 1]
    if duplicates:
        raise IcsError(f"UIDs not unique: {duplicates}")
    return ics


def strict_check_vevent(event: Component) -> None:
    names = Counter(p.name for p in event.props)
    for name in EVENT_REQUIRED:
        if names[name] != 1:
            raise IcsError(f"VEVENT at line {event.line}: {names[name]} {name}, want 1")
    for name in EVENT_OPTIONAL:
        if names[name] > 1:
            raise IcsError(f"VEVENT at line {event.line}: {name} {names[name]} times")
    unknown = set(names) - set(EVENT_REQUIRED) - set(EVENT_OPTIONAL)
    if unknown:
        raise IcsError(f"VEVENT at line {event.line}: unexpected {sorted(unknown)}")
    for prop in event.props:
        if prop.name in TIMES:
            if prop.params:
                raise IcsError(f"line {prop.line}: {prop.name} has parameters {prop.params}")
            parse_utc(prop.value, prop.line)
        elif prop.name in TEXT:
            unescape(prop.value, prop.line)
    uid = event.one("UID").value
    if not re.fullmatch(r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+", uid):
        raise IcsError(f"VEVENT at line {event.line}: odd UID {uid!r}")
    start, end = event.one("DTSTART").utc, event.one("DTEND").utc
    if end <= start:
        raise IcsError(f"VEVENT {uid}: DTEND {end} is not after DTSTART {start}")
    created = event.get("CREATED")
    if created is not None and created.utc > event.one("LAST-MODIFIED").utc:
        raise IcsError(f"VEVENT {uid}: CREATED after LAST-MODIFIED")
    sequence = event.one("SEQUENCE").value
    if not re.fullmatch(r"0|[1-9][0-9]*", sequence):
        raise IcsError(f"VEVENT {uid}: SEQUENCE {sequence!r} is not a non-negative integer")
    status = event.one("STATUS").value
    if status not in STATUSES:
        raise IcsError(f"VEVENT {uid}: STATUS {status!r}")
    transp = event.get("TRANSP")
    if transp is not None and transp.value not in ("OPAQUE", "TRANSPARENT"):
        raise IcsError(f"VEVENT {uid}: TRANSP {transp.value!r}")
    url = event.get("URL")
    if url is not None and not re.fullmatch(r"https?://[^\s\\]+", url.value):
        raise IcsError(f"VEVENT {uid}: URL {url.value!r} is not a plain http(s) URI")
    if not event["SUMMARY"].strip():
        raise IcsError(f"VEVENT {uid}: empty SUMMARY")
