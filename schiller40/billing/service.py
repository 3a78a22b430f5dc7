"""The use cases of monthly fees: sign up, come back from the checkout, mirror the gateway,
renew, dun, replace the payment method.

The gateway (Stripe Billing, or the simulation) owns the remote subscription and its
invoices; ``sync`` re-fetches them and mirrors them onto our rows, forward only, and draws the
consequences that are ours: the membership (created on the first activation, PAUSED while
suspended, ended with the subscription), ``paid_through`` (which bounds the included credit),
the dunning stages by date, mails and audit entries. Every function may run again at any
time, on several workers at once: a second run finds nothing to change.

Gateway calls never run inside a transaction: the gateway is asked first (or after a commit),
then one ``write`` block locks the member and the subscription (in that order: member →
subscription) and writes. The actor and the clock are arguments.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..accounts.locks import lock_member
from ..accounts.models import User
from ..booking.rules import split_vat
from ..core import audit, outbox
from ..core.locking import end_read, is_unique_violation, locked_get, write
from ..core.time import to_local
from ..errors import Conflict, InvalidInput, NotFound
from ..membership import signup
from ..membership.models import Membership, MembershipStatus, Tier
from ..membership.service import place_membership
from ..membership.tiers import fee_less_tier
from ..payments.gateway import (
    GatewayError,
    PaymentGateway,
    RemoteInvoice,
    RemoteSubscription,
    SetupCheckoutRequest,
    SubscriptionCheckoutRequest,
)
from ..payments.simulated import SimulatedGateway
from . import rules
from .models import (
    OPEN_STATUSES,
    BillingPeriod,
    PaymentMethodKind,
    PeriodKind,
    PeriodStatus,
    Subscription,
    SubscriptionStatus,
)
from .settings import BillingSettings

log = logging.getLogger(__name__)

# How long a sign-up or payment-method checkout stays open.
CHECKOUT_LIFETIME = timedelta(hours=1)
# Stripe's billing_reason -> our period kind.
KINDS = {
    "subscription_create": PeriodKind.FIRST,
    "subscription_cycle": PeriodKind.RENEWAL,
    "subscription_update": PeriodKind.PRORATION,
}
# Remote subscription statuses that count as running (paid up or in its first period).
RUNNING = ("active", "trialing")


@dataclass(frozen=True)
class CheckoutUrls:
    success: str  # may contain {CHECKOUT_SESSION_ID}
    cancel: str


def local_today(now: datetime) -> date:
    return to_local(now).date()


def _field(name: str, message: Any) -> InvalidInput:
    return InvalidInput(message, fields={name: [str(message)]})


# --- reading ----------------------------------------------------------------------------------


def open_subscription(session: Session, user_id: int) -> Subscription | None:
    return session.scalar(
        select(Subscription).where(
            Subscription.user_id == user_id, Subscription.status.in_(OPEN_STATUSES)
        )
    )


def latest_subscription(session: Session, user_id: int) -> Subscription | None:
    """The open subscription, else the most recent one (what the account page shows)."""
    return open_subscription(session, user_id) or session.scalar(
        select(Subscription).where(Subscription.user_id == user_id)
        .order_by(Subscription.created_at.desc(), Subscription.id.desc()).limit(1)
    )


def monthly_tier(session: Session, slug: str, user_id: int) -> Tier:
    """A tier the member may take online and pay monthly for: active, with a monthly price,
    and self-service, or one staff confirmed the member's request for (not yet used). Other
    on-request and staff-only tiers are not sold here: 404."""
    tier = session.scalar(select(Tier).where(Tier.slug == slug))
    if tier is None or not _sold_to(session, tier, user_id):
        raise NotFound()
    return tier


def _sold_to(session: Session, tier: Tier, user_id: int) -> bool:
    if not tier.is_active:
        return False
    return tier.subscribed_online or signup.awaiting_payment(session, user_id, tier.id) is not None


def confirmed_start(session: Session, user_id: int, tier_id: int) -> date | None:
    """The start day staff chose when they confirmed the member's request for the tier."""
    request = signup.awaiting_payment(session, user_id, tier_id)
    return request.starts_on if request is not None else None


