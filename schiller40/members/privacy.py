"""A member's rights over their data (GDPR/DSGVO): a copy of everything (art. 15 and 20) and
erasure (art. 17).

**Export** gathers every record about the member into one JSON document: profile, company,
memberships, inductions, bookings (local times with offset), payments with refunds, monthly
fees (subscriptions with their charges), waitlist
entries, calendar feeds and API tokens (metadata only: a feed's URL and a token are secrets
that would let whoever holds the file read or act as the member), and the audit entries where
the member acted or is the subject. Nothing of another member is included; audit entries
about other people's things that the member acted on (staff) carry no details.

**Erasure** cannot simply delete the user row: bookings, payments and refunds are kept for
accounting (HGB § 257, AO § 147), so the row stays as an anonymous stub they point at. In
order:

1. the password is checked and the last active administrator is refused (nothing written);
2. every upcoming booking is cancelled through ``payments.cancellation.cancel_booking``, the same
   way the member's own "Cancel" button does: the cancellation policy's refund is recorded and
   sent to the gateway after that booking's commit; open waitlist entries are withdrawn (an
   offer passes to the next in line);
3. one locked transaction re-checks (a booking made meanwhile sends us back to step 2),
   anonymises the user, ends memberships, removes inductions, waitlist entries, calendar feeds
   and API tokens, blanks free text on the kept bookings and in the audit details about them,
   and records ``user.deleted`` without personal data.

If step 2 is interrupted, the account is still intact and active, and the member can simply
try again: each cancellation is its own finished use case.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, false, or_, select
from sqlalchemy.orm import Session

from ..accounts.models import ApiToken, Company, Role, User
from ..accounts.service import WrongPassword
from ..billing import service as billing
from ..billing.models import Subscription
from ..booking import waitlist
from ..booking.models import Booking, WaitlistEntry, WaitlistStatus
from ..booking.settings import BookingSettings
from ..core import audit
from ..core.audit import AuditEntry
from ..core.locking import end_read, lock_rows, write
from ..core.time import to_local
from ..errors import Conflict, DomainError, NotFound
from ..feeds.models import CalendarFeed
from ..membership.models import Induction, Membership, MembershipRequest, MembershipStatus
from ..payments import cancellation, ledger
from ..payments.gateway import PaymentGateway
from ..payments.ledger import CancellationTerms
from ..payments.models import Payment, RefundStatus

log = logging.getLogger(__name__)

EXPORT_FORMAT = "schiller40-personal-data"
EXPORT_VERSION = 1
# What a deleted account is called wherever it still shows (staff calendars, old bookings).
DELETED_NAME = "Gelöschtes Konto"
# Not a werkzeug hash ("method$salt$hash"), so no password can ever match it.
UNUSABLE_PASSWORD = "!deleted"  # noqa: S105
# Free-text keys in audit details that may hold what a person wrote about themselves.
FREE_TEXT_KEYS = ("reason", "note")
ROUNDS = 3


def deleted_email(user_id: int) -> str:
    """Unique (the id is) and undeliverable: ``.invalid`` is reserved (RFC 2606)."""
    return f"deleted-{user_id}@invalid"


class LastAdmin(DomainError):
    code = "last_admin"
    status = 409
    default_message = _l(
        "You are the last administrator. Make another person an administrator before you "
        "delete your account."
    )


class AccountChanged(Conflict):
    code = "account_changed"
    default_message = _l(
        "New bookings kept arriving while your account was being deleted. Please try again."
    )


# --- export --------------------------------------------------------------------------------


def _iso(instant: datetime | None, tz: Any = None) -> str | None:
    if instant is None:
        return None
    return instant.astimezone(tz).isoformat() if tz is not None else to_local(instant).isoformat()


def _booking(booking: Booking, now: datetime) -> dict[str, Any]:
    resource = booking.resource
    tz = resource.location.tz
    return {
        "id": booking.id,
        "uid": booking.uid,
        "resource": {"slug": resource.slug, "name": resource.name, "kind": resource.kind.value},
        "location": resource.location.name,
        "start": _iso(booking.starts_at, tz),
        "end": _iso(booking.ends_at, tz),
        # A hold whose time ran out is expired, even before the worker has marked it so.
        "status": booking.effective_status(now).value,
        "price": {
            "gross_cents": booking.price_gross_cents,
            "net_cents": booking.price_net_cents,
            "tax_cents": booking.price_tax_cents,
            "currency": current_app.config["CURRENCY"],
        },
        "included_credit_used": {
            "half_days": booking.credit_half_days, "minutes": booking.credit_minutes,
        },
        "note": booking.note,
        "booked_by_staff": booking.created_by_id not in (None, booking.user_id),
        "series_uid": booking.series_uid,
        "payment_id": booking.payment_id,
        "created_at": _iso(booking.created_at, tz),
        "updated_at": _iso(booking.updated_at, tz),
        "cancelled_at": _iso(booking.cancelled_at, tz),
        "cancel_reason": booking.cancel_reason,
        "checked_in_at": _iso(booking.checked_in_at, tz),
        "released_as_no_show_at": _iso(booking.no_show_at, tz),
    }


def _payment(payment: Payment, own_booking_ids: set[int]) -> dict[str, Any]:
    return {
        "id": payment.id,
        "provider": payment.provider,
        "status": payment.status.value,
        "amount_cents": payment.amount_cents,
        "net_cents": payment.net_cents,
        "tax_cents": payment.tax_cents,
        "currency": payment.currency,
        "received_cents": payment.received_cents,
        "refunded_cents": payment.refunded_cents,
        "booking_ids": [b.id for b in payment.bookings if b.id in own_booking_ids],
        "created_at": _iso(payment.created_at),
        "updated_at": _iso(payment.updated_at),
        # How it was paid (online, desk_cash, desk_card, invoice), whether staff recorded it
        # (not who: that is the staff member's data), and for a bank transfer when it arrived.
        "method": payment.method.value,
        "recorded_by_staff": payment.recorded_by_id is not None,
        "billed_to_company": payment.company_id is not None,
        "settled_at": _iso(payment.settled_at),
        "transfer_reference": payment.transfer_reference,
        "charges": [
            {
                "id": c.id,
                "description": c.description,
                "vat_percent": c.vat_percent,
                "gross_cents": c.gross_cents,
                "net_cents": c.net_cents,
                "tax_cents": c.tax_cents,
                "created_at": _iso(c.created_at),
            }
            for c in payment.charges
        ],
        "refunds": [
            {
                "id": r.id,
                "booking_id": r.booking_id,
                "amount_cents": r.amount_cents,
                "status": r.status.value,
                "reason": r.reason.value,
                "note": r.note,
                "created_at": _iso(r.created_at),
            }
            for r in payment.refunds
        ],
    }


def _audit_entries(
    session: Session, user: User, own: dict[str, set[int]]
) -> list[dict[str, Any]]:
    """Entries where the member acted or whose object is theirs.

    Details are shown only for the member's own objects: a staff member's entry about another
    member's booking may name that member or quote what they wrote.
    """
    about_own = [
        and_(AuditEntry.object_type == kind, AuditEntry.object_id.in_(ids))
        for kind, ids in own.items() if ids
    ]
    entries = session.scalars(
        select(AuditEntry)
        .where(or_(AuditEntry.actor_id == user.id, *about_own))
        .order_by(AuditEntry.at, AuditEntry.id)
    ).all()
    result = []
    for entry in entries:
        mine = entry.object_id in own.get(entry.object_type, set())
        if entry.actor_id == user.id:
            actor = "you"
        elif entry.actor_id is None:
            actor = "system"
        else:
            actor = "staff"
        result.append({
            "at": _iso(entry.at),
            "action": entry.action,
            "actor": actor,
            "channel": entry.channel.value,
            "object_type": entry.object_type,
            "object_id": entry.object_id,
            "details": entry.details if mine else {},
        })
    return result


def export_data(session: Session, *, user: User, now: datetime) -> dict[str, Any]:
    """Everything stored about ``user``, as one JSON-ready document (a read, no writes)."""
    user = session.merge(user)
    bookings = session.scalars(
        select(Booking).where(Booking.user_id == user.id).order_by(Booking.starts_at, Booking.id)
    ).all()
    booking_ids = {b.id for b in bookings}
    payments = session.scalars(
        select(Payment)
        .where(or_(Payment.user_id == user.id,
                   Payment.id.in_({b.payment_id for b in bookings if b.payment_id})))
        .order_by(Payment.id)
    ).all()
    entries = session.scalars(
        select(WaitlistEntry).where(WaitlistEntry.user_id == user.id).order_by(WaitlistEntry.id)
    ).all()
    feeds = session.scalars(
        select(CalendarFeed).where(CalendarFeed.owner_id == user.id).order_by(CalendarFeed.id)
    ).all()
    tokens = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
    ).all()
    own = {
        "user": {user.id},
        "booking": booking_ids,
        "payment": {p.id for p in payments},
        "waitlist_entry": {e.id for e in entries},
        "calendar_feed": {f.id for f in feeds},
        "api_token": {t.id for t in tokens},
    }
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "generated_at": _iso(now),
        "profile": _profile(user),
        "company": _company(user),
        "memberships": [
            _membership(m) for m in sorted(user.memberships, key=lambda m: (m.valid_from, m.id))
        ],
        "membership_requests": [
            _membership_request(r) for r in session.scalars(
                select(MembershipRequest).where(MembershipRequest.user_id == user.id)
                .order_by(MembershipRequest.created_at, MembershipRequest.id)
            )
        ],
        "inductions": [
            {"topic": i.topic, "granted_at": _iso(i.granted_at)}
            for i in sorted(user.inductions, key=lambda i: i.topic)
        ],
        "bookings": [_booking(b, now) for b in bookings],
        "payments": [_payment(p, booking_ids) for p in payments],
        "subscriptions": [
            _subscription(s) for s in session.scalars(
                select(Subscription).where(Subscription.user_id == user.id)
                .order_by(Subscription.id)
            )
        ],
        "waitlist_entries": [_waitlist_entry(e) for e in entries],
        "calendar_feeds": [_feed(f) for f in feeds],
        "api_tokens": [_token(t) for t in tokens],
        "audit_entries": _audit_entries(session, user, own),
    }


def _profile(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role.value,
        "language": user.locale,
        "active": user.is_active,
        "created_at": _iso(user.created_at),
        "last_login_at": _iso(user.last_login_at),
        "email_verified_at": _iso(user.email_verified_at),
    }


def _company(user: User) -> dict[str, Any] | None:
    company: Company | None = user.company
    return None if company is None else {
        "name": company.name,
        "legal_name": company.legal_name,
        "manager": user.is_company_manager,
        "member_cap_desk_days": company.member_cap_desk_days,
        "member_cap_studio_hours": company.member_cap_studio_hours,
        "your_cap_desk_days": user.company_cap_desk_days,
        "your_cap_studio_hours": user.company_cap_studio_hours,
    }


def _membership(m: Membership) -> dict[str, Any]:
    return {
        "tier": {"slug": m.tier.slug, "name": m.tier.name},
        "valid_from": m.valid_from.isoformat(),
        "valid_until": m.valid_until.isoformat() if m.valid_until else None,
        "status": m.status.value,
        "created_at": _iso(m.created_at),
    }


def _membership_request(r: MembershipRequest) -> dict[str, Any]:
    """A request for a tier: what the member wrote and how staff answered (not who)."""
    return {
        "tier": {"slug": r.tier.slug, "name": r.tier.name},
        "status": r.status.value,
        "message": r.message,
        "created_at": _iso(r.created_at),
        "decided_at": _iso(r.decided_at),
        "decline_reason": r.decline_reason or None,
    }


def _subscription(s: Subscription) -> dict[str, Any]:
    """A monthly fee with every charge (amounts in cents, gross = net + tax)."""
    return {
        "id": s.id,
        "tier": {"slug": s.tier.slug, "name": s.tier.name},
        "status": s.status.value,
        "starts_on": s.starts_on.isoformat(),
        "monthly_amount_cents": s.gross_monthly_cents,
        "payment_method": s.payment_method.value if s.payment_method else None,
        "payment_method_label": s.payment_method_label,
        "mandate_reference": s.mandate_reference,
        "paid_through": s.paid_through.isoformat() if s.paid_through else None,
        "charges": [
            {"period_start": p.period_start.isoformat(), "period_end": p.period_end.isoformat(),
             "amount_cents": p.amount_cents, "net_cents": p.net_cents,
             "tax_cents": p.tax_cents, "status": p.status.value,
             "paid_at": _iso(p.paid_at) if p.paid_at else None}
            for p in s.periods
        ],
        "created_at": _iso(s.created_at),
    }


def _waitlist_entry(e: WaitlistEntry) -> dict[str, Any]:
    tz = e.resource.location.tz
    return {
        "id": e.id,
        "resource": e.resource.slug,
        "start": _iso(e.starts_at, tz),
        "end": _iso(e.ends_at, tz),
        "status": e.status.value,
        "offer_expires_at": _iso(e.offer_expires_at, tz),
        "booking_id": e.booking_id,
        "created_at": _iso(e.created_at),
    }


def _feed(f: CalendarFeed) -> dict[str, Any]:
    return {
        "kind": f.kind.value,
        "scope": f.scope,
        "active": f.is_active,
        "created_at": _iso(f.created_at),
        "address_changed_at": _iso(f.rotated_at),
        "switched_off_at": _iso(f.revoked_at),
        "last_fetched_at": _iso(f.last_fetched_at),
    }


def _token(t: ApiToken) -> dict[str, Any]:
    return {
        "id": t.id,
        "created_at": _iso(t.created_at),
        "expires_at": _iso(t.expires_at),
        "last_used_at": _iso(t.last_used_at),
        "revoked_at": _iso(t.revoked_at),
    }


def export_filename(now: datetime) -> str:
    return f"schiller40-my-data-{to_local(now).date().isoformat()}.json"


# --- deletion ------------------------------------------------------------------------------


def upcoming_bookings(session: Session, user_id: int, now: datetime) -> list[Booking]:
    """What deleting the account cancels: exactly what the member could cancel themselves."""
    candidates = session.scalars(
        select(Booking)
        .where(Booking.user_id == user_id, Booking.starts_at > now)
        .order_by(Booking.starts_at, Booking.id)
    ).all()
    return [b for b in candidates if b.can_cancel(now, by_staff=False)]


@dataclass(frozen=True)
class DeletionPreview:
    """Shown before the member confirms: each upcoming booking with what comes back."""

    bookings: list[tuple[Booking, CancellationTerms]]
    ongoing: list[Booking]  # started already: kept (anonymised), not cancelled

    @property
    def refund_cents(self) -> int:
        return sum(t.quote.amount_cents for _b, t in self.bookings if t.payment_state == "paid")


def deletion_preview(
    session: Session, *, user: User, now: datetime, settings: BookingSettings
) -> DeletionPreview:
    user = session.merge(user)
    upcoming = upcoming_bookings(session, user.id, now)
    ongoing = session.scalars(
        select(Booking)
        .where(Booking.user_id == user.id, Booking.starts_at <= now, Booking.ends_at > now)
        .order_by(Booking.starts_at)
    ).all()
    return DeletionPreview(
        bookings=[
            (b, ledger.cancellation_terms(b, now=now, policy=settings.refund_policy))
            for b in upcoming
        ],
        ongoing=[b for b in ongoing if b.is_active],
    )


@dataclass(frozen=True)
class DeletionReport:
    user_id: int
    cancelled_booking_ids: list[int]
    refund_cents: int


def _other_active_admins(session: Session, user_id: int) -> list[int]:
    return list(session.scalars(
        select(User.id).where(
            User.role == Role.ADMIN, User.is_active_account.is_(True), User.id != user_id,
        )
    ))


def _refuse_last_admin(session: Session, user: User) -> None:
    if user.role is Role.ADMIN and not _other_active_admins(session, user.id):
        raise LastAdmin()


def _open_waitlist_ids(session: Session, user_id: int) -> list[int]:
    return list(session.scalars(
        select(WaitlistEntry.id).where(
            WaitlistEntry.user_id == user_id,
            WaitlistEntry.status.in_([WaitlistStatus.WAITING, WaitlistStatus.OFFERED]),
        )
    ))


def delete_account(
    session: Session,
    gateway: PaymentGateway,
    *,
    actor: User,
    user: User,
    password: str,
    now: datetime,
    settings: BookingSettings,
) -> DeletionReport:
    """Erase the member's account (see the module docstring for the order and why).

    Only the member themselves, with their password: the one step here that cannot be undone
    must not be reachable with a stolen session alone.
    """
    if actor.id != user.id:
        raise NotFound()
    user_id = user.id
    if not password or "\x00" in password or not user.check_password(password):
        message = str(_l("The password is not correct."))
        raise WrongPassword(message, fields={"password": [message]})
    _refuse_last_admin(session, user)
    # No monthly fee is charged after the account is gone.
    billing.end_now(session, gateway, user_id=user_id, now=now, reason="account_deleted")

    cancelled: list[int] = []
    refund_cents = 0
    for _round in range(ROUNDS):
        end_read(session)  # each round starts from what is committed now
        for booking in upcoming_bookings(session, user_id, now):
            booking_id = booking.id
            try:
                done, refund = cancellation.cancel_booking(
                    session, gateway, actor=actor, booking_id=booking_id, now=now,
                    reason=str(_l("Account deleted")), refund="policy", settings=settings,
                    notify=False,  # the account is going: no mail to it
                )
            except DomainError as exc:  # started or cancelled meanwhile: nothing to do
                # A refused cancellation rolled back its own write block: go on.
                log.info("account %s: booking %s not cancelled: %s", user_id, booking_id,
                         exc.code)
                continue
            cancelled.append(done.id)
            if refund is not None and refund.status is not RefundStatus.FAILED:
                refund_cents += refund.amount_cents
        for entry_id in _open_waitlist_ids(session, user_id):
            try:
                waitlist.decline(
                    session, actor=actor, entry_id=entry_id, now=now, settings=settings
                )
            except DomainError:  # lapsed or accepted meanwhile; its block rolled back
                continue
        if _erase(session, user_id=user_id, cancelled=cancelled, refund_cents=refund_cents,
                  now=now):
            return DeletionReport(user_id, cancelled, refund_cents)
    raise AccountChanged()


def _erase(
    session: Session, *, user_id: int, cancelled: list[int], refund_cents: int, now: datetime
) -> bool:
    """The final, all-or-nothing step. False if something new needs cancelling first."""
    with write(session):
        # Every active admin too, in id order: two last admins deleting themselves at once
        # must not both see the other one still there.
        lock_rows(session, User, [user_id, *_other_active_admins(session, user_id)])
        user = session.get(User, user_id)
        if user is None or user.is_deleted:
            raise NotFound()
        session.refresh(user)
        if upcoming_bookings(session, user_id, now) or _open_waitlist_ids(session, user_id):
            return False  # nothing written: the block ends (and its locks go) as it is
        _refuse_last_admin(session, user)
        _remove_personal_rows(session, user, now=now)
        _blank_free_text(session, user_id, kept_reason=set(cancelled))
        _anonymise(session, user, now=now)
        audit.record(
            session, action="user.deleted", now=now, actor_id=user_id,
            object_type="user", object_id=user_id,
            details={"bookings_cancelled": len(cancelled), "refund_cents": refund_cents},
        )
    return True


def _remove_personal_rows(session: Session, user: User, *, now: datetime) -> None:
    """End the memberships; delete membership requests (what the member wrote in them),
    inductions, waitlist entries, feeds and API tokens."""
    today = to_local(now).date()
    for membership in user.memberships:
        if membership.valid_until is None or membership.valid_until >= today:
            membership.valid_until = max(membership.valid_from, today)
            membership.status = MembershipStatus.CANCELLED
    session.execute(delete(MembershipRequest).where(MembershipRequest.user_id == user.id))
    session.execute(delete(Induction).where(Induction.user_id == user.id))
    session.execute(delete(WaitlistEntry).where(WaitlistEntry.user_id == user.id))
    session.execute(delete(CalendarFeed).where(CalendarFeed.owner_id == user.id))
    session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))


def _blank_free_text(session: Session, user_id: int, *, kept_reason: set[int]) -> None:
    """What the member wrote on their kept bookings and in the audit details about them.
    The reason stays on the bookings this deletion cancelled (it says "Account deleted")."""
    bookings = session.scalars(select(Booking).where(Booking.user_id == user_id)).all()
    for booking in bookings:
        booking.note = ""
        if booking.id not in kept_reason:
            booking.cancel_reason = None
    booking_ids = [b.id for b in bookings]
    # Entries about her and her bookings, whoever wrote them; not what she (as staff) wrote
    # about other people's bookings, which belongs to their records.
    scrubbed = session.scalars(
        select(AuditEntry).where(or_(
            and_(AuditEntry.object_type == "user", AuditEntry.object_id == user_id),
            and_(AuditEntry.object_type == "booking", AuditEntry.object_id.in_(booking_ids))
            if booking_ids else false(),
        ))
    ).all()
    for entry in scrubbed:
        if any(entry.details.get(k) for k in FREE_TEXT_KEYS):
            # A new dict: the JSON column does not notice changes made in place.
            entry.details = {
                k: (None if k in FREE_TEXT_KEYS else v) for k, v in entry.details.items()
            }


def _anonymise(session: Session, user: User, *, now: datetime) -> None:
    """The stub the kept bookings and payments point at: no name, address or way in."""
    user.name = DELETED_NAME
    user.email = deleted_email(user.id)
    user.password_hash = UNUSABLE_PASSWORD
    user.role = Role.MEMBER
    user.locale = "de"
    user.leave_company()  # with their role and caps in it
    user.is_active_account = False
    user.last_login_at = None
    user.email_verified_at = None  # a fact about the address, which is gone
    user.deleted_at = now
