"""Messages about memberships: one is about to end; a member chose a tier online; staff
answered a member's request for a tier."""

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
from ..membership.models import Membership, MembershipRequest, MembershipStatus
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


@message("mail.membership_welcome")
def membership_welcome(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """The member chose a tier online: welcome, what it includes, and how to book. Nothing
    is sent if the membership was withdrawn meanwhile."""
    membership = session.get(Membership, payload["membership_id"])
    if (
        membership is None
        or membership.status is not MembershipStatus.ACTIVE
        or not can_receive(membership.user)
    ):
        return None
    return render(
        "membership_welcome", to=membership.user, membership=membership,
        tier=membership.tier,
        subject=lambda: _("Welcome to Schiller40: your tier %(tier)s",
                          tier=membership.tier.name),
    )


def _answered(session: Session, payload: dict[str, Any]) -> MembershipRequest | None:
    request = session.get(MembershipRequest, payload["request_id"])
    if request is None or request.is_open or not can_receive(request.user):
        return None
    return request


@message("mail.membership_request_confirmed")
def membership_request_confirmed(
    session: Session, payload: dict[str, Any], now: datetime
) -> Mail | None:
    """Staff confirmed the member's request: from when the membership runs, or (a tier with
    a monthly fee) the link to set up the monthly payment."""
    request = _answered(session, payload)
    if request is None or (request.membership is None and request.starts_on is None):
        return None
    return render(
        "membership_request_confirmed", to=request.user, request=request,
        membership=request.membership, tier=request.tier,
        subject=lambda: _("Your membership in %(tier)s is confirmed", tier=request.tier.name),
    )


@message("mail.membership_request_declined")
def membership_request_declined(
    session: Session, payload: dict[str, Any], now: datetime
) -> Mail | None:
    """Staff declined the member's request, with their reason."""
    request = _answered(session, payload)
    if request is None or request.decline_reason == "":
        return None
    return render(
        "membership_request_declined", to=request.user, request=request, tier=request.tier,
        subject=lambda: _("Your request for %(tier)s", tier=request.tier.name),
    )