def next_charge(sub: Subscription) -> tuple[date, int] | None:
    """The day and gross amount of the next charge (None when none is coming)."""
    if sub.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE):
        return None
    if sub.current_period_end is None:
        return None
    day = rules.next_period_start(sub.current_period_end)
    if sub.cancel_at is not None and sub.cancel_at < day:
        return None
    return day, sub.gross_monthly_cents


# --- signing up -------------------------------------------------------------------------------


def start_subscription(
    session: Session,
    gateway: PaymentGateway,
    *,
    member: User,
    tier_id: int,
    starts_on: date,
    payment_method: str,
    now: datetime,
    settings: BillingSettings,
    urls: Callable[[int], CheckoutUrls],
    locale: str = "de",
) -> Subscription:
    """Open (or reopen) the checkout for a monthly fee from ``starts_on`` (today or the 1st
    of next month). A double submit ends at the same subscription and the same checkout:
    the member's lock serialises the two requests, and the database's one-open-subscription
    index catches anything that slips past it."""
    try:
        sub, stale_checkout = _create(
            session, member=member, tier_id=tier_id, starts_on=starts_on,
            payment_method=payment_method, now=now, settings=settings, provider=gateway.name,
        )
    except IntegrityError as exc:
        if not is_unique_violation(exc, "subscription", "user_id") and (
            "uq_subscription_open_user" not in str(exc.orig)
        ):
            raise
        end_read(session)
        found = open_subscription(session, member.id)
        if found is None:
            raise
        sub, stale_checkout = found, None
    if stale_checkout is not None:
        try:
            gateway.expire_subscription_checkout(stale_checkout, now=now)
        except GatewayError:
            log.warning("could not expire the abandoned checkout %s", stale_checkout)
    if sub.status is not SubscriptionStatus.INCOMPLETE or sub.checkout_url is not None:
        return sub
    charge = rules.charge(
        sub.starts_on, unit_amount_cents=sub.monthly_amount_cents, quantity=sub.quantity,
        vat_percent=settings.vat_percent,
    )
    links = urls(sub.id)
    request = SubscriptionCheckoutRequest(
        subscription_id=sub.id, customer_email=member.email,
        customer_ref=_earlier_customer(session, member.id, gateway.name),
        tier_id=sub.tier_id, user_id=member.id, product_name=sub.tier.name,
        unit_amount_cents=sub.monthly_amount_cents, quantity=sub.quantity,
        currency=sub.currency, starts_on=sub.starts_on, first_period_end=charge.period_end,
        first_amount_cents=charge.amount_cents,
        payment_method=(sub.payment_method or PaymentMethodKind.CARD).value,
        success_url=links.success, cancel_url=links.cancel,
        idempotency_key=sub.idempotency_key, expires_at=now + CHECKOUT_LIFETIME,
        locale=locale,
    )
    end_read(session)  # no transaction open while the gateway is asked
    checkout = gateway.create_subscription_checkout(request, now=now)
    with write(session):
        sub = locked_get(session, Subscription, request.subscription_id)
        if sub.checkout_id is None:
            sub.checkout_id = checkout.id
            sub.checkout_url = checkout.url
            sub.updated_at = now
    return sub


def _earlier_customer(session: Session, user_id: int, provider: str) -> str | None:
    """The gateway customer of the member's earlier subscriptions, so a member stays one
    customer at the gateway however often they sign up again."""
    return session.scalar(
        select(Subscription.customer_ref).where(
            Subscription.user_id == user_id, Subscription.provider == provider,
            Subscription.customer_ref.is_not(None),
        ).order_by(Subscription.id.desc()).limit(1)
    )


