"""The periodic jobs: each looks for what is due at ``now`` and deals with it.

Every job is safe to run on several machines at once and again at any time: it works under
the same locks as the web requests (a hold expires exactly as when a booking request finds
it stale), and what it sends is queued with a unique outbox key (one reminder per booking
and start, however many workers saw it due).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ..accounts.models import User
from ..billing.service import run_billing
from ..billing.settings import from_config as billing_settings
from ..booking import checkin
from ..booking.locks import expire_stale
from ..booking.models import Booking, BookingStatus, WaitlistEntry, WaitlistStatus
from ..booking.settings import BookingSettings, current_settings
from ..core import audit, outbox
from ..core.audit import AuditEntry
from ..core.locking import end_read, lock_rows, write
from ..core.time import local_datetime
from ..membership.ending import ending_soon, successor
from ..membership.models import Membership, MembershipStatus
from ..membership.service import today
from ..payments.reconcile import reconcile
from ..payments.setup import gateway
from ..resources.models import Location, Resource
from .delivery import job_handler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobContext:
    now: datetime
    settings: BookingSettings
    config: dict[str, Any]


Job = Callable[[Session, JobContext], int]
# In order: release what is stale first, so the messages queued after see the final state.
PERIODIC: list[tuple[str, Job]] = []


def periodic(name: str) -> Callable[[Job], Job]:
    def register(job: Job) -> Job:
        PERIODIC.append((name, job))
        return job

    return register


def context(now: datetime) -> JobContext:
    config = current_app.config
    return JobContext(now=now, settings=current_settings(), config=dict(config))


@periodic("expire_holds")
def expire_holds(session: Session, ctx: JobContext) -> int:
    """Release unpaid holds whose time ran out, lapse unanswered waitlist offers and ask the
    next in line, one resource at a time under its lock. Returns the resources touched."""
    now = ctx.now
    ids = set(
        session.scalars(
            select(Booking.resource_id).where(
                Booking.status == BookingStatus.HELD, Booking.hold_expires_at <= now
            )
        )
    )
    ids |= set(
        session.scalars(
            select(WaitlistEntry.resource_id).where(
                or_(
                    (WaitlistEntry.status == WaitlistStatus.OFFERED)
                    & (WaitlistEntry.offer_expires_at <= now),
                    (WaitlistEntry.status == WaitlistStatus.WAITING)
                    & (WaitlistEntry.starts_at <= now),
                )
            )
        )
    )
    end_read(session)
    for resource_id in sorted(ids):
        with write(session):
            lock_rows(session, Resource, [resource_id])
            expire_stale(session, [resource_id], now=now, settings=ctx.settings)
    return len(ids)


@periodic("no_shows")
def release_no_shows(session: Session, ctx: JobContext) -> int:
    """Release desks nobody checked in to by their deadline (start + CHECKIN_GRACE_MINUTES):
    cancelled as a no-show, offered to the waiting list, the member told. Returns how many."""
    return checkin.release_no_shows(
        session, now=ctx.now, grace=ctx.settings.checkin_grace,
        settings=ctx.settings,
    )


@periodic("reminders")
def reminders(session: Session, ctx: JobContext) -> int:
    """From REMINDER_HOUR (location time) on the day before: queue a reminder for every
    confirmed booking that starts the next local day. Keyed by booking and start, so it goes
    once however many passes and workers see it, and again if the booking moves to another
    day. A booking made at or after that hour gets none: its confirmation just came.
    Returns the bookings that are due (queued now or before)."""
    hour = int(ctx.config.get("REMINDER_HOUR", 17))
    if not 0 <= hour <= 23:
        raise ValueError(f"REMINDER_HOUR must be 0-23, not {hour}")
    due: list[tuple[int, int | None, datetime]] = []
    for location in session.scalars(select(Location).order_by(Location.id)):
        tz = location.tz
        today = ctx.now.astimezone(tz).date()
        cutoff = local_datetime(today, time(hour), tz)
        if ctx.now < cutoff:
            continue
        tomorrow = today + timedelta(days=1)
        query = (
            select(Booking.id, Booking.user_id, Booking.starts_at)
            .join(Resource, Booking.resource_id == Resource.id)
            .where(
                Resource.location_id == location.id,
                Booking.status == BookingStatus.CONFIRMED,
                Booking.starts_at >= local_datetime(tomorrow, time(0), tz),
                Booking.starts_at < local_datetime(tomorrow + timedelta(days=1), time(0), tz),
                Booking.created_at < cutoff,
                Booking.user_id.is_not(None),
            )
            .order_by(Booking.starts_at, Booking.id)
        )
        due += [(row.id, row.user_id, row.starts_at) for row in session.execute(query)]
    end_read(session)
    if not due:
        return 0
    with write(session):
        for booking_id, user_id, starts_at in due:
            outbox.enqueue(
                session, topic="mail.booking_reminder", now=ctx.now, user_id=user_id,
                payload={"booking_id": booking_id, "starts_at": starts_at.isoformat()},
                key=f"mail.booking_reminder:{booking_id}:{starts_at.isoformat()}",
            )
    return len(due)


@periodic("reconcile_payments")
def reconcile_open_payments(session: Session, ctx: JobContext) -> int:
    """Every pass: payments still open (a lost webhook, a checkout to expire at the gateway
    after its hold ran out). Once an hour, through the outbox so only one worker does it:
    also those changed in the last three days (refunds that settle late)."""
    report = reconcile(
        session, gateway(), now=ctx.now, settings=ctx.settings, recent=timedelta(0)
    )
    with write(session):
        outbox.enqueue(
            session, topic="job.reconcile_recent", now=ctx.now, payload={"recent_days": 3},
            key=f"job.reconcile_recent:{ctx.now:%Y-%m-%dT%H}",
        )
    if report.failed:
        log.warning("reconcile: gateway unreachable for payment(s) %s", report.failed)
    return report.changed


@job_handler("job.reconcile_recent")
def reconcile_recent(session: Session, payload: dict[str, Any], now: datetime) -> None:
    days = int(payload.get("recent_days", 3))
    report = reconcile(
        session, gateway(), now=now, settings=current_settings(),
        recent=timedelta(days=days),
    )
    if report.failed:
        # Raising makes the outbox try again later, with back-off.
        raise RuntimeError(f"gateway unreachable for payment(s) {report.failed}")


@periodic("billing")
def billing(session: Session, ctx: JobContext) -> int:
    """Monthly fees: the gateway bills what is due (the simulation's renewals on the 1st),
    retries due on days 3/5/7 are asked for, every open subscription is synced and moved
    along the dunning timeline, pre-notifications queued. Returns the subscriptions synced."""
    report = run_billing(session, gateway(), now=ctx.now, settings=billing_settings(ctx.config))
    if report.failed:
        log.warning("billing: gateway unreachable for subscription(s) %s", report.failed)
    return report.synced


@periodic("purge_outbox")
def purge_outbox(session: Session, ctx: JobContext) -> int:
    """Delete delivered outbox entries after OUTBOX_KEEP_DAYS (failed ones stay for staff)."""
    with write(session):
        removed = outbox.purge_sent(
            session, before=ctx.now - timedelta(days=int(ctx.config["OUTBOX_KEEP_DAYS"]))
        )
    return removed


@periodic("membership_ending")
def membership_ending(session: Session, ctx: JobContext) -> int:
    """Tell members whose membership ends within MEMBERSHIP_ENDING_NOTICE_DAYS and that no
    other membership follows. Once per membership and end date, however many workers and
    passes see it (the membership row is locked, the mail keyed), and again if staff move the
    end date. The audit entry remembers it after the outbox row was purged. Returns the mails
    queued."""
    days = int(ctx.config.get("MEMBERSHIP_ENDING_NOTICE_DAYS", 14))
    candidates = [
        (m.id, m.user_id, m.valid_until.isoformat() if m.valid_until else "")
        for m in ending_soon(session, today=today(ctx.now), notice_days=days)
    ]
    # Read first, without a lock: on every pass most candidates were told already, and a
    # write transaction per candidate would take SQLite's one write lock for nothing.
    announced = {
        (d.get("membership"), d.get("valid_until"))
        for d in session.scalars(
            select(AuditEntry.details).where(
                AuditEntry.action == "membership.ending_announced",
                AuditEntry.object_type == "user",
                AuditEntry.object_id.in_({user_id for _m, user_id, _e in candidates}),
            )
        )
    } if candidates else set()
    candidates = [c for c in candidates if (c[0], c[2]) not in announced]
    end_read(session)
    queued = 0
    for membership_id, user_id, _ends in candidates:
        with write(session):
            queued += _announce_ending(session, membership_id, user_id, now=ctx.now)
    return queued


def _announce_ending(session: Session, membership_id: int, user_id: int, *, now: datetime) -> int:
    """Queue the notice for one membership under its lock, unless staff changed it or it was
    told meanwhile (then nothing is written). Inside the caller's ``write`` block; returns
    the mails queued (0 or 1)."""
    lock_rows(session, Membership, [membership_id])
    membership = session.get(Membership, membership_id, populate_existing=True)
    if (
        membership is None or membership.valid_until is None
        or membership.status is not MembershipStatus.ACTIVE
        or successor(session, membership) is not None
    ):
        return 0  # staff changed it meanwhile
    ends_on = membership.valid_until.isoformat()
    told = session.scalars(
        select(AuditEntry.details).where(
            AuditEntry.action == "membership.ending_announced",
            AuditEntry.object_type == "user",
            AuditEntry.object_id == user_id,
        )
    ).all()
    if any(d.get("membership") == membership_id and d.get("valid_until") == ends_on
           for d in told):
        return 0
    outbox.enqueue(
        session, topic="mail.membership_ending", now=now, user_id=user_id,
        payload={"membership_id": membership_id, "ends_on": ends_on},
        key=f"mail.membership_ending:{membership_id}:{ends_on}",
    )
    audit.record(
        session, action="membership.ending_announced", now=now, actor_id=None,
        object_type="user", object_id=user_id,
        details={"membership": membership_id, "tier": membership.tier.slug,
                 "valid_until": ends_on},
    )
    return 1


RETENTION_BATCH = 1000
_RETENTION_DONE_UNTIL = "schiller40.retention_done_until"


def _update_in_batches(
    session: Session, model: Any, *, where: Sequence[Any], values: dict[str, Any],
    also: Sequence[Any] = (),
) -> int:
    """Set ``values`` on the rows matching ``where``, RETENTION_BATCH rows per short write
    transaction (others wait only briefly). ``also`` is checked again in the update itself.
    Returns the rows found."""
    changed = 0
    while True:
        ids = session.scalars(
            select(model.id).where(*where).order_by(model.id).limit(RETENTION_BATCH)
        ).all()
        end_read(session)
        if not ids:
            return changed
        with write(session):
            session.execute(
                update(model).where(model.id.in_(ids), *also).values(**values),
                execution_options={"synchronize_session": False},
            )
        changed += len(ids)
        if len(ids) < RETENTION_BATCH:
            return changed


@periodic("retention")
def retention(session: Session, ctx: JobContext) -> int:
    """What is kept no longer than needed (docs/security.md, "Retention"):

    - audit entries older than AUDIT_DETAILS_RETENTION_DAYS lose their details (old and new
      values, reasons, amounts); the entry itself stays: who did what to which object, when;
    - bookings of deleted accounts lose any note still on them. Erasing the account blanks
      them at once (``members.privacy``); this catches a note written afterwards (staff
      editing an old booking) or left by an erasure from before that rule.

    Outbox rows are purged by ``purge_outbox``. Each batch of RETENTION_BATCH rows is its own
    short write transaction, so other writers wait only briefly. Setting a value to what it
    should be anyway is harmless, so several workers may run this together, and a pass that
    finds nothing left to do writes nothing. Returns the rows changed."""
    cutoff = ctx.now - timedelta(days=int(ctx.config["AUDIT_DETAILS_RETENTION_DAYS"]))
    # Entries are written with the time of writing, so what was older than the cutoff of this
    # process's last complete pass has been seen: only the window since then is searched
    # again (an index range on ``at``), not the whole old log on every pass. A new process
    # (or one whose clock went back) starts with a full search.
    done_until: datetime | None = current_app.extensions.get(_RETENTION_DONE_UNTIL)
    window = [AuditEntry.at < cutoff, AuditEntry.details != {}]
    if done_until is not None and done_until <= cutoff:
        window.append(AuditEntry.at >= done_until)
    changed = _update_in_batches(
        session, AuditEntry, where=window, also=[AuditEntry.at < cutoff], values={"details": {}}
    )
    deleted_users = select(User.id).where(User.deleted_at.is_not(None))
    changed += _update_in_batches(
        session, Booking, where=[Booking.user_id.in_(deleted_users), Booking.note != ""],
        values={"note": ""},
    )
    current_app.extensions[_RETENTION_DONE_UNTIL] = cutoff
    if changed:
        log.info("retention: %s row(s) emptied", changed)
    return changed
