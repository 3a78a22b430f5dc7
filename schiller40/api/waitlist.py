"""``/api/v1/waitlist``: queueing for a taken time, the member's entries, and answering an
offer."""

from __future__ import annotations

from flask import Response, g, jsonify

from ..booking import waitlist
from ..booking.settings import current_settings
from ..core.clock import now
from ..extensions import db
from . import checkout, schemas
from .auth import token_required
from .blueprint import bp
from .parsing import json_body
from .serializers import booking_json, created, waitlist_json


@bp.post("/waitlist")
@token_required
def join_waitlist() -> tuple[Response, int]:
    body = json_body(schemas.WaitlistCreate)
    entry = waitlist.join(
        db.session, actor=g.api_user, resource_slug=body.resource, start=body.start,
        end=body.end, now=now(), settings=current_settings(),
    )
    return created({"entry": waitlist_json(entry)})


@bp.get("/waitlist")
@token_required
def list_waitlist() -> Response:
    entries = waitlist.list_entries(
        db.session, actor=g.api_user, now=now(), settings=current_settings()
    )
    return jsonify({"entries": [waitlist_json(e) for e in entries]})


@bp.post("/waitlist/<id:entry_id>/accept")
@token_required
def accept_offer(entry_id: int) -> tuple[Response, int]:
    outcome = waitlist.accept(
        db.session, actor=g.api_user, entry_id=entry_id, now=now(),
        settings=current_settings(),
    )
    if outcome.payment is not None:
        checkout.open_checkout(outcome.payment.id)
    return created({"booking": booking_json(outcome.bookings[0], g.api_user)})


@bp.post("/waitlist/<id:entry_id>/decline")
@token_required
def decline_offer(entry_id: int) -> Response:
    entry = waitlist.decline(
        db.session, actor=g.api_user, entry_id=entry_id, now=now(),
        settings=current_settings(),
    )
    return jsonify({"entry": waitlist_json(entry)})
