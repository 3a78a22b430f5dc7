"""What staff see of unpaid monthly fees: the past-due list (member, tier, since, amount open,
dunning stage, next retry, suspension date) and one member's subscription with its periods.
Reads only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from .change_models import SubscriptionChange
from .models import BillingPeriod, Subscription, SubscriptionStatus
from .rules import DunningPolicy

UNPAID = (SubscriptionStatus.PAST_DUE, SubscriptionStatus.SUSPENDED)


@dataclass(frozen=True)
class PastDue:
    subscription: Subscription
    since: date | None
    open_cents: int
    stage: str  # past_due | suspended
    next_retry: date | None
    suspend_on: date | None  # the day it is (or was) suspended
    end_on: date | None  # the day it ends unless paid


def past_due(session: Session, *, policy: DunningPolicy) -> list[PastDue]:
    """Every past-due or suspended subscription, longest unpaid first."""
    subs = session.scalars(
        select(Subscription).where(Subscription.status.in_(UNPAID))
        .options(selectinload(Subscription.periods), selectinload(Subscription.user),
                 selectinload(Subscription.tier))
        .order_by(Subscription.past_due_since.asc(), Subscription.id)
    ).all()
    rows = []
    for sub in subs:
        unpaid = sub.unpaid_periods()
        retries = [p.next_attempt_on for p in unpaid if p.next_attempt_on is not None]
        since = sub.past_due_since
        rows.append(PastDue(
            subscription=sub, since=since, open_cents=sum(p.amount_cents for p in unpaid),
            stage=sub.status.value, next_retry=min(retries) if retries else None,
            suspend_on=policy.suspend_on(since) if since else None,
            end_on=policy.end_on(since) if since else None,
        ))
    return rows


def past_due_count(session: Session) -> int:
    return len(session.scalars(
        select(Subscription.id).where(Subscription.status.in_(UNPAID))).all())


@dataclass(frozen=True)
class MemberBilling:
    subscription: Subscription
    periods: list[BillingPeriod]
    changes: list[SubscriptionChange]


def member_billing(session: Session, user_id: int) -> list[MemberBilling]:
    """A member's subscriptions (newest first) with their periods and changes of tier."""
    subs = session.scalars(
        select(Subscription).where(Subscription.user_id == user_id)
        .order_by(Subscription.created_at.desc(), Subscription.id.desc())
    ).all()
    return [
        MemberBilling(
            subscription=sub,
            periods=sorted(sub.periods, key=lambda p: (p.period_start, p.id), reverse=True),
            changes=list(session.scalars(
                select(SubscriptionChange).where(SubscriptionChange.subscription_id == sub.id)
                .order_by(SubscriptionChange.id.desc()))),
        )
        for sub in subs
    ]