def _create(
    session: Session, *, member: User, tier_id: int, starts_on: date, payment_method: str,
    now: datetime, settings: BillingSettings, provider: str,
) -> tuple[Subscription, str | None]:
    today = local_today(now)
    stale: str | None = None
    with write(session):
        lock_member(session, member)
        session.refresh(member)
        tier = session.get(Tier, tier_id)
        if tier is None or not _sold_to(session, tier, member.id):
            raise NotFound()
        try:
            method = PaymentMethodKind(payment_method)
        except ValueError:
            raise _field("payment_method", _l("Please choose how you want to pay.")) from None
        try:
            rules.first_charge(
                starts_on, today=today, unit_amount_cents=tier.monthly_price_cents,
                quantity=1, vat_percent=settings.vat_percent,
            )
        except rules.StartNotAllowed:
            raise _field(
                "starts_on", _l("Please start today or on the first of next month.")
            ) from None
        existing = open_subscription(session, member.id)
        if existing is not None:
            if existing.status is not SubscriptionStatus.INCOMPLETE:
                raise Conflict(_l(
                    "You already pay monthly for %(tier)s. To change your tier, please "
                    "contact the Schiller40 team.", tier=existing.tier.name,
                ))
            if (existing.tier_id, existing.starts_on, existing.payment_method) == (
                tier.id, starts_on, method
            ):
                return existing, None  # a double submit, or back from the checkout
            stale = existing.checkout_id
            _cancel(session, existing, now=now, reason="replaced")
            session.flush()
        _check_no_planned_membership(member, starts_on)
        sub = Subscription(
            user=member, tier=tier, quantity=1, monthly_amount_cents=tier.monthly_price_cents,
            currency=settings.currency, provider=provider,
            status=SubscriptionStatus.INCOMPLETE, payment_method=method, starts_on=starts_on,
            created_at=now, updated_at=now,
        )
        session.add(sub)
        session.flush()  # a concurrent open subscription of this member fails here
        audit.record(
            session, action="subscription.started", now=now, actor_id=member.id,
            object_type="user", object_id=member.id,
            details={"subscription": sub.id, "tier": tier.slug,
                     "starts_on": starts_on.isoformat(), "payment_method": method.value,
                     "monthly_cents": tier.monthly_price_cents},
        )
    return sub, stale


def _check_no_planned_membership(member: User, starts_on: date) -> None:
    """A paid membership planned by staff from ``starts_on`` or later: the member would pay
    for a tier they cannot have. (A fee-less one is simply replaced.)"""
    for m in member.memberships:
        if (
            m.status in (MembershipStatus.ACTIVE, MembershipStatus.PAUSED)
            and m.valid_from >= starts_on and m.tier.monthly_price_cents > 0
        ):
            raise Conflict(_l(
                "A membership in %(tier)s is already planned for you. Please contact the "
                "Schiller40 team.", tier=m.tier.name,
            ))


def _cancel(session: Session, sub: Subscription, *, now: datetime, reason: str) -> None:
    if sub.move_to(SubscriptionStatus.CANCELLED, now=now):
        audit.record(
            session, action="subscription.cancelled", now=now, actor_id=None,
            object_type="user", object_id=sub.user_id,
            details={"subscription": sub.id, "reason": reason},
        )


# --- back from the checkout, and mirroring the gateway ---------------------------------------


def refresh_checkout(
    session: Session, gateway: PaymentGateway, *, subscription_id: int, now: datetime,
    settings: BillingSettings,
) -> Subscription:
    """Back from the sign-up checkout (or found by the worker): ask the gateway, never the
    URL. Complete: link the remote subscription and ``sync``; expired: cancelled."""
    sub = session.get(Subscription, subscription_id)
    if sub is None:
        raise NotFound()
    if sub.status is SubscriptionStatus.INCOMPLETE and sub.checkout_id is not None:
        checkout = gateway.get_subscription_checkout(sub.checkout_id, now=now)
        end_read(session)
        if checkout.status == "complete" and checkout.subscription is not None:
            return sync(session, gateway, subscription_id=subscription_id, now=now,
                        settings=settings, remote=checkout.subscription)
        if checkout.status == "expired":
            with write(session):
                sub = locked_get(session, Subscription, subscription_id)
                if sub.status is SubscriptionStatus.INCOMPLETE:
                    _cancel(session, sub, now=now, reason="checkout_expired")
            return sub
        return sub
    if sub.gateway_subscription_id is not None and sub.is_open:
        return sync(session, gateway, subscription_id=subscription_id, now=now,
                    settings=settings)
    return sub


