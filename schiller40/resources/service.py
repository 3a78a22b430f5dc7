"""Resource administration use cases (the staff pages will call these too)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core import audit
from ..core.locking import begin_write
from ..errors import NotFound
from .models import Resource, ResourceKind

FEED_KINDS = (ResourceKind.STUDIO, ResourceKind.ROOM)


def set_feed_for_members(
    session: Session, *, slug: str, allowed: bool, now: datetime, actor_id: int | None = None
) -> Resource:
    """Let members subscribe to a studio's or room's calendar (others shown as "booked")."""
    begin_write(session)
    resource = session.scalar(select(Resource).where(Resource.slug == slug))
    if resource is None or resource.kind not in FEED_KINDS:
        raise NotFound(f"There is no studio or room {slug!r}.")
    if resource.feed_for_members != allowed:
        resource.feed_for_members = allowed
        audit.record(
            session, action="resource.feed_for_members_changed", now=now, actor_id=actor_id,
            object_type="resource", object_id=resource.id, details={"allowed": allowed},
        )
    session.commit()
    return resource


def set_requires_approval(
    session: Session, *, slug: str, required: bool, now: datetime, actor_id: int | None = None
) -> Resource:
    """Make staff approve each paid booking of a resource (the card is authorised first and
    charged on approval). Bookings already made keep how they were paid."""
    begin_write(session)
    resource = session.scalar(select(Resource).where(Resource.slug == slug))
    if resource is None:
        raise NotFound(f"There is no resource {slug!r}.")
    if resource.requires_approval != required:
        resource.requires_approval = required
        audit.record(
            session, action="resource.requires_approval_changed", now=now, actor_id=actor_id,
            object_type="resource", object_id=resource.id, details={"required": required},
        )
    session.commit()
    return resource
