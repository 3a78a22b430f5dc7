"""Blocks: staff take a resource, or the whole location, out of service for a while.

A block is written like a booking: under the write lock and the resource row locks, after
stale holds have expired, so no booking can slip into the range between the check and the
insert. A block never silently overrides a member's booking: if active bookings overlap it,
``create_block`` refuses (409, naming them) unless staff chose to cancel them, and then each
is cancelled with a full refund through `payments.cancellation`, which sends the refund to the
gateway after its own commit (as the cancel page does).

The block is committed before the bookings are cancelled: from that moment nobody can book
into the range, and each cancellation is its own locked transaction (a cancellation that
fails, because the member cancelled meanwhile, does not undo the block).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from ..accounts.models import User
from ..booking.locks import expire_stale
from ..booking.models import ACTIVE_STATUSES, Booking
from ..booking.offers import offer_freed
from ..booking.rules import Interval
from ..booking.settings import BookingSettings
from ..core import audit
from ..core.locking import end_read, lock_rows, write
from ..errors import Conflict, DomainError, InvalidInput, NotFound
from ..payments.cancellation import cancel_booking
from ..payments.gateway import PaymentGateway
from ..resources.models import Block, BlockKind, Location, Resource

MAX_REASON = 200
# A block longer than this is almost certainly a typing mistake (a wrong year); a location
# that closes for good is deactivated, not blocked.
MAX_LENGTH = timedelta(days=366)


class BlockConflict(Conflict):
    """Active bookings overlap the block; ``extra["bookings"]`` lists them."""

    code = "block_conflict"
    default_message = _l(
        "Bookings overlap this time. Cancel them (with a full refund) or choose another time."
    )

    def __init__(self, bookings: list[Booking]) -> None:
        self.bookings = bookings
        super().__init__(
            extra={
                "bookings": [
                    {
                        "id": b.id,
                        "resource": b.resource.slug,
                        "start": b.starts_at.isoformat(),
                        "end": b.ends_at.isoformat(),
                        "user_id": b.user_id,
                    }
                    for b in bookings
                ]
            }
        )


@dataclass
class BlockOutcome:
    block: Block
    # Bookings cancelled because staff chose to (ids), and those that could not be (already
    # cancelled by the member meanwhile, for instance).
    cancelled: list[int] = field(default_factory=list)
    refunded_cents: int = 0
    skipped: list[int] = field(default_factory=list)


def _validate(
    *, kind: BlockKind | str, start: datetime, end: datetime, reason: str, now: datetime
) -> tuple[BlockKind, str]:
    fields: dict[str, list[str]] = {}
    try:
        chosen = BlockKind(kind)
    except ValueError:
        fields["kind"] = [str(_l("Please choose a kind of block."))]
        chosen = BlockKind.MAINTENANCE
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("create_block needs aware datetimes")
    if end <= start:
        fields["end"] = [str(_l("The end must be after the start."))]
    elif end - start > MAX_LENGTH:
        fields["end"] = [str(_l("A block may last one year at most."))]
    elif end <= now:
        fields["end"] = [str(_l("This time is already over."))]
    text = (reason or "").strip()
    if not text:
        fields["reason"] = [str(_l("Please give a reason."))]
    elif len(text) > MAX_REASON:
        fields["reason"] = [str(_l("The reason is too long (200 characters at most)."))]
    elif "\x00" in text:
        fields["reason"] = [str(_l("This field contains a character that is not allowed."))]
    if fields:
        raise InvalidInput(fields=fields)
    return chosen, text


def _target(
    session: Session, resource_id: int | None, location_id: int | None
) -> tuple[Location, list[Resource], Resource | None]:
    """The location, the resources the block covers, and the one resource (None: all)."""
    if resource_id is not None:
        resource = session.get(Resource, resource_id)
        if resource is None:
            raise NotFound()
        return resource.location, [resource], resource
    if location_id is None:
        raise InvalidInput(fields={"resource": [str(_l("Please choose what to block."))]})
    location = session.get(Location, location_id)
    if location is None:
        raise NotFound()
    resources = list(
        session.scalars(select(Resource).where(Resource.location_id == location.id))
    )
    return location, resources, None


def overlapping_bookings(
    session: Session, resource_ids: list[int], window: Interval, *, now: datetime
) -> list[Booking]:
    """Active bookings (a hold only while it lasts) whose booked range meets ``window``.

    The booked range, not the buffered one: the engine checks blocks against what the member
    booked (a studio's cleanup may run into a block)."""
    if not resource_ids:
        return []
    rows = session.scalars(
        select(Booking)
        .options(selectinload(Booking.resource), selectinload(Booking.user))
        .where(
            Booking.resource_id.in_(resource_ids),
            Booking.status.in_(ACTIVE_STATUSES),
            Booking.starts_at < window.end,
            # A booking that is over is history, not a conflict.
            Booking.ends_at > max(window.start, now),
        )
        .order_by(Booking.starts_at, Booking.id)
    ).all()
    return [b for b in rows if b.effective_status(now) in ACTIVE_STATUSES]


def create_block(
    session: Session,
    gateway: PaymentGateway,
    *,
    actor: User,
    resource_id: int | None = None,
    location_id: int | None = None,
    kind: BlockKind | str,
    start: datetime,
    end: datetime,
    reason: str,
    cancel_conflicting: bool = False,
    now: datetime,
    settings: BookingSettings,
) -> BlockOutcome:
    """Block one resource (``resource_id``) or every resource of a location (``location_id``)."""
    if not actor.is_staff:
        raise NotFound()
    chosen, text = _validate(kind=kind, start=start, end=end, reason=reason, now=now)
    with write(session):
        actor = session.merge(actor)
        location, resources, resource = _target(session, resource_id, location_id)
        ids = [r.id for r in resources]
        lock_rows(session, Resource, ids)
        expire_stale(session, ids, now=now, settings=settings)
        affected = overlapping_bookings(session, ids, Interval(start, end), now=now)
        if affected and not cancel_conflicting:
            raise BlockConflict(affected)
        block = Block(
            location_id=location.id,
            resource_id=resource.id if resource is not None else None,
            kind=chosen,
            starts_at=start,
            ends_at=end,
            reason=text,
            created_by_id=actor.id,
            created_at=now,
        )
        session.add(block)
        session.flush()
        to_cancel = [b.id for b in affected]
        audit.record(
            session, action="block.created", now=now, actor_id=actor.id, object_type="block",
            object_id=block.id,
            details={
                "resource": resource.slug if resource is not None else None,
                "location": location.slug,
                "kind": chosen.value,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "reason": text,
                **({"cancels_bookings": to_cancel} if to_cancel else {}),
            },
        )
        block_id = block.id
    outcome = BlockOutcome(block=_load(session, block_id))
    if to_cancel:
        _cancel_all(session, gateway, outcome, to_cancel, actor=actor, reason=text, now=now,
                    settings=settings)
        outcome.block = _load(session, block_id)
    return outcome


def _cancel_all(
    session: Session,
    gateway: PaymentGateway,
    outcome: BlockOutcome,
    booking_ids: list[int],
    *,
    actor: User,
    reason: str,
    now: datetime,
    settings: BookingSettings,
) -> None:
    """Cancel each booking with a full refund, each in its own transaction (see the module
    docstring); the refund goes to the gateway right after each commit."""
    for booking_id in booking_ids:
        try:
            _booking, refund = cancel_booking(
                session, gateway, actor=actor, booking_id=booking_id, now=now,
                reason=str(_l("Cancelled by the Schiller40 team: %(reason)s", reason=reason)),
                refund="full", settings=settings,
            )
        except DomainError:
            # Cancelled, run out or gone meanwhile: nothing left to do for this one. Its write
            # rolled back; end any read it left before the next one talks to the gateway.
            end_read(session)
            outcome.skipped.append(booking_id)
            continue
        outcome.cancelled.append(booking_id)
        if refund is not None:
            outcome.refunded_cents += refund.amount_cents


def _load(session: Session, block_id: int) -> Block:
    block = session.scalar(
        select(Block)
        .options(selectinload(Block.resource), selectinload(Block.location))
        .where(Block.id == block_id)
    )
    assert block is not None
    return block


def delete_block(
    session: Session, *, actor: User, block_id: int, now: datetime, settings: BookingSettings
) -> Block:
    """Remove a block; members waiting for a slot in the freed range are offered it."""
    if not actor.is_staff:
        raise NotFound()
    with write(session):
        actor = session.merge(actor)
        block = session.get(Block, block_id)
        if block is None:
            raise NotFound()
        if block.resource_id is not None:
            resources = [block.resource] if block.resource is not None else []
        else:
            resources = list(session.scalars(
                select(Resource).where(Resource.location_id == block.location_id)
            ))
        lock_rows(session, Resource, [r.id for r in resources])
        details: dict[str, Any] = {
            "resource": block.resource.slug if block.resource is not None else None,
            "location_id": block.location_id,
            "kind": block.kind.value,
            "start": block.starts_at.isoformat(),
            "end": block.ends_at.isoformat(),
            "reason": block.reason,
        }
        freed = Interval(block.starts_at, block.ends_at)
        session.delete(block)
        session.flush()
        audit.record(
            session, action="block.deleted", now=now, actor_id=actor.id, object_type="block",
            object_id=block_id, details=details,
        )
        if freed.end > now:
            for resource in resources:
                offer_freed(session, resource, freed, now=now, settings=settings)
    return block


def upcoming_blocks(session: Session, *, now: datetime, limit: int = 500) -> list[Block]:
    """Blocks that have not ended yet, soonest first (for the staff list)."""
    return list(
        session.scalars(
            select(Block)
            .options(
                selectinload(Block.resource), selectinload(Block.location),
                selectinload(Block.created_by),
            )
            .where(Block.ends_at > now)
            .order_by(Block.starts_at, Block.id)
            .limit(limit)
        )
    )


def blocks_in(
    session: Session, resource: Resource, window: Interval
) -> list[Block]:
    """The blocks that apply to ``resource`` in ``window`` (its own and location-wide)."""
    return list(
        session.scalars(
            select(Block)
            .where(
                Block.location_id == resource.location_id,
                or_(Block.resource_id.is_(None), Block.resource_id == resource.id),
                Block.starts_at < window.end,
                Block.ends_at > window.start,
            )
            .order_by(Block.starts_at, Block.id)
        )
    )
