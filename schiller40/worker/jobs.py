"""The periodic jobs: each looks for what is due at ``now`` and deals with it.

Every job is safe to run on several machines at once and again at any time: it works under
the same locks as the web requests (a hold expires exactly as when a booking request finds
it stale), and what it sends is queued with a unique outbox key (one reminder per booking
and start, however many workers saw it due).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..booking.models import Booking, BookingStatus, WaitlistEntry, WaitlistStatus
from ..booking.service import BookingSettings, expire_stale
from ..booking.settings import from_config
from ..core import outbox
from ..core.locking import begin_write, lock_rows
from ..resources.models import Resource
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
    return JobContext(now=now, settings=from_config(config), config=dict(config))


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
    session.rollback()
    for resource_id in sorted(ids):
        begin_write(session)
        lock_rows(session, Resource, [resource_id])
        expire_stale(session, [resource_id], now=now, settings=ctx.settings)
        session.commit()
    return len(ids)


@periodic("no_shows")
def release_no_shows(session: Session, ctx: JobContext) -> int:
    """Release desks nobody checked in to by their deadline (start + CHECKIN_GRACE_MINUTES):
    cancelled as a no-show, offered to the waiting list, the member told. Returns how many."""
    from ..booking import checkin

    return checkin.release_no_shows(
        session, now=ctx.now, grace=checkin.grace_from_config(ctx.config),
        settings=ctx.settings,
    )


@periodic("reconcile_payments")
def reconcile_open_payments(session: Session, ctx: JobContext) -> int:
    """Every pass: payments still open (a lost webhook, a checkout to expire at the gateway
    after its hold ran out). Once an hour, through the outbox so only one worker does it:
    also those changed in the last three days (refunds that settle late)."""
    from ..payments import service
    from ..payments.setup import gateway

    report = service.reconcile(
        session, gateway(), now=ctx.now, settings=ctx.settings, recent=timedelta(0)
    )
    outbox.enqueue(
        session, topic="job.reconcile_recent", now=ctx.now, payload={"recent_days": 3},
        key=f"job.reconcile_recent:{ctx.now:%Y-%m-%dT%H}",
    )
    session.commit()
    if report.failed:
        log.warning("reconcile: gateway unreachable for payment(s) %s", report.failed)
    return report.changed


@job_handler("job.reconcile_recent")
def reconcile_recent(session: Session, payload: dict[str, Any], now: datetime) -> None:
    from ..payments import service
    from ..payments.setup import gateway

    days = int(payload.get("recent_days", 3))
    report = service.reconcile(
        session, gateway(), now=now, settings=from_config(current_app.config),
        recent=timedelta(days=days),
    )
    if report.failed:
        # Raising makes the outbox try again later, with back-off.
        raise RuntimeError(f"gateway unreachable for payment(s) {report.failed}")


@periodic("purge_outbox")
def purge_outbox(session: Session, ctx: JobContext) -> int:
    """Delete delivered outbox entries after OUTBOX_KEEP_DAYS (failed ones stay for staff)."""
    begin_write(session)
    removed = outbox.purge_sent(
        session, before=ctx.now - timedelta(days=int(ctx.config["OUTBOX_KEEP_DAYS"]))
    )
    session.commit()
    return removed
