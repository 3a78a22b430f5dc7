"""Messages about monthly fees: welcome and first charge, the pre-notification of each charge
(for SEPA direct debit with amount, date, mandate reference and creditor id), a failed
charge (with the link to a new payment method), suspension and the end.

Queued by ``billing.service`` on the transition that causes them, keyed per subscription and
occasion, so a second sync or worker never queues one twice. Each builder checks the
subscription's state again when the mail is written: a payment that arrived meanwhile
cancels the "payment failed" mail.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import current_app
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ..billing.models import PeriodKind, Subscription, SubscriptionStatus
from ..billing.service import next_charge
from ..core.money import money
from .catalog import message
from .compose import Mail, can_receive, render


def _subscription(session: Session, payload: dict[str, Any],
                  *statuses: SubscriptionStatus) -> Subscription | None:
    sub = session.get(Subscription, payload["subscription_id"])
    if sub is None or sub.status not in statuses or not can_receive(sub.user):
        return None
    return sub


def _mail(kind: str, sub: Subscription, subject: Any, **context: Any) -> Mail:
    assert sub.user is not None
    return render(
        "subscription", to=sub.user, kind=kind, sub=sub, subject=subject,
        creditor_id=current_app.config.get("SEPA_CREDITOR_ID") or None, **context,
    )


@message("mail.subscription_welcome")
def welcome(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    sub = _subscription(session, payload, SubscriptionStatus.ACTIVE,
                        SubscriptionStatus.PAST_DUE)
    if sub is None:
        return None
    first = next((p for p in sub.periods if p.kind is PeriodKind.FIRST), None)
    return _mail(
        "welcome", sub, lambda: _("Welcome to %(tier)s", tier=sub.tier.name),
        first=first, next=next_charge(sub),
    )


@message("mail.subscription_prenotice")
def prenotice(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    sub = _subscription(session, payload, SubscriptionStatus.ACTIVE)
    charge_on = date.fromisoformat(payload["charge_on"])
    coming = next_charge(sub) if sub is not None else None
    if sub is None or coming is None or coming[0] != charge_on:
        return None  # ended or moved meanwhile
    amount = int(payload["amount_cents"])
    return _mail(
        "prenotice", sub,
        lambda: _("Your monthly fee of %(amount)s on %(date)s", amount=money(amount),
                  date=format_date(charge_on, "medium")),
        charge_on=charge_on, amount=amount,
    )


@message("mail.subscription_payment_failed")
def payment_failed(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    sub = _subscription(session, payload, SubscriptionStatus.PAST_DUE)
    if sub is None or sub.past_due_since is None:
        return None
    unpaid = sub.unpaid_periods()
    return _mail(
        "payment_failed", sub, lambda: _("Your monthly fee could not be collected"),
        unpaid=unpaid, amount=sum(p.amount_cents for p in unpaid),
        suspend_on=_policy().suspend_on(sub.past_due_since),
    )


@message("mail.subscription_suspended")
def suspended(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    sub = _subscription(session, payload, SubscriptionStatus.SUSPENDED)
    if sub is None or sub.past_due_since is None:
        return None
    unpaid = sub.unpaid_periods()
    return _mail(
        "suspended", sub, lambda: _("Your membership is suspended"),
        unpaid=unpaid, amount=sum(p.amount_cents for p in unpaid),
        end_on=_policy().end_on(sub.past_due_since),
    )


@message("mail.subscription_ended")
def ended(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    sub = _subscription(session, payload, SubscriptionStatus.ENDED)
    if sub is None:
        return None
    return _mail("ended", sub, lambda: _("Your monthly fee for %(tier)s has ended",
                                         tier=sub.tier.name),
                 reason=payload.get("reason"))


def _policy():
    from ..billing.settings import current_billing

    return current_billing().policy