def sync(
    session: Session, gateway: PaymentGateway, *, subscription_id: int, now: datetime,
    settings: BillingSettings, remote: RemoteSubscription | None = None,
) -> Subscription:
    """Re-fetch the remote subscription and its invoices and mirror them here (what a
    verified webhook calls too). Ends the subscription at the gateway first when the
    dunning timeline says so. Idempotent."""
    sub = session.get(Subscription, subscription_id)
    if sub is None:
        raise NotFound()
    ref = remote.id if remote is not None else sub.gateway_subscription_id
    if ref is None or sub.is_final:
        return sub
    if remote is None:
        remote = gateway.get_subscription(ref, now=now)
    today = local_today(now)
    unpaid = any(i.status == "open" and i.attempt_count > 0 for i in remote.invoices)
    if (
        remote.status != "canceled" and unpaid and sub.past_due_since is not None
        and settings.policy.stage(sub.past_due_since, today) == "ended"
    ):
        remote = gateway.cancel_subscription(
            ref, at=None, idempotency_key=f"{sub.idempotency_key}-end", now=now
        )
    end_read(session)
    with write(session):
        if sub.user is not None:
            lock_member(session, sub.user)
        sub = locked_get(session, Subscription, subscription_id)
        if not sub.is_final:
            _mirror(session, sub, remote, now=now, settings=settings)
            _advance(session, sub, remote, now=now, settings=settings)
    return sub


def _mirror(
    session: Session, sub: Subscription, remote: RemoteSubscription, *, now: datetime,
    settings: BillingSettings,
) -> None:
    if sub.gateway_subscription_id is None:
        sub.gateway_subscription_id = remote.id
    sub.customer_ref = remote.customer_ref
    method_changed = (sub.payment_method_label, sub.mandate_reference) != (
        remote.payment_method_label, remote.mandate_reference) and sub.payment_method_label
    sub.payment_method = PaymentMethodKind(remote.payment_method)
    sub.payment_method_label = remote.payment_method_label
    sub.mandate_reference = remote.mandate_reference
    if method_changed:
        audit.record(
            session, action="subscription.method_updated", now=now, actor_id=None,
            object_type="user", object_id=sub.user_id,
            details={"subscription": sub.id, "payment_method": remote.payment_method,
                     "label": remote.payment_method_label,
                     "mandate_reference": remote.mandate_reference},
        )
    if remote.status in RUNNING or remote.status == "past_due":
        sub.current_period_start = remote.current_period_start
        sub.current_period_end = remote.current_period_end
    if remote.cancel_at != sub.cancel_at and remote.cancel_at is not None:
        sub.cancel_at = remote.cancel_at
    for invoice in remote.invoices:
        if invoice.amount_cents > 0:
            _mirror_invoice(session, sub, invoice, now=now, settings=settings)
    paid = rules.paid_through([
        (p.period_start, p.period_end, p.status is PeriodStatus.PAID)
        for p in sub.periods if p.kind is not PeriodKind.PRORATION
    ])
    if paid != sub.paid_through:
        sub.paid_through = paid
        for membership in _memberships(session, sub):
            membership.paid_through = paid
    sub.updated_at = now


