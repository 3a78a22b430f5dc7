"""The iCal feeds over HTTP, on SQLite and PostgreSQL, read by three independent parsers.

One realistic month-by-month picture of a location (``world``): two members and a staff
member, a studio members may subscribe to and a room they may not, bookings in winter and
summer, on both clock-change Sundays (2026-10-25, 2027-03-28), the days around them and the
nights across the change, an unpaid hold, blocks, and bookings just outside the feed window.
Bookings are made through the booking service, as the app makes them; the past ones with the
clock set back to when they were booked.

Every calendar fetched is checked by ics_checks (see conftest.py). Times are compared to the
second with the database and with instants written out by hand below, so a wrong offset in
the data, the renderer or a parser shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from types import SimpleNamespace

import icalendar
import pytest
import vobject
from flask import Flask
from sqlalchemy import select

from schiller40.booking.cancel import cancel
from schiller40.booking.models import Booking, BookingStatus
from schiller40.booking.reschedule import reschedule
from schiller40.booking.rules import Overrides
from schiller40.extensions import db
from schiller40.feeds import render, tokens
from schiller40.feeds import service as feed_service
from schiller40.feeds.models import CalendarFeed, FeedKind
from schiller40.models import Block, BlockKind, OpeningHours, ResourceKind, Role

from ..conftest import DEFAULT_NOW
from ..helpers import at, book, browser
from ..html import page
from .ics_checks import Ics, checking, strict_parse_feed

BOOKED_AT_IN_AUTUMN = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
UID_DOMAIN = "@schiller40-booking"


def z(text: str) -> datetime:
    """An instant written out by hand: z("2027-03-28 08:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# label: (local day, local start hour, local end hour, UTC start, UTC end), Mia's studio
# bookings. The UTC columns are what any calendar in the world must show; they are typed
# out, not computed, so they check the time arithmetic too.
MIA_STUDIO = {
    "before-window": (date(2026, 10, 20), 10, 12, z("2026-10-20 08:00"), z("2026-10-20 10:00")),
    "autumn-eve": (date(2026, 10, 24), 10, 12, z("2026-10-24 08:00"), z("2026-10-24 10:00")),
    "autumn-night": (date(2026, 10, 25), 1, 4, z("2026-10-24 23:00"), z("2026-10-25 03:00")),
    "autumn-change": (date(2026, 10, 25), 10, 12, z("2026-10-25 09:00"), z("2026-10-25 11:00")),
    "autumn-after": (date(2026, 10, 26), 10, 12, z("2026-10-26 09:00"), z("2026-10-26 11:00")),
    "winter": (date(2026, 12, 15), 10, 12, z("2026-12-15 09:00"), z("2026-12-15 11:00")),
    "spring-eve": (date(2027, 3, 27), 10, 12, z("2027-03-27 09:00"), z("2027-03-27 11:00")),
    "spring-night": (date(2027, 3, 28), 1, 4, z("2027-03-28 00:00"), z("2027-03-28 02:00")),
    "spring-change": (date(2027, 3, 28), 10, 12, z("2027-03-28 08:00"), z("2027-03-28 10:00")),
    "spring-after": (date(2027, 3, 29), 10, 12, z("2027-03-29 08:00"), z("2027-03-29 10:00")),
    "summer": (date(2027, 7, 14), 10, 12, z("2027-07-14 08:00"), z("2027-07-14 10:00")),
    "beyond-window": (date(2027, 11, 30), 10, 12, z("2027-11-30 09:00"), z("2027-11-30 11:00")),
}
OUTSIDE = {"before-window", "beyond-window"}
# Outside opening hours (the nights) or on a holiday (2027-03-29 is Easter Monday): booked
# by staff for Mia with the opening-hours override.
BY_STAFF = {"autumn-night", "spring-night", "spring-after"}
WINTER_NOTE = "Kabel, Adapter; Stative\nBitte klingeln\x07"  # \x07: typed via the API


@dataclass
class World:
    location: object
    studio: object
    room: object
    mia: object
    jonas: object
    staff: object
    bookings: dict[str, Booking] = field(default_factory=dict)

    def ids(self, *labels: str) -> set[str]:
        return {self.bookings[label].uid for label in labels}


@pytest.fixture
def world(factory, clock) -> World:
    every_day = [OpeningHours(weekday=d, opens=time(7), closes=time(22)) for d in range(7)]
    location = factory.location(name="Markthalle", opening_hours=every_day)
    studio = factory.resource(location=location, kind=ResourceKind.STUDIO, slug="studio",
                              name="AR/VR-Studio", feed_for_members=True)
    room = factory.resource(location=location, kind=ResourceKind.ROOM, slug="room",
                            name="Besprechungsraum Aller")
    # Studio hours are included (confirmed at once); rooms are paid (held until paid).
    tier = factory.tier(included_studio_hours=200, booking_horizon_days=400,
                        max_future_bookings=50)
    mia = factory.user(tier=tier, name="Mia Müller", email="mia@example.org")
    jonas = factory.user(tier=tier, name="Jonas Weiß", email="jonas@example.org")
    staff = factory.user(role=Role.STAFF, name="Stefanie Groß", email="staff@example.org")
    db.session.commit()
    w = World(location, studio, room, mia, jonas, staff)

    def mias(labels):
        for label in labels:
            day, h1, h2, _, _ = MIA_STUDIO[label]
            if label in BY_STAFF:
                w.bookings[label] = book(
                    staff, clock, resource_slug=studio.slug, start=at(day, h1), end=at(day, h2),
                    for_user=mia,
                    overrides=Overrides(opening_hours=True, reason="Evening recording"),
                ).bookings[0]
            else:
                note = WINTER_NOTE if label == "winter" else ""
                w.bookings[label] = book(mia, clock, resource_slug=studio.slug,
                                         start=at(day, h1), end=at(day, h2), note=note).bookings[0]

    clock.set(BOOKED_AT_IN_AUTUMN)
    mias(["before-window", "autumn-eve", "autumn-night", "autumn-change", "autumn-after"])
    clock.set(DEFAULT_NOW)
    mias([label for label in MIA_STUDIO if label.startswith(("winter", "spring", "summer",
                                                              "beyond"))])
    w.bookings["jonas-studio"] = book(jonas, clock, resource_slug=studio.slug,
                                      start=at(date(2026, 12, 16), 14),
                                      end=at(date(2026, 12, 16), 16)).bookings[0]
    w.bookings["jonas-room"] = book(jonas, clock, resource_slug=room.slug,
                                    start=at(date(2026, 12, 18), 9),
                                    end=at(date(2026, 12, 18), 10)).bookings[0]
    w.bookings["mia-room-held"] = book(mia, clock, resource_slug=room.slug,
                                       start=at(date(2026, 12, 17), 10),
                                       end=at(date(2026, 12, 17), 11)).bookings[0]
    db.session.add_all([
        Block(location_id=location.id, resource_id=studio.id, kind=BlockKind.MAINTENANCE,
              starts_at=at(date(2026, 12, 21), 8), ends_at=at(date(2026, 12, 21), 12),
              reason="Wartung: Linsen, Sensoren; Kalibrierung", created_at=clock()),
        Block(location_id=location.id, resource_id=None, kind=BlockKind.CLOSURE,
              starts_at=at(date(2026, 12, 24), 7), ends_at=at(date(2026, 12, 24), 22),
              reason="Heiligabend", created_at=clock()),
    ])
    db.session.commit()
    assert w.bookings["mia-room-held"].status is BookingStatus.HELD
    assert all(w.bookings[label].status is BookingStatus.CONFIRMED for label in MIA_STUDIO)
    return w


# --- helpers -------------------------------------------------------------------------------


def feed_of(clock, user, kind: FeedKind, resource=None) -> CalendarFeed:
    """The user's feed of a kind, as /account would create and show it."""
    for feed in feed_service.feeds_for(db.session, user=user, now=clock()):
        if feed.kind is kind and (resource is None or feed.resource_id == resource.id):
            return feed
    raise LookupError(f"{user.name} has no {kind} feed")


def path_of(app: Flask, feed: CalendarFeed) -> str:
    return f"/feeds/{tokens.token_for(feed, app.config['SECRET_KEY'])}.ics"


def feed_path(app: Flask, clock, user, kind: FeedKind, resource=None) -> str:
    return path_of(app, feed_of(clock, user, kind, resource))


def fetch(client, path: str, **headers) -> tuple[object, Ics]:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.data[:300]
    return response, strict_parse_feed(response.data)


def account_feeds(browser) -> dict[str, SimpleNamespace]:
    """What a member sees on /account: feed name -> (url, webcal link, feed id)."""
    response = browser.get("/account")
    assert response.status_code == 200
    html = page(response)
    found = {}
    for field_ in html.find_all("input", **{"class": "feed-url"}):
        assert "readonly" in field_.attrs
        feed_id = int(field_.attrs["id"].split("-")[1])
        name = html.by_id(f"feed-{feed_id}-name").text
        webcal = [a.attrs["href"] for a in html.find_all("a")
                  if (a.attrs.get("href") or "").startswith("webcal://")
                  and a.attrs["href"].split("://")[1] == field_.attrs["value"].split("://")[1]]
        found[name] = SimpleNamespace(url=field_.attrs["value"], webcal=webcal, id=feed_id)
    return found


def booking_by_uid(uid: str) -> Booking:
    """The booking as the database has it now (the test's transaction goes on)."""
    db.session.expire_all()
    return db.session.scalar(select(Booking).where(Booking.uid == uid))


def expected_rows(ics_uids: set[str]) -> dict[str, tuple]:
    """uid -> (start, end, sequence, status) from the database, for bookings and blocks."""
    db.session.expire_all()
    rows = {}
    for b in db.session.scalars(select(Booking)):
        status = {BookingStatus.CONFIRMED: "CONFIRMED", BookingStatus.HELD: "TENTATIVE"}.get(
            b.status, "CANCELLED")
        rows[b.uid] = (b.starts_at, b.ends_at, b.sequence, status)
    for block in db.session.scalars(select(Block)):
        rows[f"block-{block.id}"] = (block.starts_at, block.ends_at, 0, "CONFIRMED")
    return {uid: rows[uid] for uid in ics_uids}


def assert_agrees(parsed: list[dict], ics: Ics) -> None:
    """A parser's events equal the database rows and our own reading, to the second."""
    ours = {e["UID"]: e for e in ics.events}
    database = expected_rows(ics.uids())
    assert sorted(p["uid"] for p in parsed) == sorted(ours)
    for p in parsed:
        uid = p["uid"].removesuffix(UID_DOMAIN)
        start, end, sequence, status = database[uid]
        assert (p["start"], p["end"]) == (start, end), uid
        assert p["start"].utcoffset() == timedelta(0) and p["start"].microsecond == 0
        assert (p["sequence"], p["status"]) == (sequence, status), uid
        assert p["summary"] == ours[p["uid"]]["SUMMARY"], uid


# --- what each feed shows ------------------------------------------------------------------


def test_account_page_lists_the_feeds_a_user_may_have_with_webcal_links(app, world):
    mia = account_feeds(checking(browser(app, world.mia)))
    assert sorted(mia) == ["Schiller40 – AR/VR-Studio", "Schiller40 – meine Buchungen"]
    for row in mia.values():
        assert row.url.startswith("http://localhost/feeds/") and row.url.endswith(".ics")
        assert row.webcal == ["webcal://" + row.url.removeprefix("http://")]
    staff = account_feeds(checking(browser(app, world.staff)))
    assert sorted(staff) == [
        "Schiller40 – AR/VR-Studio", "Schiller40 – Besprechungsraum Aller",
        "Schiller40 – alle Buchungen", "Schiller40 – meine Buchungen",
    ]
    assert not set(r.url for r in staff.values()) & set(r.url for r in mia.values())
    # The public address is used when configured (behind the city's proxy).
    app.config["PUBLIC_URL"] = "https://buchen.schiller40.example"
    again = account_feeds(checking(browser(app, world.mia)))["Schiller40 – meine Buchungen"]
    assert again.url == mia["Schiller40 – meine Buchungen"].url.replace(
        "http://localhost", "https://buchen.schiller40.example")
    assert again.webcal == ["webcal://" + again.url.removeprefix("https://")]


def test_member_feed_shows_own_bookings_at_the_right_instants(app, client, world):
    url = account_feeds(checking(browser(app, world.mia)))["Schiller40 – meine Buchungen"].url
    response, ics = fetch(client, url)
    assert ics.calendar["NAME"] == "Schiller40 – meine Buchungen"
    inside = [label for label in MIA_STUDIO if label not in OUTSIDE]
    assert ics.uids() == world.ids(*inside, "mia-room-held")  # not Jonas's, not outside
    for label in inside:
        booking = booking_by_uid(world.bookings[label].uid)
        _, _, _, utc_start, utc_end = MIA_STUDIO[label]
        assert (booking.starts_at, booking.ends_at) == (utc_start, utc_end), label
        event = ics.event(booking.uid)
        assert (event.one("DTSTART").utc, event.one("DTEND").utc) == (utc_start, utc_end), label
        assert event["SUMMARY"] == "AR/VR-Studio – Schiller40"
        assert (event["STATUS"], event["SEQUENCE"]) == ("CONFIRMED", "0")
        assert event["URL"] == f"http://localhost/bookings/{booking.id}"
        assert event["LOCATION"] == "AR/VR-Studio, Markthalle, Schillerstraße 40, 38440 Wolfsburg"
    # The nights across the clock change last 4 and 2 real hours, not 3.
    night = ics.event(world.bookings["autumn-night"].uid)
    assert night.one("DTEND").utc - night.one("DTSTART").utc == timedelta(hours=4)
    night = ics.event(world.bookings["spring-night"].uid)
    assert night.one("DTEND").utc - night.one("DTSTART").utc == timedelta(hours=2)
    winter = ics.event(world.bookings["winter"].uid)
    assert winter["DESCRIPTION"] == (
        f"Buchung: http://localhost/bookings/{world.bookings['winter'].id}\n"
        "Kabel, Adapter; Stative\nBitte klingeln"  # escaped, and the control character gone
    )
    assert b"Jonas" not in response.data and b"jonas@" not in response.data


def test_an_unpaid_hold_is_tentative_and_says_so(app, client, clock, world):
    held = world.bookings["mia-room-held"]
    _, ics = fetch(client, feed_path(app, clock, world.mia, FeedKind.MEMBER))
    event = ics.event(held.uid)
    assert event["STATUS"] == "TENTATIVE" and event["TRANSP"] == "OPAQUE"
    assert event["SUMMARY"] == "Unbezahlt: Besprechungsraum Aller – Schiller40"
    assert "Reserviert bis zur Zahlung" in event["DESCRIPTION"]
    _, staff_view = fetch(client, feed_path(app, clock, world.staff, FeedKind.LOCATION))
    assert staff_view.event(held.uid)["STATUS"] == "TENTATIVE"
    assert staff_view.event(held.uid)["SUMMARY"] == "Besprechungsraum Aller: Mia Müller"
    # The hold runs out unpaid; the next booking transaction on the room expires it.
    clock.advance(timedelta(minutes=30))
    book(world.jonas, clock, resource_slug=world.room.slug, start=at(date(2026, 12, 17), 10),
         end=at(date(2026, 12, 17), 11))
    _, ics = fetch(client, feed_path(app, clock, world.mia, FeedKind.MEMBER))
    event = ics.event(held.uid)
    assert (event["STATUS"], event["SEQUENCE"]) == ("CANCELLED", "1")
    assert event["SUMMARY"].startswith("Storniert: ")


def test_a_lapsed_hold_is_one_change_shown_when_it_runs_out(app, client, clock, world):
    """Issue 17: the feed showed the lapse with the old SEQUENCE and LAST-MODIFIED, and the
    worker raised SEQUENCE later, when nothing visible changed. The lapse is one change, at
    the hold's expiry; the worker writing it changes nothing a calendar sees."""
    from schiller40.worker import jobs

    held = world.bookings["mia-room-held"]
    expiry = held.hold_expires_at
    path = feed_path(app, clock, world.mia, FeedKind.MEMBER)
    event = fetch(client, path)[1].event(held.uid)
    assert (event["STATUS"], event["SEQUENCE"]) == ("TENTATIVE", "0")

    clock.set(expiry + timedelta(minutes=1))  # ran out; nothing has written that yet
    response, ics = fetch(client, path)
    lapsed = ics.event(held.uid)
    assert booking_by_uid(held.uid).status is BookingStatus.HELD
    assert (lapsed["STATUS"], lapsed["SEQUENCE"]) == ("CANCELLED", "1")
    assert lapsed["LAST-MODIFIED"] == lapsed["DTSTAMP"] == render._utc(expiry)
    assert parsedate_to_datetime(response.headers["Last-Modified"]) == expiry.replace(
        microsecond=0)

    clock.advance(timedelta(minutes=9))
    assert jobs.expire_holds(db.session, jobs.context(clock())) == 1
    written = booking_by_uid(held.uid)
    assert (written.status, written.sequence) == (BookingStatus.EXPIRED, 1)
    assert written.updated_at == expiry
    again, ics = fetch(client, path)
    def content(event):
        return [(prop.name, prop.params, prop.value) for prop in event.props]

    assert content(ics.event(held.uid)) == content(lapsed)  # the very same event
    assert again.headers["Last-Modified"] == response.headers["Last-Modified"]


@pytest.mark.parametrize(
    ("locale", "booked", "name", "cancelled"),
    [("de", "Gebucht – AR/VR-Studio", "Schiller40 – AR/VR-Studio", "Storniert: "),
     ("en", "Booked – AR/VR-Studio", "Schiller40 – AR/VR-Studio", "Cancelled: ")],
)
def test_resource_feed_for_a_member_shows_others_only_as_booked(
    app, client, clock, world, locale, booked, name, cancelled
):
    world.mia.locale = locale
    db.session.commit()
    response, ics = fetch(client, feed_path(app, clock, world.mia, FeedKind.RESOURCE,
                                             world.studio))
    assert ics.calendar["NAME"] == name
    others = ics.event(world.bookings["jonas-studio"].uid)
    assert others["SUMMARY"] == booked
    assert others.get("DESCRIPTION") is None and others.get("URL") is None
    assert (others.one("DTSTART").utc, others.one("DTEND").utc) == (
        z("2026-12-16 13:00"), z("2026-12-16 15:00"))
    mine = ics.event(world.bookings["summer"].uid)
    assert mine["SUMMARY"] == "AR/VR-Studio – Schiller40"
    # No name, e-mail or note of anyone else, and no blocks (staff only) in a member's view.
    for secret in (b"Jonas", b"Wei\xc3\x9f", b"jonas@", b"Wartung", b"Heiligabend"):
        assert secret not in response.data
    assert world.bookings["mia-room-held"].uid not in ics.uids()  # another resource
    cancel(db.session, actor=world.jonas,
           booking_id=world.bookings["jonas-studio"].id, now=clock())
    _, ics = fetch(client, feed_path(app, clock, world.mia, FeedKind.RESOURCE, world.studio))
    assert ics.event(world.bookings["jonas-studio"].uid)["SUMMARY"] == cancelled + booked


def test_resource_and_location_feeds_for_staff_show_names_and_blocks(app, client, clock, world):
    block_uid = {b.reason: f"block-{b.id}" for b in db.session.scalars(select(Block))}
    studio_block = block_uid["Wartung: Linsen, Sensoren; Kalibrierung"]
    closure = block_uid["Heiligabend"]

    _, studio = fetch(client, feed_path(app, clock, world.staff, FeedKind.RESOURCE,
                                        world.studio))
    jonas = studio.event(world.bookings["jonas-studio"].uid)
    assert jonas["SUMMARY"] == "AR/VR-Studio: Jonas Weiß"
    assert "Jonas Weiß <jonas@example.org>" in jonas["DESCRIPTION"]
    assert studio.event(studio_block)["SUMMARY"] == (
        "Gesperrt: AR/VR-Studio (Wartung: Linsen, Sensoren; Kalibrierung)")
    shut = studio.event(closure)
    assert shut["SUMMARY"] == "Gesperrt: Markthalle (Heiligabend)"
    assert (shut.one("DTSTART").utc, shut.one("DTEND").utc) == (z("2026-12-24 06:00"),
                                                                z("2026-12-24 21:00"))
    assert world.bookings["jonas-room"].uid not in studio.uids()

    # The room's feed: its own bookings and the location-wide closure, not the studio's block.
    _, room = fetch(client, feed_path(app, clock, world.staff, FeedKind.RESOURCE, world.room))
    assert room.uids() == world.ids("jonas-room", "mia-room-held") | {closure}

    _, everything = fetch(client, feed_path(app, clock, world.staff, FeedKind.LOCATION))
    assert everything.calendar["NAME"] == "Schiller40 – alle Buchungen"
    inside = [label for label in world.bookings if label not in OUTSIDE]
    assert everything.uids() == world.ids(*inside) | {studio_block, closure}
    block = everything.event(studio_block)
    assert (block["STATUS"], block["TRANSP"], block["SEQUENCE"]) == ("CONFIRMED", "OPAQUE", "0")


def test_the_window_is_30_days_back_to_365_ahead_and_moves_daily(app, client, clock, world):
    path = feed_path(app, clock, world.mia, FeedKind.MEMBER)
    response, ics = fetch(client, path)
    assert not ics.uids() & world.ids(*OUTSIDE)
    assert world.ids("autumn-eve", "summer") <= ics.uids()
    # One day later the window starts at 2026-10-25 00:00 UTC: the Saturday before the
    # clock change leaves, and so does the night booked from 01:00 local on the Sunday,
    # which began at 23:00 UTC on the Saturday. Sunday 10:00 stays.
    clock.advance(timedelta(days=1))
    later, ics = fetch(client, path, **{"If-None-Match": response.headers["ETag"]})
    assert later.headers["ETag"] != response.headers["ETag"]
    assert parsedate_to_datetime(later.headers["Last-Modified"]) == z("2026-11-24 00:00")
    assert not ics.uids() & world.ids("autumn-eve", "autumn-night")
    assert world.ids("autumn-change", "autumn-after") <= ics.uids()
    clock.advance(timedelta(days=1))
    _, ics = fetch(client, path)
    assert not ics.uids() & world.ids("autumn-change")
    assert world.ids("autumn-after") <= ics.uids()


def test_a_member_has_no_feed_of_a_resource_not_shared_with_members(app, client, clock, world):
    scopes = {f.scope for f in feed_service.feeds_for(db.session, user=world.mia, now=clock())}
    assert scopes == {"member", f"resource:{world.studio.id}"}
    studio_path = feed_path(app, clock, world.mia, FeedKind.RESOURCE, world.studio)
    fetch(client, studio_path)
    # Staff stop sharing the studio's calendar: the once-valid URL answers 404 at once.
    world.studio.feed_for_members = False
    db.session.commit()
    gone = client.get(studio_path)
    assert (gone.status_code, gone.data, gone.mimetype) == (404, b"Not found\n", "text/plain")
    secret = app.config["SECRET_KEY"]
    assert feed_service.resolve(db.session, studio_path[7:-4], secret_key=secret) is None
    assert "Schiller40 – AR/VR-Studio" not in account_feeds(checking(browser(app, world.mia)))
    # Staff still have theirs.
    fetch(client, feed_path(app, clock, world.staff, FeedKind.RESOURCE, world.studio))


def test_staff_feeds_die_with_the_staff_role_and_all_feeds_with_the_account(
    app, client, clock, world
):
    location = feed_path(app, clock, world.staff, FeedKind.LOCATION)
    room = feed_path(app, clock, world.staff, FeedKind.RESOURCE, world.room)
    member = feed_path(app, clock, world.staff, FeedKind.MEMBER)
    mia = feed_path(app, clock, world.mia, FeedKind.MEMBER)
    for path in (location, room, member, mia):
        fetch(client, path)
    world.staff.role = Role.MEMBER
    db.session.commit()
    assert client.get(location).status_code == 404
    assert client.get(room).status_code == 404  # not shared with members
    _, own = fetch(client, member)
    assert own.events == []
    world.mia.is_active_account = False
    db.session.commit()
    assert client.get(mia).status_code == 404


# --- changes -------------------------------------------------------------------------------


def test_reschedule_keeps_the_uid_and_raises_sequence_and_last_modified(
    app, client, clock, world
):
    path = feed_path(app, clock, world.mia, FeedKind.MEMBER)
    first, ics = fetch(client, path)
    uid = world.bookings["spring-eve"].uid
    before = ics.event(uid)
    assert before["LAST-MODIFIED"] == "20261123T080000Z"
    clock.advance(timedelta(hours=3, minutes=7, seconds=11))
    # Saturday 10:00 winter time -> Sunday 14:00 summer time, across the clock change.
    reschedule(
        db.session, actor=world.mia, booking_id=world.bookings["spring-eve"].id,
        start=at(date(2027, 3, 28), 14), end=at(date(2027, 3, 28), 16), now=clock(),
    )
    second, ics = fetch(client, path, **{"If-None-Match": first.headers["ETag"]})
    assert second.headers["ETag"] != first.headers["ETag"]
    after = ics.event(uid)
    assert after["UID"] == before["UID"]
    assert (before["SEQUENCE"], after["SEQUENCE"]) == ("0", "1")
    assert after.one("LAST-MODIFIED").utc == clock() == z("2026-11-23 11:07:11")
    assert after["DTSTAMP"] == after["LAST-MODIFIED"]
    assert after["CREATED"] == before["CREATED"]
    assert (after.one("DTSTART").utc, after.one("DTEND").utc) == (
        z("2027-03-28 12:00"), z("2027-03-28 14:00"))
    assert booking_by_uid(uid).starts_at == z("2027-03-28 12:00")
    assert [e["UID"] for e in ics.events].count(after["UID"]) == 1  # moved, not copied


def test_a_cancelled_booking_stays_30_days_as_cancelled_then_leaves(app, client, clock, world):
    path = feed_path(app, clock, world.mia, FeedKind.MEMBER)
    summer = world.bookings["summer"]
    clock.advance(timedelta(minutes=5))
    cancel(db.session, actor=world.mia, booking_id=summer.id, now=clock())
    _, ics = fetch(client, path)
    event = ics.event(summer.uid)
    assert (event["STATUS"], event["SEQUENCE"], event["TRANSP"]) == ("CANCELLED", "1",
                                                                      "TRANSPARENT")
    assert event["SUMMARY"] == "Storniert: AR/VR-Studio – Schiller40"
    assert event.one("LAST-MODIFIED").utc == clock()
    assert (event.one("DTSTART").utc, event.one("DTEND").utc) == (z("2027-07-14 08:00"),
                                                                  z("2027-07-14 10:00"))
    clock.advance(timedelta(days=30))
    _, ics = fetch(client, path)
    assert ics.event(summer.uid)["STATUS"] == "CANCELLED"
    clock.advance(timedelta(days=1))
    _, ics = fetch(client, path)
    assert summer.uid not in ics.uids()
    assert world.bookings["spring-change"].uid in ics.uids()


# --- the secret URL ------------------------------------------------------------------------


def test_rotate_and_revoke_through_the_account_page(app, client, clock, world):
    mia_browser = checking(browser(app, world.mia))
    before = account_feeds(mia_browser)["Schiller40 – meine Buchungen"]
    fetch(client, before.url)
    jonas_path = feed_path(app, clock, world.jonas, FeedKind.MEMBER)
    jonas_feed = feed_of(clock, world.jonas, FeedKind.MEMBER)

    done = mia_browser.post(f"/account/feeds/{before.id}/rotate")
    assert done.status_code == 302 and done.headers["Location"].endswith("/account#feeds")
    after = account_feeds(mia_browser)["Schiller40 – meine Buchungen"]
    assert after.id == before.id and after.url != before.url
    assert client.get(before.url).status_code == 404
    fetch(client, after.url)

    done = mia_browser.post(f"/account/feeds/{after.id}/revoke")
    assert done.status_code == 302
    gone = client.get(after.url)
    assert (gone.status_code, gone.data, gone.mimetype) == (404, b"Not found\n", "text/plain")
    html = page(mia_browser.get("/account"))
    assert html.by_id(f"feed-{after.id}-url") is None  # no address shown while switched off

    # Rotating switches it on again, with a new address.
    mia_browser.post(f"/account/feeds/{after.id}/rotate")
    again = account_feeds(mia_browser)["Schiller40 – meine Buchungen"]
    assert again.url not in (before.url, after.url)
    fetch(client, again.url)

    # Someone else's feed, or none at all: 404, and Jonas's address keeps working.
    for action in ("rotate", "revoke"):
        assert mia_browser.post(f"/account/feeds/{jonas_feed.id}/{action}").status_code == 404
        assert mia_browser.post(f"/account/feeds/999999/{action}").status_code == 404
    fetch(client, jonas_path)
    # Not logged in: to the log-in page, nothing changes.
    anonymous = client.post(f"/account/feeds/{jonas_feed.id}/revoke")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    fetch(client, jonas_path)


def test_malformed_and_wrong_tokens_answer_a_plain_404(app, client, clock, world):
    path = feed_path(app, clock, world.mia, FeedKind.MEMBER)
    token = path.removeprefix("/feeds/").removesuffix(".ics")
    feed_id, mac = token.split(".")
    other = feed_of(clock, world.jonas, FeedKind.MEMBER)
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    reaching_the_view = [
        "x", "1", f"{feed_id}.", f"{feed_id}.{mac[:-1]}", f"{feed_id}.{mac}A",
        f"{feed_id}.{mac}=", f"0{feed_id}.{mac}", f"-{feed_id}.{mac}", f"{feed_id}.{flipped}",
        f"{other.id}.{mac}", f"{feed_id}.{mac.upper()}", f"{feed_id}..{mac}",
        # Ids beyond a 32-bit integer used to be a 500 on PostgreSQL ("integer out of range").
        f"2147483648.{mac}", f"999999999999999999.{mac}", f"{'9' * 40}.{mac}",
        f"{feed_id}.{mac} ", "ä" * 10, f"{feed_id}.{'_' * 43}",
    ]
    for bad in reaching_the_view:
        response = client.get(f"/feeds/{bad}.ics")
        assert response.status_code == 404, bad
        assert (response.data, response.mimetype) == (b"Not found\n", "text/plain"), bad
    for bad in (f"{token}.ICS", f"{token}", f"{feed_id}/{mac}.ics", f"{token}.ics/x"):
        assert client.get(f"/feeds/{bad}").status_code == 404, bad
    fetch(client, path)  # the right one still works


# --- HTTP ----------------------------------------------------------------------------------


def test_headers_and_conditional_requests(app, client, clock, world, monkeypatch):
    path = feed_path(app, clock, world.mia, FeedKind.MEMBER)
    response, ics = fetch(client, path)
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
    last_modified = parsedate_to_datetime(response.headers["Last-Modified"])
    assert last_modified == DEFAULT_NOW  # Mia's newest change (rotated_at is the same)
    assert response.cache_control.private and response.cache_control.max_age == 3600
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert fetch(client, path)[0].headers["ETag"] == etag  # stable while nothing changes

    # An unchanged feed costs no rendering and no event loading: break both to prove it.
    def unused(*args, **kwargs):
        raise AssertionError("rendered for a conditional request that matched")

    with monkeypatch.context() as patch:
        patch.setattr(render, "calendar", unused)
        patch.setattr("schiller40.feeds.queries.events", unused)
        for headers in ({"If-None-Match": etag}, {"If-None-Match": f"W/{etag}"},
                        {"If-None-Match": f'"nope", {etag}'},
                        {"If-Modified-Since": response.headers["Last-Modified"]},
                        {"If-Modified-Since": format_datetime(clock() + timedelta(hours=1),
                                                              usegmt=True)}):
            not_modified = client.get(path, headers=headers)
            assert not_modified.status_code == 304, headers
            assert not_modified.data == b""
            assert not_modified.headers["ETag"] == etag
            assert not_modified.cache_control.max_age == 3600
    older = format_datetime(last_modified - timedelta(seconds=1), usegmt=True)
    assert client.get(path, headers={"If-Modified-Since": older}).status_code == 200
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200

    head = client.head(path)
    assert head.status_code == 200 and head.data == b""
    assert head.headers["ETag"] == etag
    assert head.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert head.headers["Last-Modified"] == response.headers["Last-Modified"]

    # A change: a new booking a minute later gives a new ETag and a later Last-Modified.
    clock.advance(timedelta(minutes=1, seconds=30))
    book(world.mia, clock, resource_slug=world.studio.slug, start=at(date(2027, 1, 12), 10),
         end=at(date(2027, 1, 12), 11))
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert parsedate_to_datetime(changed.headers["Last-Modified"]) == z("2026-11-23 08:01:30")
    since = client.get(path, headers={"If-Modified-Since": response.headers["Last-Modified"]})
    assert since.status_code == 200
    assert len(strict_parse_feed(changed.data).events) == len(ics.events) + 1
    # The language is part of the ETag: the same data in English is another document.
    world.mia.locale = "en"
    db.session.commit()
    english = client.get(path, headers={"If-None-Match": changed.headers["ETag"]})
    assert english.status_code == 200
    assert strict_parse_feed(english.data).calendar["NAME"] == "Schiller40 – my bookings"


def test_single_booking_download_and_detail_page(app, client, world):
    mia = checking(browser(app, world.mia))
    winter = world.bookings["winter"]
    response = mia.get(f"/bookings/{winter.id}.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="schiller40-booking-{winter.id}.ics"')
    assert response.cache_control.no_store
    ics = strict_parse_feed(response.data)
    (event,) = ics.events
    assert event["UID"] == winter.uid + UID_DOMAIN  # the same event as in the feed
    assert (event.one("DTSTART").utc, event.one("DTEND").utc) == (z("2026-12-15 09:00"),
                                                                  z("2026-12-15 11:00"))
    assert ics.calendar["NAME"] == event["SUMMARY"] == "AR/VR-Studio – Schiller40"
    detail = mia.get(f"/bookings/{winter.id}")
    assert detail.status_code == 200
    assert page(detail).find_all("a", href=f"/bookings/{winter.id}.ics")

    others = world.bookings["jonas-studio"]
    assert mia.get(f"/bookings/{others.id}.ics").status_code == 404
    assert mia.get(f"/bookings/{others.id}").status_code == 404
    assert mia.get("/bookings/999999.ics").status_code == 404
    anonymous = client.get(f"/bookings/{winter.id}.ics")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    staff = checking(browser(app, world.staff)).get(f"/bookings/{others.id}.ics")
    assert strict_parse_feed(staff.data).events[0]["SUMMARY"] == "AR/VR-Studio: Jonas Weiß"


# --- independent parsers -------------------------------------------------------------------


def _feeds_to_compare(app, client, clock, world) -> list[tuple[str, bytes, Ics]]:
    """Member, member's resource view, and the staff location feed, after a reschedule and a
    cancellation, so SEQUENCE and STATUS vary."""
    reschedule(  # Saturday in winter time to Sunday in summer time
        db.session, actor=world.mia, booking_id=world.bookings["spring-eve"].id,
        start=at(date(2027, 3, 28), 15), end=at(date(2027, 3, 28), 17), now=clock(),
    )
    cancel(db.session, actor=world.mia,
           booking_id=world.bookings["winter"].id, now=clock())
    result = []
    for name, path in (
        ("member", feed_path(app, clock, world.mia, FeedKind.MEMBER)),
        ("resource", feed_path(app, clock, world.mia, FeedKind.RESOURCE, world.studio)),
        ("location", feed_path(app, clock, world.staff, FeedKind.LOCATION)),
    ):
        response, ics = fetch(client, path)
        result.append((name, response.data, ics))
    location = result[-1][2]
    for label in ("autumn-night", "spring-night", "autumn-change", "spring-change", "summer",
                  "winter"):
        _, _, _, start, end = MIA_STUDIO[label]
        event = location.event(world.bookings[label].uid)
        assert (event.one("DTSTART").utc, event.one("DTEND").utc) == (start, end)
    moved = location.event(world.bookings["spring-eve"].uid)
    assert (moved.one("DTSTART").utc, moved["SEQUENCE"]) == (z("2027-03-28 13:00"), "1")
    assert location.event(world.bookings["winter"].uid)["STATUS"] == "CANCELLED"
    return result


def test_vobject_reads_every_event_like_the_database(app, client, clock, world):
    for name, body, ics in _feeds_to_compare(app, client, clock, world):
        calendars = list(vobject.readComponents(body.decode("utf-8"), validate=True))
        assert len(calendars) == 1, name
        parsed = []
        for vevent in getattr(calendars[0], "vevent_list", []):
            vevent.validate(raiseException=True)
            start, end = vevent.dtstart.value, vevent.dtend.value
            assert start.tzinfo is not None and end.tzinfo is not None, name
            parsed.append({
                "uid": vevent.uid.value, "start": start.astimezone(UTC),
                "end": end.astimezone(UTC), "sequence": int(vevent.sequence.value),
                "status": vevent.status.value, "summary": vevent.summary.value,
            })
        assert len(parsed) == len(ics.events) > 0, name
        assert_agrees(parsed, ics)


def test_the_icalendar_package_reads_every_event_like_the_database(app, client, clock, world):
    """A third parser: the app writes its feeds itself, so the icalendar package is independent
    of the writer (and the Python library most integrations would use to read our feeds)."""
    for name, body, ics in _feeds_to_compare(app, client, clock, world):
        calendar = icalendar.Calendar.from_ical(body)
        assert str(calendar["NAME"]) == ics.calendar["NAME"], name
        parsed = []
        for vevent in calendar.walk("VEVENT"):
            start, end = vevent["DTSTART"].dt, vevent["DTEND"].dt
            assert start.tzinfo is not None and end.tzinfo is not None, name
            parsed.append({
                "uid": str(vevent["UID"]), "start": start.astimezone(UTC),
                "end": end.astimezone(UTC), "sequence": int(vevent["SEQUENCE"]),
                "status": str(vevent["STATUS"]), "summary": str(vevent["SUMMARY"]),
            })
        assert len(parsed) == len(ics.events) > 0, name
        assert_agrees(parsed, ics)


def test_icaljs_reads_every_event_like_the_database(app, client, clock, world, icaljs):
    for name, body, ics in _feeds_to_compare(app, client, clock, world):
        result = icaljs(body)
        assert result["name"] == ics.calendar["NAME"] and result["method"] == "PUBLISH", name
        parsed = []
        for e in result["events"]:
            assert (e["start_zone"], e["end_zone"]) == ("UTC", "UTC"), e
            start = datetime.fromisoformat(e["start"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(e["end"].replace("Z", "+00:00"))
            assert e["duration_seconds"] == (end - start).total_seconds()
            parsed.append({**e, "start": start, "end": end})
        assert len(parsed) == len(ics.events) > 0, name
        assert_agrees(parsed, ics)
        by_uid = {e["uid"]: e for e in result["events"]}
        for event in ics.events:
            js = by_uid[event["UID"]]
            assert js["description"] == (event["DESCRIPTION"] if event.get("DESCRIPTION")
                                         else None)
            assert js["location"] == event["LOCATION"]
            assert js["last_modified"] == event.one("LAST-MODIFIED").utc.isoformat().replace(
                "+00:00", ".000Z")
