"""``POST /webhooks/stripe``: Stripe tells us something happened; we check it came from Stripe,
then ask Stripe what is true now (the service re-fetches; the payload is only a trigger)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import stripe
from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ..booking.settings import current_settings
from ..core.clock import now
from ..errors import json_error
from ..extensions import csrf, db
from .gateway import GatewayError
from .pull import handle_event
from .setup import gateway

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)  # authenticated by Stripe's signature, not by a session cookie

# Stripe's default: a signed timestamp older than five minutes is a replay, not a delivery.
TOLERANCE_SECONDS = 300

HANDLERS = "schiller40.webhook_handlers"
# A feature above payments that acts on some events (billing: subscriptions). Called with the
# database session, the gateway and the verified event's id, type, object id and object (the
# object only as a hint where to look: handlers re-fetch what they believe); answers
# "handled", "duplicate" or "ignored", or None for an event that is not theirs.
EventHandler = Callable[..., "str | None"]


def add_handler(app: Flask, handler: EventHandler) -> None:
    """Let a feature above payments see each verified event before the payments do."""
    app.extensions.setdefault(HANDLERS, []).append(handler)


def _event_fields(payload: bytes) -> tuple[str, str, str, dict[str, Any]] | None:
    """Event id, type, the id of its object and the object, or None if the body is not an
    event.

    The object id is "" for the few objects that have none (``balance.available``): such an
    event is genuine, and refusing it would make Stripe retry it for days and then switch the
    endpoint off.
    """
    try:
        event: Any = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    obj = event.get("data", {}).get("object") if isinstance(event.get("data"), dict) else None
    if not isinstance(obj, dict):
        return None
    event_id, event_type, object_id = event.get("id"), event.get("type"), obj.get("id", "")
    if not all(isinstance(f, str) and 0 < len(f) <= 255 for f in (event_id, event_type)):
        return None
    if not isinstance(object_id, str) or len(object_id) > 255:
        return None
    return event_id, event_type, object_id, obj


@bp.post("/stripe")
def stripe_webhook() -> Response | tuple[Response, int]:
    if current_app.config["PAYMENT_PROVIDER"] != "stripe":
        return json_error(404, "not_found", "Stripe is not configured here.")
    payload = request.get_data(cache=False)
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"),
            request.headers.get("Stripe-Signature", ""),
            current_app.config["STRIPE_WEBHOOK_SECRET"],
            TOLERANCE_SECONDS,
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        log.warning("webhook with a bad, missing or stale signature refused")
        return json_error(400, "bad_signature", "The Stripe-Signature header is not valid.")
    fields = _event_fields(payload)
    if fields is None:
        return json_error(400, "invalid", "The body is not a Stripe event.")
    event_id, event_type, object_id, obj = fields
    try:
        result = None
        for handler in current_app.extensions.get(HANDLERS, ()):
            result = handler(
                db.session, gateway(), event_id=event_id, event_type=event_type,
                object_id=object_id, obj=obj, now=now(),
            )
            if result is not None:
                break
        if result is None:
            result = handle_event(
                db.session, gateway(), event_id=event_id, event_type=event_type,
                object_id=object_id, now=now(), settings=current_settings(),
            )
    except GatewayError as exc:
        # Stripe retries with back-off for up to three days: nothing is lost by saying so.
        log.warning("webhook %s: could not re-fetch from Stripe: %s", event_id, exc)
        response = json_error(503, "payment_unavailable", "Stripe could not be reached.")
        response.headers["Retry-After"] = "60"
        return response
    return jsonify({"received": True, "result": result}), 200
