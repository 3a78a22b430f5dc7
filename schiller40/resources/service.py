"""Resource administration use cases (the staff pages will call these too)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core import audit
from ..core.locking import write
from ..errors import NotFound
from .models import Resource, ResourceKind

FEED_KINDS = (ResourceKind.STUDIO, ResourceKind.ROOM)


def _switch(
    session: Session, *, slug: str, field: str, value: bool, action: str, detail: str,
    now: datetime, actor_id: int | None, kinds: tuple[ResourceKind, ...] | None = None,
    missing: str,
) -> Resource:
    """Set one on/off setting of a resource, audited only when it really changes."""
    with write(session):
        resource = session.scalar(select(Resource).where(Resource.slug == slug))
        if resource is None or (kinds is not None and resource.kind not in kinds):
            raise NotFound(missing)
        if getattr(resource, field) != value:
            setattr(resource, field, value)
            audit.record(
                session, action=action, now=now, actor_id=actor_id,
                object_type="resource", object_id=resource.id, details={detail: value},
            )
    return resource


def set_feed_for_members(
    session: Session, *, slug: str, allowed: bool, now: datetime, actor_id: int | None = None
) -> Resource:
    """Let members subscribe to a studio's or room's calendar (others shown as "booked")."""
    return _switch(
        session, slug=slug, field="feed_for_members", value=allowed,
        action="resource.feed_for_members_changed", detail="allowed", now=now,
        actor_id=actor_id, kinds=FEED_KINDS, missing=f"There is no studio or room {slug!r}.",
    )


def set_requires_approval(
    session: Session, *, slug: str, required: bool, now: datetime, actor_id: int | None = None
) -> Resource:
    """Make staff approve each paid booking of a resource (the card is authorised first and
    charged on approval). Bookings already made keep how they were paid."""
    return _switch(
        session, slug=slug, field="requires_approval", value=required,
        action="resource.requires_approval_changed", detail="required", now=now,
        actor_id=actor_id, missing=f"There is no resource {slug!r}.",
    )
