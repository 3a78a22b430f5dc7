"""``/api/v1/bookings``: booking (one or a series), listing, reading, moving, cancelling and
checking in; and each booking's money: opening its checkout, the cancellation terms, its
payments, and for staff approval, rejection and refunds."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify
from flask_babel import gettext as _

from ..accounts.models import User
from ..booking import checkin, queries
from ..booking.create import create_bookings
from ..booking.errors import BookingError
from ..booking.models import BookingStatus
from ..booking.requests import BookingRequest
from ..booking.reschedule import reschedule
from ..booking.settings import current_settings
from ..core.clock import now
from ..core.ratelimit import configured
from ..extensions import db, limiter
from ..payments import approval, cancellation, ledger
from ..payments.models import PaymentMethod
from ..payments.setup import gateway
from . import checkout, schemas
from .auth import token_required
from .blueprint import bp
from .parsing import ApiError, json_body, optional_json_body, overrides, query_args
from .serializers import booking_json, created, full_payment_json, refund_json


@bp.post("/bookings")
@token_required  # first: the limit counts per account (ratelimit.request_key)
@limiter.limit(configured("RATELIMIT_BOOKING"))
def create_booking() -> tuple[Response, int]:
    body = json_body(schemas.BookingCreate)
    if (body.resource is None) == (body.kind is None):
        raise ApiError(422, "invalid", _("Give either resource or kind."),
                       {"resource": ["give either resource or kind"]})
    for_user = None
    if body.on_behalf_of is not None:
        if not g.api_user.is_staff:
            raise ApiError(403, "forbidden", _("Only staff may book for someone else."),
                           {"on_behalf_of": ["staff only"]})
        for_user = db.session.get(User, body.on_behalf_of)
        if for_user is None:
            raise ApiError(422, "invalid", _("There is no such user."),
                           {"on_behalf_of": ["unknown user"]})
    if body.payment is not None and not g.api_user.is_staff:
        raise ApiError(403, "forbidden", _("Only staff may choose how a booking is paid."),
                       {"payment": ["staff only"]})
    if body.payment is not None and (for_user is None or for_user.id == g.api_user.id):
        raise ApiError(422, "invalid", _("A payment choice needs on_behalf_of."),
                       {"payment": ["only with on_behalf_of"]})
    request = BookingRequest(
        start=body.start,
        end=body.end,
        resource_slug=body.resource,
        kind=body.kind,
        repeat_freq=body.repeat.freq if body.repeat else None,
        repeat_count=body.repeat.count if body.repeat else 1,
        on_conflict=body.on_conflict,
        note=body.note,
        overrides=overrides(body.override),
        payment=PaymentMethod(body.payment) if body.payment else None,
    )
    settings = current_settings()
    outcome = create_bookings(
        db.session, actor=g.api_user, request=request, now=now(), for_user=for_user,
        settings=settings,
    )
    if outcome.payment is not None and outcome.payment.through_gateway:
        checkout.open_checkout(outcome.payment.id)
    viewer = g.api_user
    answer: dict[str, Any] = {"booking": booking_json(outcome.bookings[0], viewer)}
    if body.repeat is not None:
        tz = outcome.bookings[0].resource.location.tz
        answer["bookings"] = [booking_json(b, viewer) for b in outcome.bookings]
        answer["occurrences"] = [
            {
                "start": o.start.astimezone(tz).isoformat(),
                "end": o.end.astimezone(tz).isoformat(),
                "status": "booked" if o.booking else "refused",
                **({"booking_id": o.booking.id} if o.booking else {}),
                **({"error": {"code": o.error.code, "message": o.error.message}}
                   if o.error else {}),
            }
            for o in outcome.occurrences
        ]
    return created(answer)


@bp.get("/bookings")
@token_required
def list_bookings() -> Response:
    args = query_args(schemas.BookingListQuery)
    viewer = g.api_user
    if not viewer.is_staff and (args.user is not None):
        raise ApiError(403, "forbidden", _("Only staff may list other members' bookings."),
                       {"user": ["staff only"]})
    rows = queries.list_bookings(
        db.session, viewer=viewer, now=now(), start=args.from_, end=args.to,
        user_id=args.user, resource_slug=args.resource,
        status=BookingStatus(args.status) if args.status else None, limit=args.limit,
    )
    return jsonify({"bookings": [booking_json(b, viewer) for b in rows]})


@bp.get("/bookings/<id:booking_id>")
@token_required
def get_booking(booking_id: int) -> Response:
    booking = queries.get_booking(db.session, viewer=g.api_user, booking_id=booking_id)
    return jsonify({"booking": booking_json(booking, g.api_user)})


@bp.patch("/bookings/<id:booking_id>")
@token_required
def reschedule_booking(booking_id: int) -> Response:
    body = json_body(schemas.BookingUpdate)
    booking = reschedule(
        db.session, actor=g.api_user, booking_id=booking_id, start=body.start, end=body.end,
        now=now(), resource_slug=body.resource, overrides=overrides(body.override),
        settings=current_settings(),
    )
    return jsonify({"booking": booking_json(booking, g.api_user)})


@bp.post("/bookings/<id:booking_id>/cancel")
@token_required
def cancel_booking(booking_id: int) -> Response:
    body = optional_json_body(schemas.BookingCancel)
    booking, refund = cancellation.cancel_booking(
        db.session, gateway(), actor=g.api_user, booking_id=booking_id, now=now(),
        reason=body.reason, refund=body.refund, settings=current_settings(),
    )
    return jsonify({
        "booking": booking_json(booking, g.api_user),
        "refund": refund_json(refund) if refund else None,
    })


@bp.post("/bookings/<id:booking_id>/check-in")
@token_required
def check_in_booking(booking_id: int) -> Response:
    booking = checkin.check_in(db.session, actor=g.api_user, booking_id=booking_id, now=now())
    return jsonify({"booking": booking_json(booking, g.api_user)})


# --- payments ------------------------------------------------------------------------------


def _staff() -> None:
    if not g.api_user.is_staff:
        raise ApiError(404, "not_found", _("Not found."))


@bp.post("/bookings/<id:booking_id>/checkout")
@token_required
def open_checkout(booking_id: int) -> Response:
    booking = queries.get_booking(db.session, viewer=g.api_user, booking_id=booking_id)
    if booking.payment_id is None:
        raise ApiError(409, "not_payable", _("This booking is not waiting for payment."))
    checkout.open_checkout(booking.payment_id)
    booking = queries.get_booking(db.session, viewer=g.api_user, booking_id=booking_id)
    return jsonify({"booking": booking_json(booking, g.api_user)})


@bp.get("/bookings/<id:booking_id>/cancellation")
@token_required
def cancellation_terms(booking_id: int) -> Response:
    booking = queries.get_booking(db.session, viewer=g.api_user, booking_id=booking_id)
    instant = now()
    if not booking.can_cancel(instant, by_staff=g.api_user.is_staff):
        # Terms for a cancellation that would be refused (or was made already) mislead.
        raise BookingError("not_cancellable")
    policy = current_settings().refund_policy
    terms = ledger.cancellation_terms(booking, now=instant, policy=policy)
    return jsonify({
        "paid_cents": terms.paid_cents,
        "refund_cents": terms.quote.amount_cents,
        "refund_percent": terms.quote.percent,
        "payment_state": terms.payment_state,
        "policy": [
            {"hours_before": int(step.notice.total_seconds() // 3600), "percent": step.percent}
            for step in policy.get(booking.resource.kind, ())
        ],
    })


@bp.get("/bookings/<id:booking_id>/payments")
@token_required
def booking_payments(booking_id: int) -> Response:
    booking = queries.get_booking(db.session, viewer=g.api_user, booking_id=booking_id)
    payments = [booking.payment] if booking.payment is not None else []
    return jsonify({"payments": [full_payment_json(p, g.api_user) for p in payments]})


@bp.post("/bookings/<id:booking_id>/refunds")
@token_required
def create_refund(booking_id: int) -> tuple[Response, int]:
    _staff()
    body = json_body(schemas.RefundCreate)
    refund = cancellation.refund_by_hand(
        db.session, gateway(), actor=g.api_user, booking_id=booking_id,
        amount_cents=body.amount_cents, note=body.note, now=now(),
        settings=current_settings(),
    )
    return created({"refund": refund_json(refund)})


@bp.post("/bookings/<id:booking_id>/approve")
@token_required
def approve_booking(booking_id: int) -> Response:
    _staff()
    # Recorded either way; a capture the gateway did not confirm is left for reconcile.
    approval.approve(
        db.session, gateway(), actor=g.api_user, booking_id=booking_id, now=now(),
        settings=current_settings(),
    )
    booking = queries.get_booking(db.session, viewer=g.api_user, booking_id=booking_id)
    return jsonify({"booking": booking_json(booking, g.api_user)})


@bp.post("/bookings/<id:booking_id>/reject")
@token_required
def reject_booking(booking_id: int) -> Response:
    _staff()
    body = optional_json_body(schemas.BookingReject)
    approval.reject(
        db.session, gateway(), actor=g.api_user, booking_id=booking_id, now=now(),
        reason=body.reason, settings=current_settings(),
    )
    booking = queries.get_booking(db.session, viewer=g.api_user, booking_id=booking_id)
    return jsonify({"booking": booking_json(booking, g.api_user)})
