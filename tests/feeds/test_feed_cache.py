"""Rendered member feeds kept in memory (schiller40/feeds/cache.py), on both databases.

A kept body is only worth having if it is never stale: every change a feed shows must give
it a new fingerprint, and so a new key. Each change below is made at the very instant of the
feed's newest booking (the frozen clock), where "the newest change" alone sees nothing, and
the body after it must equal one rendered from scratch.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from schiller40.booking.cancel import cancel
from schiller40.core.bytecache import ByteCache
from schiller40.extensions import db
from schiller40.feeds import cache, queries
from schiller40.feeds.models import FeedKind
from schiller40.payments.models import PaymentStatus
from schiller40.resources.models import Resource

from ..helpers import at, book
from ..statements import statements
from . import test_feeds
from .test_feeds import feed_path, fetch

world = test_feeds.world  # the fixture: the same picture of a location as the feed tests


def uncached(client, path: str) -> bytes:
    """The body rendered from scratch: the same request with the worker's copies dropped."""
    kept = cache.bodies()
    saved = dict(kept._entries), kept.size
    kept._entries.clear()
    kept.size = 0
    try:
        response, _ = fetch(client, path)
        return response.data
    finally:
        kept._entries.clear()
        kept._entries.update(saved[0])
        kept.size = saved[1]


def test_a_member_feed_is_rendered_once_and_then_sent_from_memory(app, client, clock, world):
    path = feed_path(app, clock, world.mia, FeedKind.MEMBER)
    kept = cache.bodies()
    with statements() as first_sql:
        first, _ = fetch(client, path)
    with statements() as second_sql:
        second, _ = fetch(client, path)
    assert second.data == first.data and second.headers["ETag"] == first.headers["ETag"]
    assert (kept.misses, kept.hits, len(kept)) == (1, 1, 1)
    # The feed and its fingerprint are read again; the bookings are not.
    assert len(second_sql) == len(first_sql) - 1
    assert not any("ORDER BY booking.starts_at" in s for s in second_sql)
    # A conditional request is still answered 304 before any body is looked at.
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and kept.hits == 1


def _cancel_jonas(world, clock):
    cancel(db.session, actor=world.jonas,
           booking_id=world.bookings["jonas-studio"].id, now=clock())


def _cancel_mia(world, clock):
    cancel(db.session, actor=world.mia,
           booking_id=world.bookings["winter"].id, now=clock())


def _book_for_mia(world, clock):
    book(world.mia, clock, resource_slug=world.studio.slug, start=at(date(2026, 12, 22), 10),
         end=at(date(2026, 12, 22), 12))


def _rename_studio(world, clock):
    world.studio.name = "XR-Studio"
    db.session.commit()


def _move_location(world, clock):
    world.location.street = "Porschestraße 1"
    db.session.commit()


def _hold_runs_out(world, clock):
    clock.advance(timedelta(minutes=31))


def _payment_processing(world, clock):
    """What payments.apply does for a slow payment method, stamped at the feed's
    newest instant (as when its `now` was taken before another change committed)."""
    held = world.bookings["mia-room-held"]
    db.session.refresh(held)
    held.payment.status = PaymentStatus.PROCESSING
    held.payment.updated_at = clock()
    held.updated_at = clock()
    db.session.commit()


def _note_stamped_earlier(world, clock):
    """A change stamped before the feed's newest one (its transaction took its time):
    neither the newest change nor any count moves."""
    booking = world.bookings["autumn-change"]  # stamped weeks before the newest
    db.session.refresh(booking)
    booking.note = "Bitte Stative mitbringen"
    booking.updated_at = booking.updated_at + timedelta(microseconds=1)
    db.session.commit()


def _mia_speaks_english(world, clock):
    world.mia.locale = "en"
    db.session.commit()


