"""A member changes or ends their own membership: a higher tier from tomorrow (pro-rated at
once), a lower one from the 1st (planned, withdrawable), a cancellation with the tier's
notice (withdrawable until it takes effect); a member without a monthly fee (the Tagespass)
switches to another fee-less tier or ends at once.

Every use case has a ``quote_*`` that computes what the member sees before confirming (the
amounts and dates come from the pure rules in ``notice.py``) and changes nothing.

Gateway calls never run inside a transaction. An upgrade is recorded first (``pending``:
the partial unique index makes a double submit one change), then the gateway is told with
the change's idempotency key, then one ``write`` applies it; a crash in between leaves a
pending change that the next submit or the worker (``apply_due``) finishes with the same
key. A cancellation asks the gateway first (``cancel_at``), then writes; ``sync`` mirrors
the gateway's ``cancel_at`` anyway, and the gateway ends the subscription at that date, after
which ``service.sync`` ends it here (the membership ends on ``cancel_at``, no renewal
after). Lock order as everywhere: member → subscription.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..accounts.locks import lock_member
from ..accounts.models import User
from ..booking.rules import split_vat
from ..core import audit, outbox
from ..core.locking import end_read, is_unique_violation, locked_get, write
from ..errors import Conflict, InvalidInput
from ..membership.models import Membership, MembershipStatus, SignupMode, Tier
from ..membership.service import OCCUPYING, place_membership
from ..payments.errors import PaymentError
from ..payments.gateway import GatewayError, PaymentGateway, RemoteSubscription
from . import notice, rules, service
from .change_models import UNFINISHED, ChangeKind, ChangeStatus, SubscriptionChange
from .models import BillingPeriod, PeriodKind, PeriodStatus, Subscription, SubscriptionStatus
from .settings import BillingSettings

log = logging.getLogger(__name__)

# Subscriptions a member may change or cancel (a suspended one: pay first, or cancel).
CHANGEABLE = (SubscriptionStatus.ACTIVE,)
CANCELLABLE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE,
               SubscriptionStatus.SUSPENDED)


# --- the tier's terms ----------------------------------------------------------------------


def is_self_service(tier: Tier) -> bool:
    """Members change only to tiers they could take online; the others go through staff."""
    return tier.is_active and tier.signup_mode is SignupMode.SELF_SERVICE


# --- errors -------------------------------------------------------------------------------------


def refusal(code: str, message: Any, *, status: int = 409, field_name: str | None = None,
            **extra: Any) -> PaymentError:
    fields = {field_name: [str(message)]} if field_name else None
    return PaymentError(code, status, message, fields=fields, extra=extra or None)


def gateway_down() -> PaymentError:
    error = PaymentError(
        "payment_unavailable", 503,
        _l("The payment service cannot be reached right now. Nothing was changed; please "
           "try again in a few minutes."),
    )
    error.headers = {"Retry-After": "60"}
    return error


# --- reading ------------------------------------------------------------------------------------


def local_today(now: datetime) -> date:
    return service.local_today(now)


def _linked(session: Session, sub: Subscription) -> list[Membership]:
    session.flush()
    return list(session.scalars(
        select(Membership).where(Membership.subscription_id == sub.id).order_by(Membership.id)
    ))


def unfinished_change(session: Session, subscription_id: int) -> SubscriptionChange | None:
    return session.scalar(
        select(SubscriptionChange).where(
            SubscriptionChange.subscription_id == subscription_id,
            SubscriptionChange.status.in_(UNFINISHED),
        )
    )


def current_membership(member: User, today: date) -> Membership | None:
    """The membership in force today (PAUSED counts: a suspended subscription's)."""
    return next(
        (m for m in sorted(member.memberships, key=lambda m: m.valid_from, reverse=True)
         if m.status in OCCUPYING and m.valid_from <= today
         and (m.valid_until is None or today <= m.valid_until)),
        None,
    )


def offered_tiers(session: Session) -> list[Tier]:
    """The tiers a member may choose themselves, in the price list's order."""
    return [
        t for t in session.scalars(
            select(Tier).where(Tier.is_active.is_(True)).order_by(Tier.position, Tier.name)
        )
        if is_self_service(t)
    ]


def _offered_tier(session: Session, slug: str) -> Tier:
    tier = session.scalar(select(Tier).where(Tier.slug == slug)) if slug else None
    if tier is None or not is_self_service(tier):
        raise InvalidInput(_l("Please choose a tier on offer."),
                           fields={"tier": [str(_l("Please choose a tier on offer."))]})
    return tier


@dataclass(frozen=True)
class ChangeQuote:
    """What changing to ``tier`` means, shown before the member confirms."""

    tier: Tier
    kind: ChangeKind | None  # None: a fee-less switch (no subscription)
    effective_on: date  # the first day in the new tier
    charge: rules.Charge | None  # an upgrade's difference, charged at once
    monthly_cents: int  # the new monthly fee
    next_charge_on: date | None  # the first renewal at the new fee
    last_day_old: date


@dataclass(frozen=True)
class CancelQuote:
    terms: notice.CancelTerms | None  # None: a fee-less membership, ends today
    ends_on: date


@dataclass
class MembershipState:
    """Everything the account page and ``GET /api/v1/membership`` show."""

    today: date
    membership: Membership | None
    upcoming: Membership | None
    subscription: Subscription | None
    planned_change: SubscriptionChange | None
    next_charge: tuple[date, int] | None
    open_cents: int = 0
    may_change: bool = False
    may_cancel: bool = False
    may_withdraw_cancellation: bool = False
    may_end_now: bool = False
    cancel_terms: notice.CancelTerms | None = None
    offers: list[Tier] = field(default_factory=list)


def state(session: Session, *, member: User, now: datetime) -> MembershipState:
    today = local_today(now)
    sub = service.open_subscription(session, member.id)
    current = current_membership(member, today)
    upcoming = min(
        (m for m in member.memberships if m.status in OCCUPYING and m.valid_from > today),
        key=lambda m: m.valid_from, default=None,
    )
    planned = unfinished_change(session, sub.id) if sub is not None else None
    result = MembershipState(
        today=today, membership=current, upcoming=upcoming, subscription=sub,
        planned_change=planned, next_charge=None, offers=offered_tiers(session),
    )
    if sub is not None:
        charge = service.next_charge(sub)
        if charge is not None and planned is not None and planned.status is (
            ChangeStatus.PLANNED
        ) and charge[0] >= planned.effective_on:
            charge = (charge[0], planned.to_amount_cents * sub.quantity)
        result.next_charge = charge
        result.open_cents = sum(p.amount_cents for p in sub.unpaid_periods())
        started = sub.starts_on <= today
        result.may_change = (sub.status in CHANGEABLE and sub.cancel_at is None
                             and planned is None and started)
        result.may_cancel = sub.status in CANCELLABLE and sub.cancel_at is None
        result.may_withdraw_cancellation = (sub.cancel_at is not None
                                            and sub.cancel_at >= today)
        if result.may_cancel:
            result.cancel_terms = notice.cancel_terms(
                today, sub.tier.notice_days, starts_on=sub.starts_on)
    elif current is not None and current.tier.monthly_price_cents == 0:
        result.may_change = True
        result.may_end_now = current.subscription_id is None
    result.offers = [
        t for t in result.offers
        if sub is None or (t.id != sub.tier_id and t.monthly_price_cents > 0)
    ]
    if sub is None and current is not None:
        result.offers = [t for t in result.offers if t.id != current.tier_id]
    return result


def quote_change(
    session: Session, *, member: User, tier_slug: str, now: datetime,
    settings: BillingSettings,
) -> ChangeQuote:
    today = local_today(now)
    tier = _offered_tier(session, tier_slug)
    sub = service.open_subscription(session, member.id)
    if sub is None:
        current = current_membership(member, today)
        if current is not None and current.tier.monthly_price_cents > 0:
            raise refusal("change_not_allowed", _l(
                "Your membership is not paid monthly here. Please ask the Schiller40 team "
                "to change it."))
        if tier.monthly_price_cents > 0:
            raise refusal("signup_required", _l(
                "%(tier)s is paid monthly: please sign up for it with a payment method.",
                tier=tier.name), field_name="tier", tier=tier.slug)
        if current is not None and current.tier_id == tier.id:
            raise refusal("same_tier", _l("This is already your tier."), field_name="tier")
        return ChangeQuote(tier=tier, kind=None, effective_on=today, charge=None,
                           monthly_cents=0, next_charge_on=None,
                           last_day_old=today - timedelta(days=1))
    _check_changeable(session, sub, tier, today)
    way = notice.direction(sub.monthly_amount_cents, tier.monthly_price_cents)
    effective_on = notice.change_effective_on(today, way)
    charge = None
    if way is notice.Direction.UP:
        charge = notice.upgrade_charge(
            today, old_unit_cents=sub.monthly_amount_cents,
            new_unit_cents=tier.monthly_price_cents, quantity=sub.quantity,
            vat_percent=settings.vat_percent,
        )
    return ChangeQuote(
        tier=tier,
        kind=ChangeKind.UPGRADE if way is notice.Direction.UP else ChangeKind.DOWNGRADE,
        effective_on=effective_on, charge=charge,
        monthly_cents=tier.monthly_price_cents * sub.quantity,
        next_charge_on=rules.first_of_next_month(today),
        last_day_old=effective_on - timedelta(days=1),
    )


def _check_changeable(session: Session, sub: Subscription, tier: Tier, today: date) -> None:
    if tier.monthly_price_cents <= 0:
        raise refusal("use_cancel", _l(
            "To leave the monthly fee, cancel your membership: after it ends you book on "
            "the fee-less terms."), field_name="tier")
    if tier.id == sub.tier_id:
        raise refusal("same_tier", _l("This is already your tier."), field_name="tier")
    if sub.status not in CHANGEABLE:
        raise refusal("change_not_allowed", _l(
            "Your monthly fee is not paid up. Please pay the open amount first."))
    if sub.cancel_at is not None:
        raise refusal("cancellation_pending", _l(
            "Your membership is cancelled. Withdraw the cancellation first."))
    if sub.starts_on > today:
        raise refusal("not_started", _l(
            "Your membership starts on %(date)s; you can change it from then.",
            date=format_date(sub.starts_on, "long")))
    if unfinished_change(session, sub.id) is not None:
        raise refusal("change_planned", _l(
            "A change of tier is already planned. Withdraw it first."))
    tomorrow = today + timedelta(days=1)
    if any(p.kind is PeriodKind.PRORATION and p.period_start == tomorrow for p in sub.periods):
        raise refusal("changed_today", _l(
            "You changed your tier today already. Please try again tomorrow."))


# --- changing the tier --------------------------------------------------------------------------


def change_tier(
    session: Session, gateway: PaymentGateway, *, member: User, tier_slug: str,
    now: datetime, settings: BillingSettings,
) -> SubscriptionChange | Membership:
    """Change to ``tier_slug``: with a subscription an upgrade (applied now, from tomorrow)
    or a planned downgrade (from the 1st); without one, a switch between fee-less tiers
    (from today). A double submit answers with the same change."""
    sub = service.open_subscription(session, member.id)
    if sub is None:
        return _switch_fee_less(session, member=member, tier_slug=tier_slug, now=now,
                                settings=settings)
    try:
        change = _record_change(session, member=member, sub_id=sub.id, tier_slug=tier_slug,
                                now=now, settings=settings)
    except IntegrityError as exc:
        if not is_unique_violation(exc, "subscription_change", "subscription_id") and (
            "uq_subscription_change_unfinished" not in str(exc.orig)
        ):
            raise
        end_read(session)
        change = unfinished_change(session, sub.id)
        if change is None:
            raise
    return _push(session, gateway, change_id=change.id, now=now, settings=settings)


def _record_change(
    session: Session, *, member: User, sub_id: int, tier_slug: str, now: datetime,
    settings: BillingSettings,
) -> SubscriptionChange:
    today = local_today(now)
    with write(session):
        lock_member(session, member)
        sub = locked_get(session, Subscription, sub_id)
        tier = _offered_tier(session, tier_slug)
        existing = unfinished_change(session, sub.id)
        if existing is not None and existing.to_tier_id == tier.id:
            return existing  # a double submit
        if tier.id == sub.tier_id:
            done = session.scalar(
                select(SubscriptionChange).where(
                    SubscriptionChange.subscription_id == sub.id,
                    SubscriptionChange.to_tier_id == tier.id,
                    SubscriptionChange.status == ChangeStatus.APPLIED,
                    SubscriptionChange.effective_on == today + timedelta(days=1),
                ).order_by(SubscriptionChange.id.desc()).limit(1)
            )
            if done is not None:
                return done  # the second click of an upgrade applied a moment ago
        _check_changeable(session, sub, tier, today)
        quote = quote_change(session, member=member, tier_slug=tier_slug, now=now,
                             settings=settings)
        assert quote.kind is not None
        change = SubscriptionChange(
            subscription=sub, kind=quote.kind, status=ChangeStatus.PENDING,
            from_tier_id=sub.tier_id, to_tier_id=tier.id,
            from_amount_cents=sub.monthly_amount_cents, to_amount_cents=tier.monthly_price_cents,
            effective_on=quote.effective_on,
            proration_cents=quote.charge.amount_cents if quote.charge else None,
            requested_by_id=member.id, created_at=now,
        )
        session.add(change)
        session.flush()  # a concurrent unfinished change of this subscription fails here
        audit.record(
            session, action="subscription.change_requested", now=now, actor_id=member.id,
            object_type="user", object_id=member.id,
            details={"subscription": sub.id, "change": change.id, "kind": change.kind.value,
                     "from": sub.tier.slug, "to": tier.slug,
                     "effective_on": change.effective_on.isoformat(),
                     "proration_cents": change.proration_cents},
        )
    return change


def _push(
    session: Session, gateway: PaymentGateway, *, change_id: int, now: datetime,
    settings: BillingSettings,
) -> SubscriptionChange:
    """Tell the gateway about a pending change (idempotent by its key) and apply it here."""
    change = session.get(SubscriptionChange, change_id)
    assert change is not None
    if change.status is not ChangeStatus.PENDING:
        return change
    sub = change.subscription
    ref = sub.gateway_subscription_id
    if ref is None:
        raise refusal("change_not_allowed", _l("Your monthly fee is not set up yet."))
    try:
        remote = gateway.change_subscription(
            ref, unit_amount_cents=change.to_amount_cents, quantity=sub.quantity,
            proration_date=change.effective_on, idempotency_key=change.idempotency_key,
            now=now, tier_id=change.to_tier_id, product_name=change.to_tier.name,
        )
    except GatewayError as exc:
        log.warning("change %s: gateway: %s", change.id, exc)
        raise gateway_down() from exc
    end_read(session)
    with write(session):
        if sub.user is not None:
            lock_member(session, sub.user)
        change = locked_get(session, SubscriptionChange, change_id)
        if change.status is ChangeStatus.PENDING:
            if change.kind is ChangeKind.UPGRADE:
                _apply_upgrade(session, change, remote, now=now, settings=settings)
            else:
                change.status = ChangeStatus.PLANNED
                _told(session, change, action="subscription.change_planned", now=now)
    if change.kind is ChangeKind.UPGRADE:
        service.sync(session, gateway, subscription_id=sub.id, now=now, settings=settings,
                     remote=remote)
    session.refresh(change)
    return change


def _told(session: Session, change: SubscriptionChange, *, action: str, now: datetime) -> None:
    sub = change.subscription
    audit.record(
        session, action=action, now=now, actor_id=None, object_type="user",
        object_id=sub.user_id,
        details={"subscription": sub.id, "change": change.id, "kind": change.kind.value,
                 "from": change.from_tier.slug, "to": change.to_tier.slug,
                 "effective_on": change.effective_on.isoformat(),
                 "proration_cents": change.proration_cents},
    )
    confirms = action == "subscription.change_planned" or (
        action == "subscription.tier_changed" and change.kind is ChangeKind.UPGRADE)
    if confirms and sub.user_id is not None:
        outbox.enqueue(
            session, topic="mail.subscription_change", now=now, user_id=sub.user_id,
            payload={"change_id": change.id}, key=f"mail.subscription_change:{change.id}",
        )


def _apply_upgrade(
    session: Session, change: SubscriptionChange, remote: RemoteSubscription, *,
    now: datetime, settings: BillingSettings,
) -> None:
    sub = change.subscription
    invoice = next(
        (i for i in reversed(remote.invoices)
         if i.billing_reason == "subscription_update" and i.period_start == change.effective_on
         and not any(p.gateway_invoice_id == i.id for p in sub.periods)),
        None,
    )
    if invoice is not None and invoice.amount_cents > 0:
        net, tax = split_vat(invoice.amount_cents, settings.vat_percent)
        days = (invoice.period_end - invoice.period_start).days + 1
        if invoice.amount_cents != change.proration_cents:
            log.warning("change %s: the gateway charged %s cents, we quoted %s", change.id,
                        invoice.amount_cents, change.proration_cents)
        period = BillingPeriod(
            subscription=sub, kind=PeriodKind.PRORATION, period_start=invoice.period_start,
            period_end=invoice.period_end,
            unit_amount_cents=change.to_amount_cents - change.from_amount_cents,
            quantity=sub.quantity, days_billed=days,
            days_in_month=rules.days_in_month(invoice.period_start),
            amount_cents=invoice.amount_cents, net_cents=net, tax_cents=tax,
            vat_percent=settings.vat_percent, currency=sub.currency, status=PeriodStatus.OPEN,
            due_on=local_today(now), gateway_invoice_id=invoice.id, attempts=0,
            created_at=now, updated_at=now,
        )
        session.add(period)
        session.flush()
        change.period_id = period.id
    _switch(session, change, now=now)


def _switch(session: Session, change: SubscriptionChange, *, now: datetime) -> None:
    """The subscription and its membership move to the new tier from ``effective_on``."""
    sub = change.subscription
    sub.tier_id = change.to_tier_id
    sub.monthly_amount_cents = change.to_amount_cents
    sub.updated_at = now
    session.flush()
    session.refresh(sub, ["tier"])
    member = sub.user
    if member is not None:
        for m in member.memberships:
            if (m.subscription_id == sub.id and m.status in OCCUPYING
                    and m.valid_from >= change.effective_on):
                m.status = MembershipStatus.CANCELLED  # would have begun under the old tier
        session.flush()
        try:
            place_membership(
                session, member=member, tier=change.to_tier, valid_from=change.effective_on,
                valid_until=sub.cancel_at, now=now, actor_id=change.requested_by_id,
                subscription_id=sub.id, paid_through=sub.paid_through,
            )
        except Conflict:
            log.warning("change %s: a planned membership blocks the new tier", change.id)
    change.apply(now=now)
    _told(session, change, action="subscription.tier_changed", now=now)


def withdraw_change(
    session: Session, gateway: PaymentGateway, *, member: User, now: datetime,
) -> SubscriptionChange:
    """Take back a planned downgrade before its day: the gateway bills the old fee again."""
    today = local_today(now)
    sub = service.open_subscription(session, member.id)
    change = unfinished_change(session, sub.id) if sub is not None else None
    if change is None or not change.can_withdraw(today):
        raise refusal("nothing_to_withdraw", _l("No change of tier is planned."), status=404)
    assert sub is not None and sub.gateway_subscription_id is not None
    try:
        gateway.change_subscription(
            sub.gateway_subscription_id, unit_amount_cents=change.from_amount_cents,
            quantity=sub.quantity, proration_date=change.effective_on,
            idempotency_key=f"{change.idempotency_key}-undo", now=now,
            tier_id=change.from_tier_id, product_name=change.from_tier.name,
        )
    except GatewayError as exc:
        raise gateway_down() from exc
    end_read(session)
    with write(session):
        lock_member(session, member)
        change = locked_get(session, SubscriptionChange, change.id)
        if change.withdraw(now=now):
            audit.record(
                session, action="subscription.change_withdrawn", now=now,
                actor_id=member.id, object_type="user", object_id=member.id,
                details={"subscription": sub.id, "change": change.id,
                         "to": change.to_tier.slug,
                         "effective_on": change.effective_on.isoformat()},
            )
    return change


# --- fee-less memberships (no subscription) -----------------------------------------------------


def _switch_fee_less(
    session: Session, *, member: User, tier_slug: str, now: datetime,
    settings: BillingSettings,
) -> Membership:
    today = local_today(now)
    with write(session):
        lock_member(session, member)
        session.refresh(member)
        quote = quote_change(session, member=member, tier_slug=tier_slug, now=now,
                             settings=settings)
        current = current_membership(member, today)
        if current is not None and current.valid_from == today:
            current.status = MembershipStatus.CANCELLED
            session.flush()
        membership = place_membership(
            session, member=member, tier=quote.tier, valid_from=today, valid_until=None,
            now=now, actor_id=member.id,
        )
        audit.record(
            session, action="membership.switched", now=now, actor_id=member.id,
            object_type="user", object_id=member.id,
            details={"membership": membership.id, "to": quote.tier.slug,
                     "from": current.tier.slug if current else None},
        )
    return membership


def end_now(session: Session, *, member: User, now: datetime) -> Membership:
    """A fee-less membership ends today (the member may still use today)."""
    today = local_today(now)
    with write(session):
        lock_member(session, member)
        session.refresh(member)
        if service.open_subscription(session, member.id) is not None:
            raise refusal("use_cancel", _l(
                "Your membership is paid monthly: cancel it with its notice period."))
        current = current_membership(member, today)
        if current is None or current.tier.monthly_price_cents > 0 or current.is_billed:
            raise refusal("nothing_to_end", _l("You have no fee-less membership to end."),
                          status=404)
        was = current.valid_until
        current.valid_until = today
        audit.record(
            session, action="membership.ended_by_member", now=now, actor_id=member.id,
            object_type="user", object_id=member.id,
            details={"membership": current.id, "tier": current.tier.slug,
                     "valid_until": today.isoformat(),
                     "valid_until_was": was.isoformat() if was else None},
        )
    return current


# --- cancelling with notice ---------------------------------------------------------------------


def quote_cancel(session: Session, *, member: User, now: datetime) -> CancelQuote:
    today = local_today(now)
    sub = service.open_subscription(session, member.id)
    if sub is None:
        current = current_membership(member, today)
        if current is None or current.tier.monthly_price_cents > 0:
            raise refusal("nothing_to_cancel", _l("You have no membership to cancel."),
                          status=404)
        return CancelQuote(terms=None, ends_on=today)
    if sub.cancel_at is not None:
        raise refusal("already_cancelled", _l(
            "Your membership is already cancelled; it ends on %(date)s.",
            date=format_date(sub.cancel_at, "long")), ends_on=sub.cancel_at.isoformat())
    if sub.status not in CANCELLABLE:
        raise refusal("nothing_to_cancel", _l("You have no membership to cancel."),
                      status=404)
    terms = notice.cancel_terms(today, sub.tier.notice_days, starts_on=sub.starts_on)
    return CancelQuote(terms=terms, ends_on=terms.ends_on)


def cancel(
    session: Session, gateway: PaymentGateway, *, member: User, now: datetime,
    expected_end: date | None,
) -> Subscription:
    """Cancel with the tier's notice to the earliest possible end. ``expected_end``: the date
    the member was shown; if the earliest end has moved since (midnight passed), nothing is
    changed and the new date is answered. A second submit answers with the same end."""
    sub = service.open_subscription(session, member.id)
    if sub is not None and sub.cancel_at is not None:
        return sub  # a double submit
    quote = quote_cancel(session, member=member, now=now)
    if sub is None or quote.terms is None:
        raise refusal("use_end", _l("Your membership has no monthly fee: end it at once."))
    if expected_end is not None and expected_end != quote.ends_on:
        raise refusal("terms_changed", _l(
            "The earliest end is now %(date)s. Please confirm again.",
            date=format_date(quote.ends_on, "long")), ends_on=quote.ends_on.isoformat())
    assert sub.gateway_subscription_id is not None
    try:
        gateway.cancel_subscription(
            sub.gateway_subscription_id, at=quote.ends_on,
            idempotency_key=f"{sub.idempotency_key}-cancel-{quote.ends_on.isoformat()}",
            now=now,
        )
    except GatewayError as exc:
        raise gateway_down() from exc
    end_read(session)
    with write(session):
        lock_member(session, member)
        sub = locked_get(session, Subscription, sub.id)
        if sub.cancel_at is None or sub.cancel_requested_at is None:
            sub.cancel_at = quote.ends_on
            sub.cancel_requested_at = now
            sub.updated_at = now
            for m in _linked(session, sub):
                ends = sub.cancel_at
                if m.status in OCCUPYING and (m.valid_until is None or m.valid_until > ends):
                    if m.valid_from > ends:
                        m.status = MembershipStatus.CANCELLED
                    else:
                        m.valid_until = sub.cancel_at
            change = unfinished_change(session, sub.id)
            if change is not None and change.effective_on > sub.cancel_at:
                change.withdraw(now=now)
            audit.record(
                session, action="subscription.cancel_requested", now=now,
                actor_id=member.id, object_type="user", object_id=member.id,
                details={"subscription": sub.id, "tier": sub.tier.slug,
                         "cancel_at": sub.cancel_at.isoformat(),
                         "notice_days": quote.terms.notice_days},
            )
            outbox.enqueue(
                session, topic="mail.subscription_cancelled", now=now, user_id=member.id,
                payload={"subscription_id": sub.id, "ends_on": sub.cancel_at.isoformat()},
                key=f"mail.subscription_cancelled:{sub.id}:{sub.cancel_at.isoformat()}",
            )
    return sub


def withdraw_cancellation(
    session: Session, gateway: PaymentGateway, *, member: User, now: datetime,
) -> Subscription:
    """Take back the cancellation before it takes effect: the membership runs on."""
    today = local_today(now)
    sub = service.open_subscription(session, member.id)
    if sub is None or sub.cancel_at is None or sub.cancel_at < today:
        raise refusal("nothing_to_withdraw", _l("Your membership is not cancelled."),
                      status=404)
    assert sub.gateway_subscription_id is not None
    ends_on = sub.cancel_at
    try:
        gateway.resume_subscription(
            sub.gateway_subscription_id,
            idempotency_key=f"{sub.idempotency_key}-resume-{ends_on.isoformat()}", now=now,
        )
    except GatewayError as exc:
        raise gateway_down() from exc
    end_read(session)
    with write(session):
        lock_member(session, member)
        sub = locked_get(session, Subscription, sub.id)
        if sub.cancel_at == ends_on:
            sub.cancel_at = None
            sub.cancel_requested_at = None
            sub.updated_at = now
            for m in _linked(session, sub):
                if m.status in OCCUPYING and m.valid_until == ends_on:
                    m.valid_until = None
            audit.record(
                session, action="subscription.cancel_withdrawn", now=now,
                actor_id=member.id, object_type="user", object_id=member.id,
                details={"subscription": sub.id, "tier": sub.tier.slug,
                         "cancel_at_was": ends_on.isoformat()},
            )
            outbox.enqueue(
                session, topic="mail.subscription_cancel_withdrawn", now=now,
                user_id=member.id, payload={"subscription_id": sub.id,
                                            "ends_on_was": ends_on.isoformat()},
                key=f"mail.subscription_cancel_withdrawn:{sub.id}:{ends_on.isoformat()}",
            )
    return sub


# --- the worker ---------------------------------------------------------------------------------


def apply_due(
    session: Session, gateway: PaymentGateway, *, now: datetime, settings: BillingSettings,
) -> int:
    """Finish pending upgrades (a crash between the gateway and us) and apply the planned
    downgrades whose day has come. Runs before the billing job, so the 1st's renewal is
    mirrored at the new tier. Returns the changes applied."""
    today = local_today(now)
    rows = list(session.execute(
        select(SubscriptionChange.id, SubscriptionChange.status).where(
            SubscriptionChange.status.in_(UNFINISHED),
            SubscriptionChange.effective_on <= today + timedelta(days=1),
        ).order_by(SubscriptionChange.id)
    ))
    end_read(session)
    done = 0
    for change_id, status in rows:
        try:
            if status is ChangeStatus.PENDING:
                _push(session, gateway, change_id=change_id, now=now, settings=settings)
                done += 1
            elif _apply_planned(session, change_id, today=today, now=now):
                done += 1
        except (GatewayError, PaymentError) as exc:
            log.warning("change %s: %s", change_id, exc)
            end_read(session)
    return done


def _apply_planned(session: Session, change_id: int, *, today: date, now: datetime) -> bool:
    change = session.get(SubscriptionChange, change_id)
    if change is None or change.effective_on > today:
        end_read(session)
        return False
    member = change.subscription.user
    with write(session):
        lock_member(session, member)
        change = locked_get(session, SubscriptionChange, change_id)
        if change.status is not ChangeStatus.PLANNED:
            return False
        sub = locked_get(session, Subscription, change.subscription_id)
        if not sub.is_open or (sub.cancel_at is not None and sub.cancel_at < change.effective_on):
            change.withdraw(now=now)
            return False
        _switch(session, change, now=now)
    return True