def _mirror_invoice(
    session: Session, sub: Subscription, invoice: RemoteInvoice, *, now: datetime,
    settings: BillingSettings,
) -> None:
    period = next((p for p in sub.periods if p.gateway_invoice_id == invoice.id), None)
    kind = KINDS.get(invoice.billing_reason, PeriodKind.RENEWAL)
    if kind is PeriodKind.RENEWAL and not any(
        p.kind is not PeriodKind.PRORATION for p in sub.periods if p is not period
    ):
        kind = PeriodKind.FIRST  # the first charge of a subscription that started on a 1st
    if period is None:
        period = next(
            (p for p in sub.periods
             if p.kind is kind and p.period_start == invoice.period_start), None,
        )
    if period is None:
        net, tax = split_vat(invoice.amount_cents, settings.vat_percent)
        days = (invoice.period_end - invoice.period_start).days + 1
        period = BillingPeriod(
            subscription=sub, kind=kind, period_start=invoice.period_start,
            period_end=invoice.period_end, unit_amount_cents=sub.monthly_amount_cents,
            quantity=sub.quantity, days_billed=days,
            days_in_month=rules.days_in_month(invoice.period_start),
            amount_cents=invoice.amount_cents, net_cents=net, tax_cents=tax,
            vat_percent=settings.vat_percent, currency=sub.currency,
            status=PeriodStatus.OPEN, due_on=invoice.period_start, attempts=0,
            created_at=now, updated_at=now,
        )
        session.add(period)
        expected = rules.charge(
            invoice.period_start, unit_amount_cents=sub.monthly_amount_cents,
            quantity=sub.quantity, vat_percent=settings.vat_percent,
        ).amount_cents
        if kind is not PeriodKind.PRORATION and expected != invoice.amount_cents:
            log.warning("subscription %s: invoice %s is %s cents, our rules say %s",
                        sub.id, invoice.id, invoice.amount_cents, expected)
    period.gateway_invoice_id = invoice.id
    if invoice.charge_id:
        period.gateway_charge_id = invoice.charge_id
    if invoice.attempt_count > period.attempts:
        period.attempts = invoice.attempt_count
        period.last_attempt_at = now
    if invoice.status == "paid":
        target = PeriodStatus.PAID
    elif invoice.status in ("void", "uncollectible"):
        target = PeriodStatus.VOID
    elif invoice.attempt_count > 0 and invoice.last_error:
        target = PeriodStatus.FAILED
        period.failure_message = invoice.last_error[:500]
    else:
        target = PeriodStatus.OPEN
    if period.move_to(target, now=now):
        if target is PeriodStatus.PAID and invoice.paid_at is not None:
            period.paid_at = invoice.paid_at
        audit.record(
            session, now=now, actor_id=None,
            action=(
                "subscription.period_paid" if target is PeriodStatus.PAID
                else "subscription.period_failed" if target is PeriodStatus.FAILED
                else "subscription.period_void"
            ),
            object_type="user", object_id=sub.user_id,
            details={"subscription": sub.id, "period": period.id, "kind": period.kind.value,
                     "period_start": period.period_start.isoformat(),
                     "amount_cents": period.amount_cents, "invoice": invoice.id,
                     "attempts": period.attempts, "error": invoice.last_error},
        )


def _memberships(session: Session, sub: Subscription) -> list[Membership]:
    session.flush()
    return list(session.scalars(
        select(Membership).where(Membership.subscription_id == sub.id).order_by(Membership.id)
    ))


def _record(session: Session, sub: Subscription, now: datetime, *, action: str,
            **details: Any) -> None:
    audit.record(
        session, action=action, now=now, actor_id=None, object_type="user",
        object_id=sub.user_id,
        details={"subscription": sub.id, "tier": sub.tier.slug, **details},
    )


def _mail(session: Session, sub: Subscription, topic: str, key: str, now: datetime,
          **payload: Any) -> None:
    if sub.user_id is None:
        return
    outbox.enqueue(
        session, topic=topic, now=now, user_id=sub.user_id,
        payload={"subscription_id": sub.id, **payload}, key=f"{topic}:{sub.id}:{key}",
    )


