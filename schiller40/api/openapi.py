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

_DAY = {"type": ["string", "null"], "format": "date"}
_CENTS = {"type": ["integer", "null"]}
_HELD = {
    "anyOf": [{"type": "null"}, {
        "type": "object",
        "required": ["tier", "tier_name", "status", "valid_from", "valid_until", "billed"],
        "properties": {"tier": {"type": "string"}, "tier_name": {"type": "string"},
                       "status": {"enum": ["active", "paused", "cancelled"]},
                       "valid_from": _DAY, "valid_until": _DAY, "billed": {"type": "boolean"}},
    }],
}
_CHANGE = {
    "anyOf": [{"type": "null"}, {
        "type": "object",
        "required": ["id", "kind", "status", "from_tier", "to_tier", "effective_on",
                     "proration_cents", "monthly_cents"],
        "properties": {
            "id": {"type": "integer"}, "kind": {"enum": ["upgrade", "downgrade"]},
            "status": {"enum": ["pending", "planned", "applied", "withdrawn"]},
            "from_tier": {"type": "string"}, "to_tier": {"type": "string"},
            "effective_on": _DAY, "proration_cents": _CENTS, "monthly_cents": {"type": "integer"},
        },
    }],
}
# GET/POST /api/v1/membership (schiller40/api/membership.py)
MEMBERSHIP_SCHEMAS: dict[str, Any] = {
    "MembershipState": {
        "type": "object",
        "required": ["today", "membership", "upcoming", "subscription", "planned_change",
                     "may", "cancel_terms", "tiers"],
        "properties": {
            "today": _DAY,
            "membership": _HELD,
            "upcoming": _HELD,
            "subscription": {"anyOf": [{"type": "null"}, {
                "type": "object",
                "required": ["tier", "status", "monthly_cents", "next_charge_on",
                             "next_charge_cents", "payment_method", "mandate_reference",
                             "cancel_at"],
                "properties": {
                    "tier": {"type": "string"},
                    "status": {"enum": ["incomplete", "active", "past_due", "suspended"]},
                    "quantity": {"type": "integer"}, "monthly_cents": {"type": "integer"},
                    "currency": {"type": "string"}, "starts_on": _DAY,
                    "period_start": _DAY, "period_end": _DAY, "paid_through": _DAY,
                    "next_charge_on": _DAY, "next_charge_cents": _CENTS,
                    "open_cents": {"type": "integer"},
                    "payment_method": {"enum": ["card", "sepa_debit", None]},
                    "payment_method_label": {"type": ["string", "null"]},
                    "mandate_reference": {"type": ["string", "null"]},
                    "cancel_at": {**_DAY, "description": "the last day, once cancelled"},
                },
            }]},
            "planned_change": _CHANGE,
            "may": {"type": "object",
                    "required": ["change", "cancel", "withdraw_cancellation", "end"],
                    "properties": {k: {"type": "boolean"} for k in (
                        "change", "cancel", "withdraw_cancellation", "end")}},
            "cancel_terms": {"anyOf": [{"type": "null"}, {
                "type": "object", "required": ["notice_days", "ends_on", "last_charge_on"],
                "properties": {"notice_days": {"type": "integer"}, "ends_on": _DAY,
                               "last_charge_on": _DAY},
                "description": "If you cancelled now: the earliest end"}]},
            "tiers": {"type": "array", "description": "Tiers you may change to", "items": {
                "type": "object", "required": ["slug", "name", "monthly_price_cents"],
                "properties": {"slug": {"type": "string"}, "name": {"type": "string"},
                               "monthly_price_cents": {"type": "integer"}}}},
            "change": _CHANGE,
            "quote": {"type": "object", "description": "preview: what the action would mean",
                      "properties": {
                          "tier": {"type": "string"},
                          "kind": {"enum": ["upgrade", "downgrade", "switch"]},
                          "effective_on": _DAY, "last_day_old": _DAY, "ends_on": _DAY,
                          "notice_days": {"type": "integer"},
                          "monthly_cents": {"type": "integer"}, "next_charge_on": _DAY,
                          "charge_now": {"anyOf": [{"type": "null"}, {
                              "type": "object",
                              "required": ["amount_cents", "net_cents", "tax_cents",
                                           "period_start", "period_end"],
                              "properties": {
                                  "amount_cents": {"type": "integer"},
                                  "net_cents": {"type": "integer"},
                                  "tax_cents": {"type": "integer"},
                                  "vat_percent": {"type": "integer"},
                                  "period_start": _DAY, "period_end": _DAY,
                                  "days_billed": {"type": "integer"},
                                  "days_in_month": {"type": "integer"}}}]}}},
        },
    },
}

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
                     "booking_horizon_days", "max_future_bookings", "signup_mode",
                     "notice_days", "kinds"],
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
            "signup_mode": {
                "enum": ["self_service", "on_request", "staff_only"],
                "description": "how a member gets the tier: self_service (chosen online; "
                               "with a monthly fee as a subscription), on_request (asked "
                               "for online, confirmed by staff) or staff_only (assigned by "
                               "staff)",
            },
            "notice_days": {"type": "integer", "minimum": 0,
                            "description": "days of notice to cancel at the end of a "
                                           "calendar month"},
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
    "Company": {
        "type": "object",
        "required": ["id", "name", "legal_name", "address", "vat_id", "invoice_email",
                     "leitweg_id", "default_cap_desk_days", "default_cap_studio_hours", "role"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "legal_name": {"type": "string"},
            "address": {
                "type": "object",
                "required": ["street", "postal_code", "city", "country"],
                "properties": {
                    "street": {"type": ["string", "null"]},
                    "postal_code": {"type": ["string", "null"]},
                    "city": {"type": ["string", "null"]},
                    "country": {"type": "string", "description": "ISO 3166-1 alpha-2"},
                },
            },
            "vat_id": {"type": ["string", "null"], "description": "compact, e.g. DE136695976"},
            "invoice_email": {"type": ["string", "null"]},
            "leitweg_id": {"type": ["string", "null"],
                           "description": "routing id for public-sector e-invoices"},
            "default_cap_desk_days": {"type": ["integer", "null"],
                                      "description": "per member and month; null: no cap"},
            "default_cap_studio_hours": {"type": ["integer", "null"]},
            "role": {"enum": ["manager", "member"], "description": "the caller's"},
        },
    },
    "CompanyMember": {
        "type": "object",
        "required": ["id", "name", "email", "role", "cap_desk_days", "cap_studio_hours",
                     "effective_cap_desk_days", "effective_cap_studio_hours",
                     "used_desk_days", "used_studio_hours"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "email": {"type": "string"},
            "role": {"enum": ["manager", "member"]},
            "cap_desk_days": {"type": ["integer", "null"],
                              "description": "the member's own; null: the company's default"},
            "cap_studio_hours": {"type": ["integer", "null"]},
            "effective_cap_desk_days": {"type": ["integer", "null"],
                                        "description": "what applies; null: no cap"},
            "effective_cap_studio_hours": {"type": ["integer", "null"]},
            "used_desk_days": {"type": "number", "description": "this month"},
            "used_studio_hours": {"type": "number", "description": "this month"},
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
    **MEMBERSHIP_SCHEMAS,
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
        schemas.RefundCreate, schemas.MemberCapsUpdate, schemas.MembershipAction,
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
        "/api/v1/membership": {
            "get": {
                "summary": "Your membership and monthly fee: tier, status, period, next charge, "
                           "payment method, planned change, cancellation date",
                "responses": {"200": _json(_ref("MembershipState"), "Your membership"),
                              **_errors(401)},
            },
            "post": {
                "summary": "Change your tier, cancel with notice, end a fee-less membership, "
                           "or withdraw a planned change or cancellation; preview answers "
                           "the amounts and dates without changing anything. Safe to send "
                           "twice. 409 codes: same_tier, use_cancel, signup_required, "
                           "change_planned, changed_today, cancellation_pending, not_started, "
                           "change_not_allowed, already_cancelled, terms_changed, use_end; "
                           "404: nothing_to_withdraw, nothing_to_cancel, nothing_to_end",
                "requestBody": _body(schemas.MembershipAction),
                "responses": {"200": _json(_ref("MembershipState"), "Done (or previewed)"),
                              **_errors(401, 404, 409, 503, *BODY_ERRORS)},
            },
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
        "/api/v1/companies/me": {"get": {
            "summary": "Your company: billing data and your role (404 without one)",
            "responses": {"200": _json({"type": "object", "required": ["company"],
                                        "properties": {"company": _ref("Company")}},
                                       "Company"), **_errors(401, 404)},
        }},
        "/api/v1/companies/me/members": {"get": {
            "summary": "Managers: your company's members, their caps and this month's use",
            "responses": {"200": _json({"type": "object", "required": ["month", "members"],
                                        "properties": {
                                            "month": {"type": "string",
                                                      "pattern": "^[0-9]{4}-[0-9]{2}$"},
                                            "members": {"type": "array",
                                                        "items": _ref("CompanyMember")}}},
                                       "Members"), **_errors(401, 403, 404)},
        }},
        "/api/v1/companies/me/members/{member_id}": {
            "parameters": [{"name": "member_id", **ID}],
            "patch": {
                "summary": "Managers: set a member's monthly caps (null: the company's "
                           "default; a field left out stays)",
                "requestBody": _body(schemas.MemberCapsUpdate),
                "responses": {"200": _json({"type": "object", "required": ["member"],
                                            "properties": {"member": _ref("CompanyMember")}},
                                           "Member"),
                              **_errors(401, 403, 404, 409, *BODY_ERRORS)},
            },
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
