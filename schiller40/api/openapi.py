"""The OpenAPI 3.1 document of API v1.

Request schemas come from the same pydantic models that validate requests, so the document
cannot drift from what the API accepts; response schemas are written here and checked by the
test suite against real answers. A test also fails if a route exists without documentation
or documentation exists without a route.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel

from . import schemas

REF = "#/components/schemas/{model}"

LOCAL_TIME = {
    "type": "string",
    "format": "date-time",
    "description": "ISO 8601 in the location's zone, with offset",
}
NULLABLE_TIME = {"anyOf": [LOCAL_TIME, {"type": "null"}]}
# How a payment is paid: at the gateway's checkout, at the front desk, or on invoice.
METHOD = {"enum": ["online", "desk_cash", "desk_card", "invoice"]}

RESPONSE_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "fields"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                    "details": {"type": "object"},
                    "alternatives": {"type": "array", "items": {"$ref": REF.format(model="Slot")}},
                    "booking_id": {
                        "type": "integer",
                        "description": "already_booked: your booking of exactly this time",
                    },
                    "occurrences": {
                        "type": "array", "items": {"$ref": REF.format(model="Occurrence")}
                    },
                    "request_id": {"type": "string"},
                },
            }
        },
    },
    "Token": {
        "type": "object",
        "required": ["token", "expires_at"],
        "properties": {
            "token": {"type": "string", "description": "Send as `Authorization: Bearer …`"},
            "expires_at": {"type": "string", "format": "date-time"},
        },
    },
    "Resource": {
        "type": "object",
        "required": ["slug", "name", "kind", "zone", "booking_unit"],
        "properties": {
            "slug": {"type": "string"},
            "name": {"type": "string"},
            "kind": {"enum": ["desk", "studio", "room"]},
            "zone": {"type": ["string", "null"]},
            "description": {"type": "string"},
            "capacity": {"type": "integer"},
            "booking_unit": {"enum": ["half_day", "day", "slot_30"]},
            "min_duration_minutes": {"type": "integer"},
            "max_duration_minutes": {"type": "integer"},
            "buffer_after_minutes": {"type": "integer"},
            "requires_induction": {"type": "boolean"},
            "time_zone": {"type": "string"},
        },
    },
    "Tier": {
        "type": "object",
        "required": ["slug", "name", "description", "monthly_price_cents", "included",
                     "booking_horizon_days", "max_future_bookings", "kinds"],
        "properties": {
            "slug": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "monthly_price_cents": {"type": "integer", "minimum": 0,
                                    "description": "gross, VAT included; 0: no monthly fee"},
            "included": {
                "type": "object",
                "description": "credit included each month",
                "required": ["desk_days", "studio_hours"],
                "properties": {"desk_days": {"type": "integer", "minimum": 0},
                               "studio_hours": {"type": "integer", "minimum": 0}},
            },
            "booking_horizon_days": {"type": "integer", "minimum": 0,
                                     "description": "how many days ahead members may book"},
            "max_future_bookings": {"type": "integer", "minimum": 0,
                                    "description": "upcoming bookings allowed at a time"},
            "kinds": {
                "type": "array",
                "description": "the kinds of space the tier may book, with the prices beyond "
                               "the included credit (gross cents; null: that unit is not sold)",
                "items": {
                    "type": "object",
                    "required": ["kind", "price_hour_cents", "price_half_day_cents",
                                 "price_day_cents"],
                    "properties": {
                        "kind": {"enum": ["desk", "studio", "room"]},
                        "price_hour_cents": {"type": ["integer", "null"], "minimum": 0},
                        "price_half_day_cents": {"type": ["integer", "null"], "minimum": 0},
                        "price_day_cents": {"type": ["integer", "null"], "minimum": 0},
                    },
                },
            },
        },
    },
    "Slot": {
        "type": "object",
        "required": ["start", "end"],
        "properties": {"resource": {"type": "string"}, "start": LOCAL_TIME, "end": LOCAL_TIME},
    },
    "Availability": {
        "type": "object",
        "required": ["date", "days", "resources"],
        "properties": {
            "date": {"type": "string", "format": "date"},
            "days": {"type": "integer"},
            "resources": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["slug", "kind", "free"],
                    "properties": {
                        "slug": {"type": "string"},
                        "kind": {"enum": ["desk", "studio", "room"]},
                        "zone": {"type": ["string", "null"]},
                        "free": {"type": "array", "items": {"$ref": REF.format(model="Slot")}},
                    },
                },
            },
        },
    },
    "Payment": {
        "anyOf": [
            {"type": "null"},
            {
                "type": "object",
                "required": ["id", "status", "amount_cents", "currency", "checkout_url",
                             "awaiting_approval", "refunded_cents"],
                "properties": {
                    "id": {"type": ["integer", "null"]},
                    "status": {"enum": ["pending", "processing", "authorized", "paid",
                                        "open", "expired", "cancelled"],
                               "description": "open: confirmed on invoice, the bank "
                                              "transfer is not recorded yet"},
                    "method": METHOD,
                    "amount_cents": {"type": "integer"},
                    "net_cents": {"type": "integer"},
                    "tax_cents": {"type": "integer"},
                    "currency": {"const": "EUR"},
                    "due_by": NULLABLE_TIME,
                    "checkout_url": {
                        "type": ["string", "null"],
                        "description": "Send the member here to pay (while status is pending)",
                    },
                    "awaiting_approval": {"type": "boolean"},
                    "refunded_cents": {"type": "integer"},
                },
            },
        ]
    },
    "Refund": {
        "type": "object",
        "required": ["id", "amount_cents", "status", "reason", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "booking_id": {"type": ["integer", "null"]},
            "amount_cents": {"type": "integer", "minimum": 1},
            "status": {"enum": ["pending", "succeeded", "failed"]},
            "reason": {"enum": ["cancellation", "late_payment", "staff", "external"]},
            "note": {"type": "string"},
            "created_at": LOCAL_TIME,
        },
    },
    "PaymentRecord": {
        "type": "object",
        "required": ["id", "provider", "status", "amount_cents", "received_cents",
                     "refunded_cents", "refundable_cents", "refunds", "booking_ids"],
        "properties": {
            "id": {"type": "integer"},
            "provider": {"enum": ["stripe", "simulated", "desk"]},
            "method": METHOD,
            "status": {"enum": ["pending", "processing", "failed", "expired", "authorized",
                                "cancelled", "paid"]},
            "capture": {"enum": ["automatic", "manual"]},
            "amount_cents": {"type": "integer"},
            "received_cents": {"type": "integer"},
            "refunded_cents": {"type": "integer"},
            "refundable_cents": {"type": "integer"},
            "currency": {"const": "EUR"},
            "booking_ids": {"type": "array", "items": {"type": "integer"}},
            "created_at": LOCAL_TIME,
            "refunds": {"type": "array", "items": {"$ref": REF.format(model="Refund")}},
            "checkout_id": {"type": ["string", "null"]},
            "payment_intent_id": {"type": ["string", "null"]},
        },
    },
    "CancellationTerms": {
        "type": "object",
        "required": ["paid_cents", "refund_cents", "refund_percent", "payment_state", "policy"],
        "properties": {
            "paid_cents": {"type": "integer"},
            "refund_cents": {"type": "integer"},
            "refund_percent": {"type": "integer", "minimum": 0, "maximum": 100},
            "payment_state": {"enum": ["paid", "unpaid", "pending"]},
            "policy": {"type": "array", "items": {
                "type": "object", "required": ["hours_before", "percent"],
                "properties": {"hours_before": {"type": "integer"},
                               "percent": {"type": "integer"}}}},
        },
    },
    "Booking": {
        "type": "object",
        "required": ["id", "resource", "start", "end", "status", "price_cents", "payment"],
        "properties": {
            "id": {"type": "integer"},
            "uid": {"type": "string"},
            "resource": {"type": "string"},
            "kind": {"enum": ["desk", "studio", "room"]},
            "start": LOCAL_TIME,
            "end": LOCAL_TIME,
            "status": {"enum": ["held", "confirmed", "cancelled", "expired"]},
            "price_cents": {"type": "integer", "description": "gross, VAT included"},
            "credit_used": {
                "type": "object",
                "properties": {"half_days": {"type": "integer"}, "minutes": {"type": "integer"}},
            },
            "payment": {"$ref": REF.format(model="Payment")},
            "sequence": {"type": "integer"},
            "note": {"type": "string"},
            "created_at": LOCAL_TIME,
            "updated_at": LOCAL_TIME,
            "cancelled_at": NULLABLE_TIME,
            "checked_in_at": {**NULLABLE_TIME, "description": "when the member checked in"},
            "no_show_at": {**NULLABLE_TIME,
                           "description": "when the desk was released: nobody checked in by "
                                          "start + CHECKIN_GRACE_MINUTES"},
            "user": {
                "description": "staff only",
                "anyOf": [
                    {"type": "null"},
                    {"type": "object", "properties": {"id": {"type": "integer"},
                                                      "email": {"type": "string"},
                                                      "name": {"type": "string"}}},
                ],
            },
        },
    },
    "Occurrence": {
        "type": "object",
        "required": ["start", "end", "status"],
        "properties": {
            "start": LOCAL_TIME,
            "end": LOCAL_TIME,
            "status": {"enum": ["booked", "refused"]},
            "booking_id": {"type": "integer"},
            "error": {"type": "object", "properties": {"code": {"type": "string"},
                                                       "message": {"type": "string"}}},
        },
    },
    "BookingAnswer": {
        "type": "object",
        "required": ["booking"],
        "properties": {
            "booking": {"$ref": REF.format(model="Booking")},
            "bookings": {"type": "array", "items": {"$ref": REF.format(model="Booking")}},
            "occurrences": {"type": "array", "items": {"$ref": REF.format(model="Occurrence")}},
        },
    },
    "Feed": {
        "type": "object",
        "required": ["id", "kind", "name", "active", "url", "webcal"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"enum": ["member", "resource", "location"]},
            "name": {"type": "string"},
            "resource": {"type": ["string", "null"]},
            "active": {"type": "boolean"},
            "url": {"type": ["string", "null"], "description": "secret; null when switched off"},
            "webcal": {"type": ["string", "null"]},
        },
    },
    "WaitlistEntry": {
        "type": "object",
        "required": ["id", "resource", "start", "end", "status"],
        "properties": {
            "id": {"type": "integer"},
            "resource": {"type": "string"},
            "start": LOCAL_TIME,
            "end": LOCAL_TIME,
            "status": {
                "enum": ["waiting", "offered", "accepted", "declined", "lapsed", "cancelled"]
            },
            "offer_expires_at": NULLABLE_TIME,
            "booking_id": {"type": ["integer", "null"]},
        },
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Body is not valid JSON",
        401: "Missing, invalid, expired or revoked token",
        403: "Not allowed for this member or role",
        404: "Not found (someone else's booking is also 404)",
        409: "Conflict: the slot is taken (with alternatives), or already yours (booking_id)",
        413: "Body too large",
        415: "Body is not application/json",
        422: "Invalid input, or a booking rule refused (code says which)",
        429: "Too many requests (code rate_limited; Retry-After says how many seconds to "
             "wait); for tokens also a log-in locked after repeated failures",
        503: "The payment service cannot be reached (code payment_unavailable; holds were "
             "released), or the database (code database_unavailable); Retry-After says how "
             "many seconds to wait",
    }
    return {str(s): _json(_ref("Error"), text[s]) for s in statuses}


DATABASE_UNAVAILABLE = _json(
    _ref("Error"),
    "The database cannot be reached for the moment (code database_unavailable; what the "
    "request began was rolled back); Retry-After says how many seconds to wait",
)


# gunicorn (gunicorn.conf.py keeps its default limit_request_line) refuses a request line
# longer than this before the app sees it, with a short HTML page.
MAX_REQUEST_LINE = 4094
URI_TOO_LONG = {
    "description": f"The request line (method, path and query string) is longer than "
                   f"{MAX_REQUEST_LINE:,} bytes: the server refuses it before the API reads it, "
                   "with a short HTML page (not JSON)",
    "content": {"text/html": {"schema": {"type": "string"}}},
}


def _with_server_answers(paths: dict[str, Any]) -> dict[str, Any]:
    """Statuses no operation chooses but any may get, added to each operation here.

    503: every operation that reads or writes the database may meet it unreachable (one that
    documents its own 503, the payment service, names both causes already). 414: any URL may
    be too long for the server, this document's own included."""
    for path, item in paths.items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            operation["responses"].setdefault("414", URI_TOO_LONG)
            if not path.endswith("/openapi.json"):  # built from code, no database
                operation["responses"].setdefault("503", DATABASE_UNAVAILABLE)
    return paths


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model.__name__)}}}


