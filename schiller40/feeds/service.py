"""Feed use cases: make sure a user has the feeds they may have, rotate, revoke, resolve."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from ..accounts.models import User
from ..core import audit
from ..core.locking import lock_rows, write
from ..errors import NotFound
from ..resources.models import Location, Resource, ResourceKind
from . import tokens
from .models import CalendarFeed, FeedKind


def _wanted(session: Session, user: User) -> list[tuple[FeedKind, str, int | None, int | None]]:
    """(kind, scope, resource id, location id) of every feed this user may have."""
    wanted: list[tuple[FeedKind, str, int | None, int | None]] = [
        (FeedKind.MEMBER, "member", None, None)
    ]
    query = select(Resource.id).where(
        Resource.is_active.is_(True), Resource.kind.in_([ResourceKind.STUDIO, ResourceKind.ROOM])
    )
    if not user.is_staff:
        query = query.where(Resource.feed_for_members.is_(True))
    for rid in session.scalars(query.order_by(Resource.kind, Resource.position, Resource.id)):
        wanted.append((FeedKind.RESOURCE, f"resource:{rid}", rid, None))
    if user.is_staff:
        for lid in session.scalars(select(Location.id).order_by(Location.id)):
            wanted.append((FeedKind.LOCATION, f"location:{lid}", None, lid))
    return wanted


def feeds_for(session: Session, *, user: User, now: datetime) -> list[CalendarFeed]:
    """The user's feeds, creating those they may have but lack (a write, hence the lock)."""
    with write(session):
        user = session.merge(user)
        # Two first visits at once would both insert the missing feeds (a unique violation,
        # a 500) on PostgreSQL; the row lock makes the second wait and then find them.
        lock_rows(session, User, [user.id])
        wanted = _wanted(session, user)
        existing = {
            f.scope: f
            for f in session.scalars(
                select(CalendarFeed).where(CalendarFeed.owner_id == user.id)
            )
        }
        for kind, scope, resource_id, location_id in wanted:
            if scope not in existing:
                feed = CalendarFeed(
                    owner_id=user.id, kind=kind, scope=scope, resource_id=resource_id,
                    location_id=location_id, salt=tokens.new_salt(), created_at=now,
                    rotated_at=now,
                )
                session.add(feed)
                existing[scope] = feed
    allowed = [scope for _, scope, _, _ in wanted]
    rows = session.scalars(
        select(CalendarFeed)
        .where(CalendarFeed.owner_id == user.id, CalendarFeed.scope.in_(allowed))
        .options(selectinload(CalendarFeed.resource))
    ).all()
    order = {scope: i for i, scope in enumerate(allowed)}
    return sorted(rows, key=lambda f: order[f.scope])


def _load(session: Session, feed_id: int) -> CalendarFeed | None:
    """A feed with its owner and resource in the same statement: every feed request reads
    them (a polling client's 304 costs two statements in all, this one and the
    fingerprint)."""
    return session.get(CalendarFeed, feed_id, options=[
        joinedload(CalendarFeed.owner), joinedload(CalendarFeed.resource)])


def _own(session: Session, user: User, feed_id: int) -> CalendarFeed:
    feed = _load(session, feed_id)
    if feed is None or feed.owner_id != user.id:
        raise NotFound()
    return feed


def rotate(session: Session, *, user: User, feed_id: int, now: datetime) -> CalendarFeed:
    """A new secret URL; the old one answers 404 from now on (also re-enables a revoked feed)."""
    with write(session):
        feed = _own(session, user, feed_id)
        feed.salt = tokens.new_salt()
        feed.rotated_at = now
        feed.revoked_at = None
        audit.record(
            session, action="feed.rotated", now=now, actor_id=user.id,
            object_type="calendar_feed", object_id=feed.id,
        )
    return feed


def revoke(session: Session, *, user: User, feed_id: int, now: datetime) -> CalendarFeed:
    with write(session):
        feed = _own(session, user, feed_id)
        if feed.revoked_at is None:
            feed.revoked_at = now
            audit.record(
                session, action="feed.revoked", now=now, actor_id=user.id,
                object_type="calendar_feed", object_id=feed.id,
            )
    return feed


def resolve(session: Session, token: str, *, secret_key: str) -> CalendarFeed | None:
    """The active feed a URL token stands for, if its owner may still see it; else None."""
    parsed = tokens.parse(token)
    if parsed is None:
        return None
    feed_id, mac = parsed
    feed = _load(session, feed_id)
    if feed is None or not feed.is_active or not tokens.matches(feed, mac, secret_key):
        return None
    owner = feed.owner
    if not owner.is_active:
        return None
    if feed.kind is FeedKind.LOCATION and not owner.is_staff:
        return None
    if feed.kind is FeedKind.RESOURCE:
        resource = feed.resource
        if resource is None or not resource.is_active:
            return None
        if not owner.is_staff and not resource.feed_for_members:
            return None
    return feed
