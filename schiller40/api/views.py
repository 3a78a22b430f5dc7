"""API v1 routes. Each parses its input, calls one service, and serialises the answer."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify
from flask_babel import force_locale
from flask_babel import gettext as _

from ..accounts import tokens
from ..accounts.models import User
from ..booking import checkin, queries, waitlist
from ..booking.create import create_bookings
from ..booking.errors import BookingError
from ..booking.models import BookingStatus
from ..booking.requests import BookingRequest
from ..booking.reschedule import reschedule
from ..booking.rules import Overrides
from ..booking.settings import from_config
from ..core import ratelimit
from ..core.bytecache import kept
from ..core.clock import now
from ..core.locking import begin_snapshot, ensure_snapshot
from ..core.ratelimit import configured
from ..core.time import to_local
from ..extensions import csrf, db, limiter
from ..feeds import service as feeds
from ..feeds.queries import feed_name
from ..feeds.urls import feed_url, webcal_url
from ..payments import approval, cancellation, ledger
from ..payments.checkout_urls import open_checkout as open_payment_checkout
from ..payments.setup import gateway
from ..resources.models import Resource
from . import schemas
from .auth import api_channel, token_required
from .openapi import document
from .parsing import ApiError, json_body, optional_json_body, query_args
from .serializers import (
    booking_json,
    full_payment_json,
    interval_json,
    refund_json,
    resource_json,
    waitlist_json,
)

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer tokens, not cookies: no cross-site request can carry one
bp.before_request(api_channel)  # its audit entries say "api"


def _created(body: dict[str, Any]) -> tuple[Response, int]:
    return jsonify(body), 201


def _overrides(override: schemas.Override | None) -> Overrides:
    if override is None:
        return Overrides()
    if not g.api_user.is_staff:
        raise ApiError(403, "forbidden", _("Only staff may override rules."), {"override": [
            "staff only"]})
    return Overrides(
        membership=override.membership, induction=override.induction, quota=override.quota,
        opening_hours=override.opening_hours, blocks=override.blocks,
        desk_limit=override.desk_limit, reason=override.reason.strip(),
    )


# --- tokens --------------------------------------------------------------------------------


@bp.post("/tokens")
@limiter.limit(configured("RATELIMIT_API_TOKEN"))
def create_token() -> tuple[Response, int]:
    body = json_body(schemas.TokenCreate)
    moment = now()
    issued = None
    # The same lockout as the log-in form (per e-mail and client address): the API is no
    # way around it.
    locked = ratelimit.locked_for(body.email, now=moment)
    if not locked:
        issued = tokens.issue(db.session, email=body.email, password=body.password, now=moment)
        if issued is not None:
            ratelimit.succeeded(body.email, now=moment)
        else:
            locked = ratelimit.failed(body.email, now=moment)
    if locked:
        error = ApiError(429, "rate_limited", ratelimit.locked_message(locked))
        error.headers = {"Retry-After": str(locked)}
        raise error
    if issued is None:
        raise ApiError(401, "unauthorized", _("E-mail address or password is not correct."))
    token, row = issued
    # Local time with offset, like every other instant the API answers with.
    return _created({"token": token, "expires_at": to_local(row.expires_at).isoformat()})


@bp.delete("/tokens/current")
@token_required
def delete_current_token() -> tuple[str, int]:
    tokens.revoke(db.session, token_row=g.api_token, actor=g.api_user, now=now())
    return "", 204


# --- resources and availability --------------------------------------------------------------


@bp.get("/resources")
@token_required
def list_resources() -> Response:
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    rows = db.session.scalars(
        select(Resource)
        .where(Resource.is_active.is_(True))
        .options(selectinload(Resource.location))
        .order_by(Resource.kind, Resource.zone, Resource.position, Resource.id)
    )
    return jsonify({"resources": [resource_json(r) for r in rows]})


def _one_snapshot(view: Callable[..., Response]) -> Callable[..., Response]:
    """Run the view, token check included, in one snapshot of the database (see
    ``begin_snapshot``). Before the token check, so that no second transaction is needed
    (unless the check writes; the view calls ``ensure_snapshot``)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        begin_snapshot(db.session)
        return view(*args, **kwargs)

    return wrapper


@bp.get("/availability")
@_one_snapshot
@token_required
def availability() -> Response:
    args = query_args(schemas.AvailabilityQuery)
    if args.kind is not None and args.resource is not None:
        raise ApiError(422, "invalid", _("Give either kind or resource, not both."),
                       {"kind": ["kind or resource, not both"]})
    instant = now()
    answers = kept("availability")
    key = None
    if answers is not None and queries.keeps_availability(args.date, instant):
        # The stamp and the answer come from one snapshot (_one_snapshot), or an answer
        # could be kept under the stamp of an older state.
        ensure_snapshot(db.session)
        stamp = queries.availability_stamp(db.session, day=args.date, days=args.days,
                                           now=instant)
        # The stamp as a digest: on SQLite its parts are the rows themselves (kilobytes),
        # which the cache's byte bound would not count.
        key = (args.date, args.days, args.kind, args.resource,
               hashlib.sha256(repr(stamp).encode()).digest())
        if (body := answers.get(key)) is not None:
            return Response(body, mimetype="application/json")
    rows = queries.availability(
        db.session, day=args.date, days=args.days, now=instant, kind=args.kind,
        resource_slug=args.resource,
    )
    response = jsonify({
        "date": args.date.isoformat(),
        "days": args.days,
        "resources": [
            {"slug": r.slug, "kind": r.kind.value, "zone": r.zone,
             "free": [interval_json(i, r) for i in free]}
            for r, free in rows
        ],
    })
    if key is not None:
        answers.put(key, response.get_data())
    return response