def _advance(
    session: Session, sub: Subscription, remote: RemoteSubscription, *, now: datetime,
    settings: BillingSettings,
) -> None:
    """Our status from the mirrored periods and the date: forward only, each step audited
    and told."""
    today = local_today(now)
    if remote.status in ("canceled", "incomplete_expired"):
        if sub.status is SubscriptionStatus.INCOMPLETE:
            _cancel(session, sub, now=now, reason="gateway")
        else:
            _end(session, sub, now=now, reason="unpaid" if sub.past_due_since else "cancelled")
        return
    failed = [p for p in sub.periods if p.status is PeriodStatus.FAILED]
    if failed:
        since = sub.past_due_since or min(p.due_on for p in failed)
        if sub.past_due_since is None:
            sub.past_due_since = since
        if sub.status is SubscriptionStatus.INCOMPLETE:
            return  # a first charge that failed: the member is still on the checkout
        if sub.move_to(SubscriptionStatus.PAST_DUE, now=now):
            _record(session, sub, now, action="subscription.past_due",
                    since=since.isoformat(), periods=[p.id for p in failed])
            _mail(session, sub, "mail.subscription_payment_failed", since.isoformat(), now)
        for period in failed:
            period.next_attempt_on = settings.policy.next_retry(since, after=today)
        if (
            settings.policy.stage(since, today) in ("suspended", "ended")
            and sub.move_to(SubscriptionStatus.SUSPENDED, now=now)
        ):
            for membership in _memberships(session, sub):
                if membership.status is MembershipStatus.ACTIVE and (
                    membership.valid_until is None or membership.valid_until >= today
                ):
                    membership.status = MembershipStatus.PAUSED
            _record(session, sub, now, action="subscription.suspended", since=since.isoformat())
            _mail(session, sub, "mail.subscription_suspended", since.isoformat(), now)
        return
    if remote.status not in RUNNING:
        return
    was = sub.status
    if was is SubscriptionStatus.INCOMPLETE:
        if remote.status == "active" and sub.starts_on <= today and sub.paid_through is None:
            return  # the first charge is still on its way
        sub.move_to(SubscriptionStatus.ACTIVE, now=now)
        _activate(session, sub, now=now)
        return
    if sub.move_to(SubscriptionStatus.ACTIVE, now=now):
        for membership in _memberships(session, sub):
            if membership.status is MembershipStatus.PAUSED:
                membership.status = MembershipStatus.ACTIVE
        _record(session, sub, now, action="subscription.reactivated", was=was.value)


def _activate(session: Session, sub: Subscription, *, now: datetime) -> None:
    """The first activation: the membership from the start day, linked; a fee-less one
    that would begin on or after it is replaced."""
    member = sub.user
    if member is None:
        return
    if not _memberships(session, sub):
        for m in member.memberships:
            if (
                m.status in (MembershipStatus.ACTIVE, MembershipStatus.PAUSED)
                and m.valid_from >= sub.starts_on and m.tier.monthly_price_cents == 0
                and m.subscription_id is None
            ):
                m.status = MembershipStatus.CANCELLED
        try:
            membership = place_membership(
                session, member=member, tier=sub.tier, valid_from=sub.starts_on,
                valid_until=None, now=now, actor_id=None, subscription_id=sub.id,
                paid_through=sub.paid_through,
            )
            confirmed = signup.awaiting_payment(session, member.id, sub.tier_id)
            if confirmed is not None:  # the confirmed request is used now
                confirmed.use(membership)
        except Conflict:
            # Staff planned a paid tier meanwhile: the subscription runs, staff decide.
            log.warning("subscription %s: a planned membership blocks its tier", sub.id)
    first = next((p for p in sub.periods if p.kind is PeriodKind.FIRST), None)
    _record(session, sub, now, action="subscription.activated",
            starts_on=sub.starts_on.isoformat(),
            first_amount_cents=first.amount_cents if first else None)
    _mail(session, sub, "mail.subscription_welcome", "welcome", now)


def _end(
    session: Session, sub: Subscription, *, now: datetime, reason: str, fallback: bool = True
) -> None:
    """Over: the membership ends yesterday (or never began), unpaid periods are written
    off, and the member is back on the fee-less tier if there is one."""
    if not sub.move_to(SubscriptionStatus.ENDED, now=now):
        return
    today = local_today(now)
    for period in sub.periods:
        period.move_to(PeriodStatus.VOID, now=now)
    for membership in _memberships(session, sub):
        if membership.status is MembershipStatus.CANCELLED:
            continue
        if membership.valid_from >= today:
            membership.status = MembershipStatus.CANCELLED
        else:
            membership.status = MembershipStatus.ACTIVE
            if membership.valid_until is None or membership.valid_until >= today:
                membership.valid_until = today - timedelta(days=1)
    member = sub.user
    fee_less = fee_less_tier(session) if fallback else None
    if member is not None and fee_less is not None:
        with contextlib.suppress(Conflict):  # staff planned something else already
            place_membership(
                session, member=member, tier=fee_less, valid_from=today, valid_until=None,
                now=now, actor_id=None,
            )
    _record(session, sub, now, action="subscription.ended", reason=reason)
    _mail(session, sub, "mail.subscription_ended", "ended", now, reason=reason)


