"""render.calendar() on its own (no database): the raw bytes every calendar app reads.

The checker in ics_checks.py is independent of the icalendar package the app writes with, so
these tests catch a writer bug instead of repeating it. The checker is itself tested first
against hand-written broken files: a checker that passes everything proves nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schiller40.feeds.render import PRODID, UID_DOMAIN, FeedEvent, calendar

from .ics_checks import IcsError, parse_utc, strict_parse_feed

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 12, 15, 9, 0, tzinfo=UTC)
LONG_GERMAN = (
    "Größere Präsentation für die Stadtwerke Wolfsburg; Straßenbahn-Übergabe, "
    "Außenaufnahmen mit Drohne – bitte Akkus, Stative und Mikrofone mitbringen. "
) * 4


def event(n: int = 1, **kw) -> FeedEvent:
    values = dict(
        uid=f"00000000-0000-4000-8000-{n:012d}", start=T0 + timedelta(days=n),
        end=T0 + timedelta(days=n, hours=2), summary=f"AR/VR-Studio {n} – Schiller40",
        status="CONFIRMED", sequence=0, created=T0 - timedelta(days=3),
        last_modified=T0 - timedelta(days=1),
        location="AR/VR-Studio, Markthalle, Schillerstraße 40, 38440 Wolfsburg",
        description=f"Buchung: https://schiller40.example/bookings/{n}",
        url=f"https://schiller40.example/bookings/{n}",
    )
    values.update(kw)
    return FeedEvent(**values)


def render(*events: FeedEvent, name: str = "Schiller40 – meine Buchungen") -> bytes:
    return calendar(name, list(events))


# --- the checker catches what it should ----------------------------------------------------

GOOD = render(event(1), event(2))


@pytest.mark.parametrize(
    ("broken", "complaint"),
    [
        (GOOD.replace(b"\r\n", b"\n", 3), "bare LF"),
        (GOOD.replace(b"VERSION:2.0\r\n", b"VERSION:2.0\r"), "bare CR"),
        (GOOD[:-2], "CRLF"),
        (GOOD.replace(b"METHOD:PUBLISH", b"METHOD:PUBLISH;" + b"X" * 80), "octets"),
        (GOOD.replace(b"PRODID:", b"PRODID:\r\n\t", 1), "TAB"),
        (GOOD.replace(b"END:VEVENT\r\n", b"", 1), "closes BEGIN"),
        (GOOD.replace(b"END:VCALENDAR\r\n", b""), "never closed"),
        (GOOD.replace(b"SEQUENCE:0\r\n", b"", 1), "SEQUENCE"),
        (GOOD.replace(b"X-PUBLISHED-TTL:PT1H\r\n", b""), "X-PUBLISHED-TTL"),
        (GOOD.replace(b"REFRESH-INTERVAL;VALUE=DURATION", b"REFRESH-INTERVAL"), "VALUE=DURATION"),
        (GOOD.replace(b"20261216T090000Z", b"20261216T090000", 1), "UTC"),
        (GOOD.replace(b"DTSTART:", b"DTSTART;TZID=Europe/Berlin:", 1), "parameters"),
        (GOOD.replace(b"DTEND:20261216T110000Z", b"DTEND:20261216T080000Z"), "not after"),
        (GOOD.replace(b"-000000000002@", b"-000000000001@"), "not unique"),
        (GOOD.replace(b"STATUS:CONFIRMED", b"STATUS:DONE", 1), "STATUS"),
        (GOOD.replace(b"Markthalle\\,", b"Markthalle,", 1), "unescaped"),
        (GOOD.replace(b"Markthalle\\,", b"Markthalle\\x", 1), "invalid escape"),
        (GOOD.replace(b"Markthalle\\,", b"Markthalle\x07", 1), "control character"),
        (GOOD.replace("ß".encode(), "ß".encode("latin-1"), 1), "UTF-8"),
        (b"\xef\xbb\xbf" + GOOD, "byte order mark"),
    ],
)
def test_the_checker_refuses_broken_files(broken: bytes, complaint: str):
    with pytest.raises(IcsError, match=complaint):
        strict_parse_feed(broken)


def test_the_checker_refuses_a_multibyte_character_cut_by_folding():
    line = ("DESCRIPTION:" + "ä" * 40).encode()
    cut = line[:75] + b"\r\n " + line[75:]  # 75 octets end in the middle of an "ä"
    broken = GOOD.replace(b"DESCRIPTION:", cut + b"\r\nX-DUMMY:", 1)
    with pytest.raises(IcsError, match="not UTF-8 on its own"):
        strict_parse_feed(broken)


# --- the renderer --------------------------------------------------------------------------


def test_a_calendar_has_every_property_clients_need():
    ics = strict_parse_feed(GOOD)
    cal = ics.calendar
    assert cal["VERSION"] == "2.0" and cal["PRODID"] == PRODID
    assert cal["METHOD"] == "PUBLISH" and cal["CALSCALE"] == "GREGORIAN"
    assert cal["NAME"] == cal["X-WR-CALNAME"] == "Schiller40 – meine Buchungen"
    assert cal.one("REFRESH-INTERVAL").params == {"VALUE": "DURATION"}
    assert cal["REFRESH-INTERVAL"] == cal["X-PUBLISHED-TTL"] == "PT1H"
    assert [e["UID"] for e in ics.events] == [
        f"00000000-0000-4000-8000-{n:012d}@{UID_DOMAIN}" for n in (1, 2)
    ]
    first = ics.events[0]
    assert first.one("DTSTART").utc == T0 + timedelta(days=1)
    assert first.one("DTEND").utc == T0 + timedelta(days=1, hours=2)
    # METHOD:PUBLISH: DTSTAMP is the time of this version, so an unchanged event stays equal.
    assert first["DTSTAMP"] == first["LAST-MODIFIED"] == "20261214T090000Z"
    assert first["CREATED"] == "20261212T090000Z"
    assert (first["SEQUENCE"], first["STATUS"], first["TRANSP"]) == ("0", "CONFIRMED", "OPAQUE")


def test_an_empty_calendar_is_still_valid():
    ics = strict_parse_feed(render())
    assert ics.events == []


def test_long_german_text_is_folded_at_75_octets_without_cutting_characters():
    body = render(event(1, summary=LONG_GERMAN, description=LONG_GERMAN * 3,
                        location="Großer Saal, Markthalle; Schillerstraße 40"))
    lines = body.split(b"\r\n")
    assert max(len(line) for line in lines) <= 75
    assert sum(line.startswith(b" ") for line in lines) > 10  # really folded
    # Measured in octets, not characters: a line of 75 characters with umlauts is too long.
    assert all(len(line.decode()) <= 75 for line in lines)
    ics = strict_parse_feed(body)
    e = ics.events[0]
    assert e["SUMMARY"] == LONG_GERMAN
    assert e["DESCRIPTION"] == LONG_GERMAN * 3
    assert e["LOCATION"] == "Großer Saal, Markthalle; Schillerstraße 40"


def test_four_byte_characters_and_long_urls_fold_cleanly():
    text = "Team-Meeting 🎥🎙️ mit Café-Pause ☕ " * 6
    url = "https://schiller40.example/bookings/1?" + "x" * 150
    ics = strict_parse_feed(render(event(1, summary=text, description=text, url=url)))
    assert ics.events[0]["SUMMARY"] == text
    assert ics.events[0]["URL"] == url


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("Kabel, Adapter; Stative", "Kabel\\, Adapter\\; Stative"),
        ("Zeile 1\nZeile 2", "Zeile 1\\nZeile 2"),
        ("C:\\Aufnahmen\\neu", "C:\\\\Aufnahmen\\\\neu"),
    ],
)
def test_text_is_escaped(text: str, written: str):
    body = render(event(1, summary=text, description=text))
    assert f"SUMMARY:{written}\r\n".encode() in body
    ics = strict_parse_feed(body)
    assert ics.events[0]["SUMMARY"] == ics.events[0]["DESCRIPTION"] == text


def test_windows_line_ends_and_lone_cr_in_a_note_become_escaped_newlines():
    ics = strict_parse_feed(render(event(1, description="eins\r\nzwei\rdrei\nvier")))
    assert ics.events[0]["DESCRIPTION"] == "eins\nzwei\ndrei\nvier"


def test_the_calendar_name_is_text_and_escaped_like_a_summary():
    # The name of a resource feed is the resource's name, which staff type freely.
    body = render(name="Schiller40 – Studio 1, Markthalle; Erdgeschoss")
    assert b"NAME:Schiller40 \xe2\x80\x93 Studio 1\\, Markthalle\\; Erdgeschoss\r\n" in body
    ics = strict_parse_feed(body)
    assert ics.calendar["NAME"] == ics.calendar["X-WR-CALNAME"] == (
        "Schiller40 – Studio 1, Markthalle; Erdgeschoss"
    )
    assert strict_parse_feed(render(name="Zwei\nZeilen")).calendar["NAME"] == "Zwei\nZeilen"


def test_control_characters_never_reach_the_file():
    # A note typed via the API may hold any control character but NUL; RFC 5545 forbids them.
    note = "Bitte \x1b[1mlaut\x1b[0m klingeln\x07, Tür\x0bklemmt\x7f\tTab bleibt"
    ics = strict_parse_feed(render(event(1, summary="Studio\x08 – Schiller40", description=note),
                            name="Schiller40\x0c – Studio"))
    assert ics.events[0]["DESCRIPTION"] == "Bitte [1mlaut[0m klingeln, Türklemmt\tTab bleibt"
    assert ics.events[0]["SUMMARY"] == "Studio – Schiller40"
    assert ics.calendar["NAME"] == "Schiller40 – Studio"


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        (datetime(2027, 3, 28, 10, 0, tzinfo=BERLIN), "20270328T080000Z"),  # summer time
        (datetime(2026, 10, 25, 10, 0, tzinfo=BERLIN), "20261025T090000Z"),  # winter time
        (datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=BERLIN), "20261025T003000Z"),
        (datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN), "20261025T013000Z"),
    ],
)
def test_times_in_another_zone_are_written_in_utc(local: datetime, utc: str):
    # One real hour later (aware arithmetic in a zone is wall-clock arithmetic in Python).
    end = local.astimezone(UTC) + timedelta(hours=1)
    body = render(event(1, start=local, end=end, created=local, last_modified=local))
    assert b"TZID" not in body and b"VTIMEZONE" not in body
    e = strict_parse_feed(body).events[0]
    assert e["DTSTART"] == e["DTSTAMP"] == e["LAST-MODIFIED"] == e["CREATED"] == utc
    assert e.one("DTEND").utc - e.one("DTSTART").utc == timedelta(hours=1)


def test_a_naive_time_is_refused_rather_than_written_floating():
    with pytest.raises(ValueError, match="naive"):
        render(event(1, start=datetime(2026, 12, 16, 10, 0)))  # noqa: DTZ001


def test_statuses_and_transparency():
    ics = strict_parse_feed(render(
        event(1, status="CONFIRMED"), event(2, status="TENTATIVE", sequence=2),
        event(3, status="CANCELLED", sequence=5, summary="Storniert: Studio – Schiller40"),
    ))
    assert [(e["STATUS"], e["TRANSP"], e["SEQUENCE"]) for e in ics.events] == [
        ("CONFIRMED", "OPAQUE", "0"), ("TENTATIVE", "OPAQUE", "2"),
        ("CANCELLED", "TRANSPARENT", "5"),
    ]


def test_optional_properties_are_left_out_when_empty():
    ics = strict_parse_feed(render(event(1, location="", description="", url=None)))
    e = ics.events[0]
    assert e.get("LOCATION") is None and e.get("DESCRIPTION") is None and e.get("URL") is None


def test_many_events_keep_their_order_and_unique_uids():
    events = [event(n) for n in range(1, 301)]
    ics = strict_parse_feed(render(*events))
    assert [e.one("DTSTART").utc for e in ics.events] == [e.start for e in events]
    assert parse_utc(ics.events[-1]["DTEND"]) == events[-1].end


# Any text a member or staff can type: letters of every script, emoji, quotes, backslashes,
# the iCalendar specials, line breaks (LF, CR, CRLF, U+2028, NEL) and control characters.
any_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(list(",;:\\\"\n\r\t\u2028\x85\x00\x07\x1b ßäÖ€😀")),
    ),
    max_size=300,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(summary=any_text, description=any_text, name=any_text)
@example(summary="\r\x00\n", description="a\r\x01\nb", name="\r\x7f\n")
def test_any_text_gives_a_valid_file_and_reads_back(summary: str, description: str, name: str):
    summary = "S" + summary  # a summary is never empty in the app
    name = "N" + name
    body = render(event(1, summary=summary, description=description), name=name)
    ics = strict_parse_feed(body)

    def expected(text: str) -> str:
        # As the renderer does: controls out first, then line breaks made one kind
        # ("\r\x00\n" is one line break, not two).
        text = "".join(c for c in text if c in "\t\n\r" or not (c < " " or c == "\x7f"))
        return text.replace("\r\n", "\n").replace("\r", "\n")

    e = ics.events[0]
    assert e["SUMMARY"] == expected(summary)
    assert ics.calendar["NAME"] == expected(name)
    if expected(description):
        assert e["DESCRIPTION"] == expected(description)
