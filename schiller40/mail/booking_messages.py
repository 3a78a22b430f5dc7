"""Messages about bookings, from the booking's life: confirmed, changed, cancelled, a hold
that ran out, the reminder the day before, and a waiting-list offer.

Every builder reads the booking as it is when the mail goes out and returns None when there
is nothing to say any more (see ``catalog``). The facts of the moment that the database no
longer holds (a moved booking's old time, a refund's amount) come in the payload.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import url_for
from flask_babel import format_time, ngettext
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..booking.models import (
    Booking,
    BookingStatus,
    WaitlistEntry,
    WaitlistStatus,
)
from ..booking.settings import current_settings
from ..payments.models import CaptureMethod, PaymentStatus
from ..resources.models import Resource, ResourceKind
from .catalog import message
from .compose import Mail, can_receive, render
from .ics import booking_invitation


def bookings_of(session: Session, ids: list[int]) -> list[Booking]:
    """The bookings a payload names that still exist, in time order."""
    return list(
        session.scalars(select(Booking).where(Booking.id.in_(ids)).order_by(Booking.starts_at))
    )


def confirmed_of(session: Session, ids: list[int], now: datetime) -> list[Booking]:
    """Of those, the ones still confirmed when the mail goes out."""
    return [
        b for b in bookings_of(session, ids) if b.effective_status(now) is BookingStatus.CONFIRMED
    ]


def _instant(value: Any) -> datetime | None:
    """An ISO 8601 instant from a payload (None if missing or not one)."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