CHANGES = {
    "mia cancels": (FeedKind.MEMBER, _cancel_mia, b"Storniert: AR/VR-Studio"),
    "mia books": (FeedKind.MEMBER, _book_for_mia, b"DTSTART:20261222T090000Z"),
    "studio renamed": (FeedKind.MEMBER, _rename_studio, b"XR-Studio"),
    "location moved": (FeedKind.MEMBER, _move_location, b"Porschestra"),
    "hold runs out": (FeedKind.MEMBER, _hold_runs_out, b"Storniert: Besprechungsraum Aller"),
    "language": (FeedKind.MEMBER, _mia_speaks_english, b"Unpaid: "),
    "payment processing": (FeedKind.MEMBER, _payment_processing,
                           b"Zahlung in Bearbeitung: "),
    "note stamped earlier": (FeedKind.MEMBER, _note_stamped_earlier, b"Stative mitbringen"),
    "jonas cancels (studio feed)": (FeedKind.RESOURCE, _cancel_jonas,
                                    b"Storniert: Gebucht"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_change_a_feed_shows_gives_it_a_new_body(app, client, clock, world, change):
    kind, make, shown = CHANGES[change]
    path = feed_path(app, clock, world.mia, kind, world.studio if kind is FeedKind.RESOURCE
                     else None)
    before, _ = fetch(client, path)
    assert fetch(client, path)[0].data == before.data  # kept
    assert shown not in before.data
    make(world, clock)
    after, _ = fetch(client, path)
    assert after.headers["ETag"] != before.headers["ETag"]
    assert shown in after.data.replace(b"\r\n ", b"")  # unfolded
    assert after.data == uncached(client, path)


def test_the_fingerprint_and_the_events_come_from_one_snapshot(app, client, clock, world,
                                                               monkeypatch):
    """A rename committed by someone else between the fingerprint and the events must not
    end up in a body kept under the fingerprint of the state before it: once the name is
    changed back, that fingerprint comes back, and its body must be the one it stands for."""
    path = feed_path(app, clock, world.mia, FeedKind.MEMBER)
    studio_id = world.studio.id
    original, _ = fetch(client, path)
    cache.bodies()._entries.clear()
    events = queries.events

    def renamed_meanwhile(session, *args, **kw):
        monkeypatch.setattr(queries, "events", events)  # once
        with Session(db.engine) as other:
            other.get(Resource, studio_id).name = "XR-Studio"
            other.commit()
        return events(session, *args, **kw)

    monkeypatch.setattr(queries, "events", renamed_meanwhile)
    during, _ = fetch(client, path)
    assert during.data == original.data  # the state before the rename, whole
    assert b"XR-Studio" in fetch(client, path)[0].data.replace(b"\r\n ", b"")
    with Session(db.engine) as other:
        other.get(Resource, studio_id).name = "AR/VR-Studio"
        other.commit()
    assert fetch(client, path)[0].data == original.data


def test_staff_feeds_are_rendered_every_time(app, client, clock, world):
    """They name other members, and a renamed member changes no booking row."""
    path = feed_path(app, clock, world.staff, FeedKind.LOCATION)
    first, _ = fetch(client, path)
    assert b"Jonas Wei" in first.data
    world.jonas.name = "Jonas Neumann"
    db.session.commit()
    second, _ = fetch(client, path)
    assert b"Jonas Neumann" in second.data.replace(b"\r\n ", b"")
    assert len(cache.bodies()) == 0


@pytest.mark.parametrize("app_config", [{"FEED_CACHE_MB": 0}], ids=["no-cache"])
def test_with_the_cache_turned_off_every_fetch_renders(app, client, clock, world):
    assert cache.bodies() is None
    path = feed_path(app, clock, world.mia, FeedKind.MEMBER)
    first, _ = fetch(client, path)
    with statements() as sql:
        second, _ = fetch(client, path)
    assert second.data == first.data
    assert any("ORDER BY booking.starts_at" in s for s in sql)


# --- the cache itself ------------------------------------------------------------------------


def test_the_least_recently_used_bodies_go_first_when_the_bytes_run_out():
    kept = ByteCache(max_bytes=10)
    kept.put("a", b"aaaa")
    kept.put("b", b"bbbb")
    assert kept.get("a") == b"aaaa"  # now b is the oldest
    kept.put("c", b"cccc")
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == (b"aaaa", None, b"cccc")
    assert kept.size == 8
    kept.put("a", b"aa")  # replaced, not counted twice
    assert kept.size == 6 and len(kept) == 2


def test_a_body_larger_than_the_whole_cache_is_not_kept():
    kept = ByteCache(max_bytes=10)
    kept.put("small", b"123")
    kept.put("huge", b"x" * 11)
    assert kept.get("huge") is None and kept.get("small") == b"123"


def test_a_response_cut_short_keeps_nothing():
    kept = ByteCache(max_bytes=100)
    pieces = kept.filling("feed", iter([b"BEGIN", b"EVENT", b"END"]))
    assert next(pieces) == b"BEGIN"
    pieces.close()  # the client went away
    assert kept.get("feed") is None
    assert b"".join(kept.filling("feed", [b"BEGIN", b"END"])) == b"BEGINEND"
    assert kept.get("feed") == b"BEGINEND"
