"""JSON shapes of API answers. Times are local (the location's zone) with their offset."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, current_app, jsonify

from ..accounts.models import User
from ..booking.models import Booking, BookingStatus, WaitlistEntry
from ..booking.rules import Interval
from ..core.clock import now
from ..core.time import to_local
from ..membership.models import Tier
from ..membership.price_list import kind_prices
from ..payments.models import Payment, PaymentStatus, Refund, RefundStatus
from ..resources.models import Resource


def created(body: dict[str, Any]) -> tuple[Response, int]:
    return jsonify(body), 201


def local_iso(instant: datetime | None, resource: Resource) -> str | None:
    if instant is None:
        return None
    return instant.astimezone(resource.location.tz).isoformat()


def resource_json(resource: Resource) -> dict[str, Any]:
    return {
        "slug": resource.slug,
        "name": resource.name,
        "kind": resource.kind.value,
        "zone": resource.zone,
        "description": resource.description,
        "capacity": resource.capacity,
        "booking_unit": resource.booking_unit.value,
        "min_duration_minutes": resource.min_duration_minutes,
        "max_duration_minutes": resource.max_duration_minutes,
        "buffer_after_minutes": resource.buffer_after_minutes,
        "requires_induction": resource.requires_induction,
        "time_zone": resource.location.timezone,
    }


def tier_json(tier: Tier) -> dict[str, Any]:
    """A tier of the public price list; prices are gross cents, None where a unit is not
    sold. Its ``kinds`` are what it may book (desks first)."""
    return {
        "slug": tier.slug,
        "name": tier.name,
        "description": tier.description,
        "monthly_price_cents": tier.monthly_price_cents,
        "included": {
            "desk_days": tier.included_desk_days,
            "studio_hours": tier.included_studio_hours,
        },
        "booking_horizon_days": tier.booking_horizon_days,
        "max_future_bookings": tier.max_future_bookings,
        "signup_mode": tier.signup_mode.value,
        "notice_days": tier.notice_days,
        "kinds": [
            {
                "kind": p.kind.value,
                "price_hour_cents": p.price_hour_cents,
                "price_half_day_cents": p.price_half_day_cents,
                "price_day_cents": p.price_day_cents,
            }
            for p in kind_prices(tier)
        ],
    }


def payment_json(booking: Booking, status: BookingStatus) -> dict[str, Any] | None:
    """What is owed for this booking and how far its payment has come (None: nothing owed)."""
    if booking.price_gross_cents == 0:
        return None
    payment = booking.payment
    label = {
        BookingStatus.HELD: "pending",
        BookingStatus.CONFIRMED: "paid",
        BookingStatus.EXPIRED: "expired",
        BookingStatus.CANCELLED: "cancelled",
    }[status]
    if (
        status is BookingStatus.HELD
        and payment is not None
        and payment.status in (PaymentStatus.PROCESSING, PaymentStatus.AUTHORIZED)
    ):
        label = payment.status.value
    if payment is not None and payment.owes_transfer and status is BookingStatus.CONFIRMED:
        label = "open"  # confirmed on invoice: the transfer has not been recorded yet
    refunded = 0
    if payment is not None:
        refunded = sum(
            r.amount_cents for r in payment.refunds
            if r.status is RefundStatus.SUCCEEDED
            and (r.booking_id == booking.id or len(payment.bookings) == 1)
        )
    return {
        "id": payment.id if payment is not None else None,
        "status": label,
        "method": payment.method.value if payment is not None else "online",
        "amount_cents": booking.price_gross_cents,
        "net_cents": booking.price_net_cents,
        "tax_cents": booking.price_tax_cents,
        "currency": current_app.config["CURRENCY"],
        # Pending: pay by then. Authorised: staff must approve by then (the approval
        # deadline; after it the authorisation is released). Not for a payment already made
        # (processing): its hold lasts until the money arrives, which is no deadline.
        "due_by": local_iso(booking.hold_expires_at, booking.resource)
        if label in ("pending", "authorized") else None,
        "checkout_url": payment.checkout_url
        if (status is BookingStatus.HELD and payment is not None
            and payment.status is PaymentStatus.PENDING) else None,
        "awaiting_approval": status is BookingStatus.HELD and payment is not None
        and payment.status is PaymentStatus.AUTHORIZED,
        "refunded_cents": refunded,
    }


def refund_json(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "booking_id": refund.booking_id,
        "amount_cents": refund.amount_cents,
        "status": refund.status.value,
        "reason": refund.reason.value,
        "note": refund.note,
        "created_at": to_local(refund.created_at).isoformat(),
    }


def full_payment_json(payment: Payment, viewer: User) -> dict[str, Any]:
    """A payment with its refunds, for the member who paid and for staff."""
    body: dict[str, Any] = {
        "id": payment.id,
        "provider": payment.provider,
        "method": payment.method.value,
        "status": payment.status.value,
        "capture": payment.capture_method.value,
        "amount_cents": payment.amount_cents,
        "received_cents": payment.received_cents,
        "refunded_cents": payment.refunded_cents,
        "refundable_cents": payment.refundable_cents,
        "currency": payment.currency,
        "booking_ids": [b.id for b in payment.bookings],
        "created_at": to_local(payment.created_at).isoformat(),
        "refunds": [refund_json(r) for r in payment.refunds],
    }
    if viewer.is_staff:
        body["checkout_id"] = payment.checkout_id
        body["payment_intent_id"] = payment.payment_intent_id
    return body


def booking_json(booking: Booking, viewer: User) -> dict[str, Any]:
    resource = booking.resource
    version = booking.shown_version(now())
    status = version.status
    body: dict[str, Any] = {
        "id": booking.id,
        "uid": booking.uid,
        "resource": resource.slug,
        "kind": resource.kind.value,
        "start": local_iso(booking.starts_at, resource),
        "end": local_iso(booking.ends_at, resource),
        "status": status.value,
        "price_cents": booking.price_gross_cents,
        "credit_used": {
            "half_days": booking.credit_half_days, "minutes": booking.credit_minutes
        },
        "payment": payment_json(booking, status),
        "sequence": version.sequence,
        "note": booking.note,
        "created_at": local_iso(booking.created_at, resource),
        "updated_at": local_iso(version.changed_at, resource),
        "cancelled_at": local_iso(booking.cancelled_at, resource),
        "checked_in_at": local_iso(booking.checked_in_at, resource),
        "no_show_at": local_iso(booking.no_show_at, resource),
    }
    if viewer.is_staff:
        body["user"] = (
            {"id": booking.user.id, "email": booking.user.email, "name": booking.user.name}
            if booking.user else None
        )
    return body


def interval_json(interval: Interval, resource: Resource) -> dict[str, str | None]:
    return {"start": local_iso(interval.start, resource), "end": local_iso(interval.end, resource)}


def waitlist_json(entry: WaitlistEntry) -> dict[str, Any]:
    resource = entry.resource
    return {
        "id": entry.id,
        "resource": resource.slug,
        "start": local_iso(entry.starts_at, resource),
        "end": local_iso(entry.ends_at, resource),
        "status": entry.status.value,
        "offer_expires_at": local_iso(entry.offer_expires_at, resource),
        "booking_id": entry.booking_id,
    }