# --- bookings ------------------------------------------------------------------------------


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
    request = BookingRequest(
        start=body.start,
        end=body.end,
        resource_slug=body.resource,
        kind=body.kind,
        repeat_freq=body.repeat.freq if body.repeat else None,
        repeat_count=body.repeat.count if body.repeat else 1,
        on_conflict=body.on_conflict,
        note=body.note,
        overrides=_overrides(body.override),
    )
    settings = from_config(current_app.config)
    outcome = create_bookings(
        db.session, actor=g.api_user, request=request, now=now(), for_user=for_user,
        settings=settings,
    )
    if outcome.payment is not None:
        _open_checkout(outcome.payment.id)
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
    return _created(answer)


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
        now=now(), resource_slug=body.resource, overrides=_overrides(body.override),
        settings=from_config(current_app.config),
    )
    return jsonify({"booking": booking_json(booking, g.api_user)})


@bp.post("/bookings/<id:booking_id>/cancel")
@token_required
def cancel_booking(booking_id: int) -> Response:
    body = optional_json_body(schemas.BookingCancel)
    booking, refund = cancellation.cancel_booking(
        db.session, gateway(), actor=g.api_user, booking_id=booking_id, now=now(),
        reason=body.reason, refund=body.refund, settings=from_config(current_app.config),
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


def _open_checkout(payment_id: int) -> None:
    """Open the checkout for a new payment; unreachable gateway: the holds are released and
    the caller gets 503 (raised by the service)."""
    # The checkout speaks the member's language, not the one of this request's headers: the
    # line items are translated while it is opened, and amounts are formatted for ``locale``.
    locale = g.api_user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(locale):
        open_payment_checkout(payment_id, locale)


def _staff() -> None:
    if not g.api_user.is_staff:
        raise ApiError(404, "not_found", _("Not found."))


@bp.post("/bookings/<id:booking_id>/checkout")
@token_required
def open_checkout(booking_id: int) -> Response:
    booking = queries.get_booking(db.session, viewer=g.api_user, booking_id=booking_id)
    if booking.payment_id is None:
        raise ApiError(409, "not_payable", _("This booking is not waiting for payment."))
    _open_checkout(booking.payment_id)
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
    policy = from_config(current_app.config).refund_policy
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
        settings=from_config(current_app.config),
    )
    return _created({"refund": refund_json(refund)})


@bp.post("/bookings/<id:booking_id>/approve")
@token_required
def approve_booking(booking_id: int) -> Response:
    _staff()
    # Recorded either way; a capture the gateway did not confirm is left for reconcile.
    approval.approve(
        db.session, gateway(), actor=g.api_user, booking_id=booking_id, now=now(),
        settings=from_config(current_app.config),
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
        reason=body.reason, settings=from_config(current_app.config),
    )
    booking = queries.get_booking(db.session, viewer=g.api_user, booking_id=booking_id)
    return jsonify({"booking": booking_json(booking, g.api_user)})


# --- waitlist ------------------------------------------------------------------------------


@bp.post("/waitlist")
@token_required
def join_waitlist() -> tuple[Response, int]:
    body = json_body(schemas.WaitlistCreate)
    entry = waitlist.join(
        db.session, actor=g.api_user, resource_slug=body.resource, start=body.start,
        end=body.end, now=now(), settings=from_config(current_app.config),
    )
    return _created({"entry": waitlist_json(entry)})


@bp.get("/waitlist")
@token_required
def list_waitlist() -> Response:
    entries = waitlist.list_entries(
        db.session, actor=g.api_user, now=now(), settings=from_config(current_app.config)
    )
    return jsonify({"entries": [waitlist_json(e) for e in entries]})


@bp.post("/waitlist/<id:entry_id>/accept")
@token_required
def accept_offer(entry_id: int) -> tuple[Response, int]:
    outcome = waitlist.accept(
        db.session, actor=g.api_user, entry_id=entry_id, now=now(),
        settings=from_config(current_app.config),
    )
    if outcome.payment is not None:
        _open_checkout(outcome.payment.id)
    return _created({"booking": booking_json(outcome.bookings[0], g.api_user)})


@bp.post("/waitlist/<id:entry_id>/decline")
@token_required
def decline_offer(entry_id: int) -> Response:
    entry = waitlist.decline(
        db.session, actor=g.api_user, entry_id=entry_id, now=now(),
        settings=from_config(current_app.config),
    )
    return jsonify({"entry": waitlist_json(entry)})


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(document())


# --- calendar feeds ------------------------------------------------------------------------


def _feed_json(feed: Any) -> dict[str, Any]:
    url = feed_url(feed)
    return {
        "id": feed.id,
        "kind": feed.kind.value,
        "name": feed_name(feed),
        "resource": feed.resource.slug if feed.resource is not None else None,
        "active": feed.is_active,
        "url": url if feed.is_active else None,
        "webcal": webcal_url(url) if feed.is_active else None,
    }


@bp.get("/feeds")
@token_required
def list_feeds() -> Response:
    rows = feeds.feeds_for(db.session, user=g.api_user, now=now())
    return jsonify({"feeds": [_feed_json(f) for f in rows]})


@bp.post("/feeds/<id:feed_id>/rotate")
@token_required
def rotate_feed(feed_id: int) -> Response:
    feed = feeds.rotate(db.session, user=g.api_user, feed_id=feed_id, now=now())
    return jsonify({"feed": _feed_json(feed)})


@bp.delete("/feeds/<id:feed_id>")
@token_required
def revoke_feed(feed_id: int) -> tuple[str, int]:
    feeds.revoke(db.session, user=g.api_user, feed_id=feed_id, now=now())
    return "", 204