def end_now(
    session: Session, gateway: PaymentGateway, *, user_id: int, now: datetime, reason: str,
) -> Subscription | None:
    """End the member's open subscription at once (their account is being deleted): no
    further charge; cancelled at the gateway first, then here. None if there is none."""
    sub = open_subscription(session, user_id)
    if sub is None:
        return None
    subscription_id = sub.id
    if sub.gateway_subscription_id is not None:
        gateway.cancel_subscription(sub.gateway_subscription_id, at=None,
                                    idempotency_key=f"{sub.idempotency_key}-end", now=now)
    elif sub.checkout_id is not None:
        with contextlib.suppress(GatewayError):
            gateway.expire_subscription_checkout(sub.checkout_id, now=now)
    end_read(session)
    with write(session):
        sub = locked_get(session, Subscription, subscription_id)
        if sub.status is SubscriptionStatus.INCOMPLETE:
            _cancel(session, sub, now=now, reason=reason)
        else:
            _end(session, sub, now=now, reason=reason, fallback=False)
    return sub


# --- the worker -------------------------------------------------------------------------------


@dataclass
class BillingReport:
    billed: int = 0
    synced: int = 0
    retried: int = 0
    notices: int = 0
    failed: list[int] = field(default_factory=list)


def run_billing(
    session: Session, gateway: PaymentGateway, *, now: datetime, settings: BillingSettings
) -> BillingReport:
    """One pass: the gateway bills what is due (the simulation's renewals on the 1st),
    then every open subscription is retried when a retry is due and synced, and the
    pre-notifications of the coming charges are queued."""
    report = BillingReport(billed=gateway.run_billing(now=now))
    today = local_today(now)
    # A remote gateway is asked about each running subscription at most this often (Stripe:
    # webhooks tell us at once; this pass only repairs lost ones, within Stripe's rate
    # limits). Sign-ups waiting for their checkout and subscriptions with a retry due are
    # asked on every pass.
    interval: timedelta = getattr(gateway, "reconcile_interval", timedelta(0))
    ids = list(session.scalars(
        select(Subscription.id).where(Subscription.status.in_(OPEN_STATUSES))
        .order_by(Subscription.id)
    ))
    end_read(session)
    for subscription_id in ids:
        try:
            retried = _retry_due(session, gateway, subscription_id, today, now)
            report.retried += retried
            sub = session.get(Subscription, subscription_id)
            if sub is None:
                continue
            if (
                interval and not retried and sub.status is not SubscriptionStatus.INCOMPLETE
                and sub.updated_at > now - interval
            ):
                end_read(session)
                continue
            if sub.status is SubscriptionStatus.INCOMPLETE:
                if sub.checkout_id is not None:
                    refresh_checkout(session, gateway, subscription_id=subscription_id,
                                     now=now, settings=settings)
            else:
                sync(session, gateway, subscription_id=subscription_id, now=now,
                     settings=settings)
            report.synced += 1
        except GatewayError as exc:
            log.warning("billing: subscription %s: %s", subscription_id, exc)
            report.failed.append(subscription_id)
            end_read(session)
    report.notices = _prenotices(session, today=today, now=now, settings=settings)
    return report


def _retry_due(
    session: Session, gateway: PaymentGateway, subscription_id: int, today: date,
    now: datetime,
) -> int:
    periods = [
        (p.gateway_invoice_id, f"{p.idempotency_key}-{p.next_attempt_on.isoformat()}")
        for p in session.scalars(
            select(BillingPeriod).where(
                BillingPeriod.subscription_id == subscription_id,
                BillingPeriod.status == PeriodStatus.FAILED,
                BillingPeriod.next_attempt_on <= today,
                BillingPeriod.gateway_invoice_id.is_not(None),
            )
        )
        if p.next_attempt_on is not None
    ]
    end_read(session)
    for invoice_id, key in periods:
        assert invoice_id is not None
        gateway.pay_invoice(invoice_id, idempotency_key=key, now=now)
    return len(periods)


