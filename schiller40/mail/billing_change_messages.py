"""Messages about a member's own change of tier or cancellation: the change confirmed
(upgrade with its pro-rated amount, or a downgrade planned for the 1st), the cancellation
confirmed with its end date, and the cancellation withdrawn."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ..billing.change_models import ChangeKind, ChangeStatus, SubscriptionChange
from ..billing.models import Subscription
from .catalog import message
from .compose import Mail, can_receive, render


@message("mail.subscription_change")
def subscription_change(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """Nothing is sent for a planned change the member withdrew before the mail went out."""
    change = session.get(SubscriptionChange, payload["change_id"])
    if change is None or change.status is ChangeStatus.WITHDRAWN:
        return None
    member = change.subscription.user
    if member is None or not can_receive(member):
        return None
    upgrade = change.kind is ChangeKind.UPGRADE
    return render(
        "subscription_change", to=member, change=change, upgrade=upgrade,
        subscription=change.subscription, period=change.period,
        last_old=change.effective_on - timedelta(days=1),
        subject=lambda: _("Your change to %(tier)s from %(date)s",
                          tier=change.to_tier.name,
                          date=format_date(change.effective_on, "medium")),
    )


@message("mail.subscription_cancelled")
def subscription_cancelled(
    session: Session, payload: dict[str, Any], now: datetime
) -> Mail | None:
    """Not sent if the cancellation was withdrawn (or moved) before the mail went out."""
    sub = session.get(Subscription, payload["subscription_id"])
    if sub is None or sub.user is None or sub.cancel_at is None or (
        sub.cancel_at.isoformat() != payload["ends_on"]
    ) or not can_receive(sub.user):
        return None
    ends_on: date = sub.cancel_at
    return render(
        "subscription_cancelled", to=sub.user, subscription=sub, ends_on=ends_on,
        subject=lambda: _("Your membership ends on %(date)s",
                          date=format_date(ends_on, "medium")),
    )


@message("mail.subscription_cancel_withdrawn")
def subscription_cancel_withdrawn(
    session: Session, payload: dict[str, Any], now: datetime
) -> Mail | None:
    sub = session.get(Subscription, payload["subscription_id"])
    if sub is None or sub.user is None or sub.cancel_at is not None or not sub.is_open or (
        not can_receive(sub.user)
    ):
        return None
    return render(
        "subscription_cancel_withdrawn", to=sub.user, subscription=sub,
        ends_on_was=date.fromisoformat(payload["ends_on_was"]),
        subject=lambda: _("Your membership continues"),
    )
