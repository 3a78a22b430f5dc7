"""Messages about memberships: one is about to end."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..booking.models import ACTIVE_STATUSES, Booking
from ..core.time import local_datetime
from ..membership.ending import successor
from ..membership.models import Membership, MembershipStatus
from .catalog import message
from .compose import Mail, can_receive, render


@message("mail.membership_ending")
def membership_ending(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """The membership ends soon and nothing follows it: when, and what that means for
    bookings after that day. Nothing is sent if staff changed the end date meanwhile (the job
    queues a new message for the new date), withdrew it, or a new membership follows now."""
    membership = session.get(Membership, payload["membership_id"])
    if (
        membership is None
        or membership.status is not MembershipStatus.ACTIVE
        or membership.valid_until is None
        or membership.valid_until.isoformat() != payload["ends_on"]
        or successor(session, membership) is not None
        or not can_receive(membership.user)
    ):
        return None
    ends_on: date = membership.valid_until
    member = membership.user
    after = local_datetime(ends_on + timedelta(days=1), time(0))
    later = [
        b for b in
        session.scalars(
            select(Booking)
            .where(
                Booking.user_id == member.id,
                Booking.status.in_(ACTIVE_STATUSES),
                Booking.starts_at >= after,
            )
            .order_by(Booking.starts_at)
        )
        if b.effective_status(now) in ACTIVE_STATUSES
    ]
    return render(
        "membership_ending",
        to=member,
        membership=membership,
        ends_on=ends_on,
        first_day_after=ends_on + timedelta(days=1),
        later=later,
        subject=lambda: _(
            "Your membership ends on %(date)s", date=format_date(ends_on, "medium")
        ),
    )