def _prenotices(
    session: Session, *, today: date, now: datetime, settings: BillingSettings
) -> int:
    """Tell members ``notice_days`` ahead of each charge (for SEPA: the pre-notification,
    with amount, date, mandate reference and creditor id). Keyed per subscription and
    charge day: once, however many passes and workers see it."""
    horizon = today + timedelta(days=settings.notice_days)
    due = [
        sub for sub in session.scalars(
            select(Subscription).where(
                Subscription.status == SubscriptionStatus.ACTIVE,
                Subscription.current_period_end.is_not(None),
                Subscription.current_period_end < horizon,
            )
        )
        if (charge := next_charge(sub)) is not None and today < charge[0] <= horizon
    ]
    end_read(session)
    if not due:
        return 0
    with write(session):
        for sub in due:
            day, amount = next_charge(sub) or (today, 0)
            _mail(session, sub, "mail.subscription_prenotice", day.isoformat(), now,
                  charge_on=day.isoformat(), amount_cents=amount)
    return len(due)


# --- the payment method -----------------------------------------------------------------------


def open_method_update(
    session: Session, gateway: PaymentGateway, *, member: User, payment_method: str,
    now: datetime, urls: CheckoutUrls, locale: str = "de",
) -> str:
    """The address of a checkout that replaces the payment method of the member's
    subscription (the link in the "payment failed" mail leads here)."""
    sub = open_subscription(session, member.id)
    if sub is None or not sub.can_update_payment_method():
        raise NotFound()
    try:
        method = PaymentMethodKind(payment_method)
    except ValueError:
        raise _field("payment_method", _l("Please choose how you want to pay.")) from None
    assert sub.gateway_subscription_id is not None
    checkout = gateway.create_setup_checkout(
        SetupCheckoutRequest(
            subscription_id=sub.id, gateway_subscription_id=sub.gateway_subscription_id,
            payment_method=method.value, success_url=urls.success, cancel_url=urls.cancel,
            # one checkout per minute and method: a double click opens one
            idempotency_key=f"{sub.idempotency_key}-{method.value[0]}{now:%y%m%d%H%M}",
            expires_at=now + CHECKOUT_LIFETIME, locale=locale,
        ),
        now=now,
    )
    assert checkout.url is not None
    return checkout.url


def finish_method_update(
    session: Session, gateway: PaymentGateway, *, member: User, checkout_id: str,
    now: datetime, settings: BillingSettings,
) -> Subscription:
    """Back from the payment-method checkout: with the new method, the unpaid periods are
    charged at once; paid, past due or suspension ends now."""
    sub = open_subscription(session, member.id)
    if sub is None:
        raise NotFound()
    checkout = gateway.get_subscription_checkout(checkout_id, now=now)
    if (
        checkout.mode != "setup" or checkout.subscription is None
        or checkout.subscription.id != sub.gateway_subscription_id
    ):
        raise NotFound()
    if checkout.status == "complete":
        for period in sub.unpaid_periods():
            if period.gateway_invoice_id is not None:
                gateway.pay_invoice(
                    period.gateway_invoice_id,
                    idempotency_key=f"{period.idempotency_key}-after-{checkout_id}", now=now,
                )
    end_read(session)
    return sync(session, gateway, subscription_id=sub.id, now=now, settings=settings)


# --- the test page (simulated gateway only) ---------------------------------------------------


def make_next_renewal_fail(
    session: Session, gateway: PaymentGateway, *, actor: User, subscription_id: int,
    now: datetime,
) -> Subscription:
    """Staff or development: every charge of this subscription fails until its payment
    method is replaced. Only with the simulated gateway."""
    if not isinstance(gateway, SimulatedGateway):
        raise NotFound()
    sub = session.get(Subscription, subscription_id)
    if sub is None or sub.gateway_subscription_id is None or not sub.is_open:
        raise NotFound()
    gateway.set_failing(sub.gateway_subscription_id, True, now=now)
    end_read(session)
    with write(session):
        audit.record(
            session, action="subscription.failure_armed", now=now, actor_id=actor.id,
            object_type="user", object_id=sub.user_id, details={"subscription": sub.id},
        )
    return sub