@message("mail.booking_confirmed")
def booking_confirmed(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """Sent when bookings become confirmed: at once when free or covered by credit, after
    payment otherwise. Only those still confirmed when the mail goes out are listed."""
    bookings = confirmed_of(session, payload["booking_ids"], now)
    if not bookings or not can_receive(bookings[0].user):
        return None
    member = bookings[0].user
    assert member is not None
    return render(
        "booking_confirmed",
        to=member,
        bookings=bookings,
        subject=lambda: ngettext(
            "Booking confirmed: %(name)s", "%(num)d bookings confirmed", len(bookings),
            name=bookings[0].resource.name,
        ),
        attachments=lambda: [booking_invitation(b, now=now) for b in bookings],
    )


@message("mail.booking_to_pay")
def booking_to_pay(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """Staff booked for the member and something is owed: the member never saw a checkout,
    so they hear at once what was booked, what it costs, until when it is held and where to
    pay (the booking page, which opens the checkout), with a tentative calendar entry.
    Nothing once the bookings are paid, released or cancelled."""
    bookings = [
        b for b in bookings_of(session, payload["booking_ids"])
        if b.effective_status(now) is BookingStatus.HELD
        and b.payment is not None and b.payment.status is PaymentStatus.PENDING
    ]
    if not bookings or not can_receive(bookings[0].user):
        return None
    member = bookings[0].user
    assert member is not None
    held_until = min(b.hold_expires_at for b in bookings if b.hold_expires_at is not None)
    return render(
        "booking_to_pay",
        to=member,
        bookings=bookings,
        amount=sum(b.price_gross_cents for b in bookings),
        held_until=held_until,
        pay_url=url_for("bookings.booking_detail", booking_id=bookings[0].id, _external=True),
        subject=lambda: ngettext(
            "Booked for you, please pay: %(name)s", "%(num)d bookings for you, please pay",
            len(bookings), name=bookings[0].resource.name,
        ),
        attachments=lambda: [booking_invitation(b, now=now) for b in bookings],
    )


@message("mail.booking_changed")
def booking_changed(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """A booking moved to another time (or desk/room) by the member or by staff. Old and new
    time; the invitation carries the new time and the raised SEQUENCE, so the calendar moves
    the event it has. A held booking that moves says nothing: its confirmation (after
    payment) will carry the new time. Cancelled meanwhile: the cancellation mail tells."""
    booking = session.get(Booking, int(payload["booking_id"]))
    if booking is None or booking.effective_status(now) is not BookingStatus.CONFIRMED:
        return None
    member = booking.user
    if not can_receive(member):
        return None
    assert member is not None
    old_start, old_end = _instant(payload.get("old_start")), _instant(payload.get("old_end"))
    old_resource = session.get(Resource, payload.get("old_resource") or booking.resource_id)
    return render(
        "booking_changed",
        to=member,
        booking=booking,
        old_start=old_start,
        old_end=old_end,
        old_resource=old_resource or booking.resource,
        by_staff=bool(payload.get("by_staff")),
        subject=lambda: _("Booking changed: %(name)s", name=booking.resource.name),
        attachments=lambda: [booking_invitation(booking, now=now)],
    )


@message("mail.booking_cancelled")
def booking_cancelled(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """Bookings cancelled by the member or by staff: who did, why (staff's reason), and the
    money: the refund, or why there is none. One CANCEL invitation per booking."""
    bookings = [
        b for b in bookings_of(session, payload["booking_ids"])
        if b.status is BookingStatus.CANCELLED
    ]
    if not bookings or not can_receive(bookings[0].user):
        return None
    member = bookings[0].user
    assert member is not None
    refund_cents = int(payload.get("refund_cents") or 0)
    paid_cents = int(payload.get("paid_cents") or 0)
    state = str(payload.get("payment_state") or "unpaid")
    if refund_cents > 0:
        money = "refund"
    elif state == "pending":
        money = "pending"
    elif paid_cents > 0:
        money = "no_refund"
    elif any(b.price_gross_cents for b in bookings):
        money = "not_charged"
    else:
        money = "free"
    return render(
        "booking_cancelled",
        to=member,
        bookings=bookings,
        refund_cents=refund_cents,
        money=money,
        by_staff=bool(payload.get("by_staff")),
        reason=str(payload.get("reason") or "").strip(),
        subject=lambda: ngettext(
            "Booking cancelled: %(name)s", "%(num)d bookings cancelled", len(bookings),
            name=bookings[0].resource.name,
        ),
        attachments=lambda: [booking_invitation(b, now=now, cancel=True) for b in bookings],
    )


@message("mail.hold_expired")
def hold_expired(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """Unpaid holds released: their time to pay ran out (``expired``), or the payment failed
    or expired at the payment provider (``payment_failed``). Lists them with a link to book
    each again. Nothing to attach: the bookings never were in the member's calendar as
    confirmed (the feed shows them as cancelled now)."""
    bookings = [
        b for b in bookings_of(session, payload["booking_ids"])
        if b.status is BookingStatus.EXPIRED
    ]
    if not bookings or not can_receive(bookings[0].user):
        return None
    member = bookings[0].user
    assert member is not None
    reason = "payment_failed" if payload.get("reason") == "payment_failed" else "expired"
    awaited_approval = reason == "expired" and any(
        b.payment is not None and b.payment.capture_method is CaptureMethod.MANUAL
        for b in bookings
    )

    def again(booking: Booking) -> str | None:
        """The booking form for the same time, if that time is still ahead."""
        if booking.starts_at <= now:
            return None
        tz = booking.resource.location.tz
        start, end = booking.starts_at.astimezone(tz), booking.ends_at.astimezone(tz)
        if start.date() != end.date():
            return url_for(
                "booking.new", slug=booking.resource.slug, day=start.date().isoformat(),
                _external=True,
            )
        return url_for(
            "booking.new", slug=booking.resource.slug, day=start.date().isoformat(),
            start=start.strftime("%H:%M"), end=end.strftime("%H:%M"), _external=True,
        )

    return render(
        "hold_expired",
        to=member,
        bookings=bookings,
        reason=reason,
        awaited_approval=awaited_approval,
        again=again,
        subject=lambda: ngettext(
            "Reservation released: %(name)s", "%(num)d reservations released", len(bookings),
            name=bookings[0].resource.name,
        ),
    )


@message("mail.booking_reminder")
def booking_reminder(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """The day before (queued by the worker's ``reminders`` job): what, where, when; for a
    desk, until when to check in. Nothing if the booking is no longer confirmed, has moved
    since (the reminder for its new day is its own entry) or has already begun."""
    booking = session.get(Booking, int(payload["booking_id"]))
    if (
        booking is None
        or booking.effective_status(now) is not BookingStatus.CONFIRMED
        or booking.starts_at != _instant(payload.get("starts_at"))
        or booking.starts_at <= now
    ):
        return None
    member = booking.user
    if not can_receive(member):
        return None
    assert member is not None
    checkin_until = None
    if booking.resource.kind is ResourceKind.DESK:
        grace = current_settings().checkin_grace
        deadline = min(booking.starts_at + grace, booking.ends_at)

        def checkin_until() -> str:  # called while the template renders, in its language
            return format_time(deadline, "short")

    return render(
        "booking_reminder",
        to=member,
        booking=booking,
        checkin_until=checkin_until,
        subject=lambda: _("Tomorrow: %(name)s", name=booking.resource.name),
        attachments=lambda: [booking_invitation(booking, now=now)],
    )


@message("mail.waitlist_offer")
def waitlist_offer(session: Session, payload: dict[str, Any], now: datetime) -> Mail | None:
    """A slot someone waited for is free and reserved for them until the offer's deadline.
    Accepting and declining are buttons on "My bookings" (they change something, so they
    are forms there, not links that a mail scanner could follow)."""
    entry = session.get(WaitlistEntry, int(payload["entry_id"]))
    if (
        entry is None
        or entry.status is not WaitlistStatus.OFFERED
        or entry.offer_expires_at is None
        or entry.offer_expires_at <= now
        or not can_receive(entry.user)
    ):
        return None
    return render(
        "waitlist_offer",
        to=entry.user,
        entry=entry,
        subject=lambda: _("A place is free for you: %(name)s", name=entry.resource.name),
    )