def _query(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF, by_alias=True)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop,
         **({"description": prop["description"]} if "description" in prop else {})}
        for name, prop in schema["properties"].items()
    ]


ID = {"in": "path", "required": True,
      "schema": {"type": "integer", "minimum": 1, "maximum": schemas.MAX_ID}}
AUTH_ERRORS = (401,)
BODY_ERRORS = (400, 413, 415, 422)


@cache
def document() -> dict[str, Any]:
    bodies = [
        schemas.TokenCreate, schemas.BookingCreate, schemas.BookingUpdate,
        schemas.BookingCancel, schemas.WaitlistCreate, schemas.BookingReject,
        schemas.RefundCreate,
    ]
    components: dict[str, Any] = dict(RESPONSE_SCHEMAS)
    for model in bodies:
        schema = model.model_json_schema(ref_template=REF)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    booking = _json(_ref("BookingAnswer"), "The booking")
    paths: dict[str, Any] = {
        "/api/v1/tokens": {"post": {
            "summary": "Log in: get a bearer token",
            "security": [],
            "requestBody": _body(schemas.TokenCreate),
            "responses": {"201": _json(_ref("Token"), "A new token"),
                          **_errors(401, 429, *BODY_ERRORS)},
        }},
        "/api/v1/tokens/current": {"delete": {
            "summary": "Log out: revoke the token used for this call",
            "responses": {"204": {"description": "Revoked"}, **_errors(*AUTH_ERRORS)},
        }},
        "/api/v1/tiers": {"get": {
            "summary": "The membership tiers on offer and their prices (public, no token)",
            "security": [],
            "responses": {
                "200": _json({"type": "object",
                              "required": ["currency", "vat_percent", "prices_include_vat",
                                           "tiers"],
                              "properties": {
                                  "currency": {"const": "EUR"},
                                  "vat_percent": {"type": "integer", "minimum": 0},
                                  "prices_include_vat": {"const": True},
                                  "tiers": {"type": "array", "items": _ref("Tier")}}},
                             "Active tiers in the order of the price list"),
            },
        }},
        "/api/v1/resources": {"get": {
            "summary": "Bookable resources",
            "responses": {
                "200": _json({"type": "object", "required": ["resources"], "properties": {
                    "resources": {"type": "array", "items": _ref("Resource")}}}, "Resources"),
                **_errors(*AUTH_ERRORS),
            },
        }},
        "/api/v1/availability": {"get": {
            "summary": "Free ranges per resource for 1 to 14 days",
            "parameters": _query(schemas.AvailabilityQuery),
            "responses": {"200": _json(_ref("Availability"), "Free ranges"),
                          **_errors(401, 404, 422)},
        }},
        "/api/v1/bookings": {
            "post": {
                "summary": "Book a resource, any free resource of a kind, or a series",
                "requestBody": _body(schemas.BookingCreate),
                "responses": {"201": booking,
                              **_errors(401, 403, 404, 409, 429, 503, *BODY_ERRORS)},
            },
            "get": {
                "summary": "Your bookings (staff: anyone's); upcoming unless from/to are given",
                "parameters": _query(schemas.BookingListQuery),
                "responses": {
                    "200": _json({"type": "object", "required": ["bookings"], "properties": {
                        "bookings": {"type": "array", "items": _ref("Booking")}}}, "Bookings"),
                    **_errors(401, 403, 422),
                },
            },
        },
        "/api/v1/bookings/{booking_id}": {
            "parameters": [{"name": "booking_id", **ID}],
            "get": {"summary": "One booking", "responses": {
                "200": booking, **_errors(401, 404)}},
            "patch": {
                "summary": "Reschedule (same price; staff may set rules aside, with a reason)",
                "requestBody": _body(schemas.BookingUpdate),
                "responses": {"200": booking, **_errors(401, 403, 404, 409, *BODY_ERRORS)},
            },
        },
        "/api/v1/bookings/{booking_id}/cancel": {
            "parameters": [{"name": "booking_id", **ID}],
            "post": {
                "summary": "Cancel; credit returns in time; paid bookings are refunded by policy",
                "requestBody": {**_body(schemas.BookingCancel), "required": False},
                "responses": {
                    "200": _json({"type": "object", "required": ["booking", "refund"],
                                  "properties": {
                                      "booking": _ref("Booking"),
                                      "refund": {"anyOf": [_ref("Refund"), {"type": "null"}]},
                                  }}, "Cancelled"),
                    **_errors(401, 404, *BODY_ERRORS),
                },
            },
        },
        "/api/v1/bookings/{booking_id}/check-in": {
            "parameters": [{"name": "booking_id", **ID}],
            "post": {
                "summary": "Check in (members: their own desk, from 30 minutes before the start "
                           "until the end; staff: any confirmed booking on its day). "
                           "Idempotent. 422 with code too_early, over, released, not_confirmed, "
                           "staff_only or not_today otherwise",
                "responses": {"200": booking, **_errors(401, 404, 422)},
            },
        },
        "/api/v1/bookings/{booking_id}/cancellation": {
            "parameters": [{"name": "booking_id", **ID}],
            "get": {"summary": "What cancelling now would refund (show it before cancelling); "
                               "422 not_cancellable if it can no longer be cancelled",
                    "responses": {"200": _json(_ref("CancellationTerms"), "Terms"),
                                  **_errors(401, 404, 422)}},
        },
        "/api/v1/bookings/{booking_id}/checkout": {
            "parameters": [{"name": "booking_id", **ID}],
            "post": {"summary": "Open (or reopen) the checkout of a held booking",
                     "responses": {"200": booking, **_errors(401, 404, 409, 503)}},
        },
        "/api/v1/bookings/{booking_id}/payments": {
            "parameters": [{"name": "booking_id", **ID}],
            "get": {"summary": "The booking's payment with every refund",
                    "responses": {"200": _json({"type": "object", "required": ["payments"],
                                                "properties": {"payments": {
                                                    "type": "array",
                                                    "items": _ref("PaymentRecord")}}},
                                               "Payments"),
                                  **_errors(401, 404)}},
        },
        "/api/v1/bookings/{booking_id}/refunds": {
            "parameters": [{"name": "booking_id", **ID}],
            "post": {"summary": "Staff: refund by hand, all or part of what is left",
                     "requestBody": _body(schemas.RefundCreate),
                     "responses": {"201": _json({"type": "object", "required": ["refund"],
                                                 "properties": {"refund": _ref("Refund")}},
                                                "Refund recorded (and sent)"),
                                   **_errors(401, 404, 409, *BODY_ERRORS)}},
        },
        "/api/v1/bookings/{booking_id}/approve": {
            "parameters": [{"name": "booking_id", **ID}],
            "post": {"summary": "Staff: approve a studio booking; its authorisation is captured",
                     "responses": {"200": booking, **_errors(401, 404, 409)}},
        },
        "/api/v1/bookings/{booking_id}/reject": {
            "parameters": [{"name": "booking_id", **ID}],
            "post": {"summary": "Staff: reject a studio booking; the authorisation is released",
                     "requestBody": {**_body(schemas.BookingReject), "required": False},
                     "responses": {"200": booking, **_errors(401, 404, 409, *BODY_ERRORS)}},
        },
        "/api/v1/waitlist": {
            "post": {
                "summary": "Queue for a taken slot",
                "requestBody": _body(schemas.WaitlistCreate),
                "responses": {"201": _json({"type": "object", "required": ["entry"],
                                            "properties": {"entry": _ref("WaitlistEntry")}},
                                           "Queued"),
                              **_errors(401, 403, 404, 409, *BODY_ERRORS)},
            },
            "get": {
                "summary": "Your waitlist entries and offers",
                "responses": {"200": _json({"type": "object", "required": ["entries"],
                                            "properties": {"entries": {
                                                "type": "array",
                                                "items": _ref("WaitlistEntry")}}}, "Entries"),
                              **_errors(401)},
            },
        },
        "/api/v1/waitlist/{entry_id}/accept": {
            "parameters": [{"name": "entry_id", **ID}],
            "post": {"summary": "Accept an offer: book the freed slot",
                     "responses": {"201": booking, **_errors(401, 403, 404, 409, 422)}},
        },
        "/api/v1/waitlist/{entry_id}/decline": {
            "parameters": [{"name": "entry_id", **ID}],
            "post": {"summary": "Decline an offer, or leave the waitlist",
                     "responses": {"200": _json({"type": "object", "properties": {
                         "entry": _ref("WaitlistEntry")}}, "Entry"), **_errors(401, 404, 422)}},
        },
        "/api/v1/feeds": {"get": {
            "summary": "Your calendar feeds with their secret addresses (created on first call)",
            "responses": {"200": _json({"type": "object", "required": ["feeds"], "properties": {
                "feeds": {"type": "array", "items": _ref("Feed")}}}, "Feeds"),
                **_errors(401)},
        }},
        "/api/v1/feeds/{feed_id}/rotate": {
            "parameters": [{"name": "feed_id", **ID}],
            "post": {"summary": "New secret address (the old one answers 404); re-enables",
                     "responses": {"200": _json({"type": "object", "required": ["feed"],
                                                 "properties": {"feed": _ref("Feed")}}, "Feed"),
                                   **_errors(401, 404)}},
        },
        "/api/v1/feeds/{feed_id}": {
            "parameters": [{"name": "feed_id", **ID}],
            "delete": {"summary": "Switch a feed off (its address answers 404)",
                       "responses": {"204": {"description": "Switched off"},
                                     **_errors(401, 404)}},
        },
        "/api/v1/openapi.json": {"get": {
            "summary": "This document", "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1"}},
        }},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Schiller40 booking API",
            "version": "1",
            "description": "Book desks, studios and rooms at Schiller40. See docs/api.md.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": components,
        },
        "paths": _with_server_answers(paths),
    }
