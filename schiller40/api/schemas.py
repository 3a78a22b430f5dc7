"""Request bodies and query strings of the API, validated strictly by pydantic.

Unknown fields are refused (a typo must not be silently ignored), strings are not coerced to
numbers (nor numbers to datetimes), and datetimes must be ISO 8601 strings with an offset:
"10:00" without one is ambiguous and a 422.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from ..core.routing import MAX_ID  # one bound for ids in paths and bodies
from ..resources.models import ResourceKind

Slug = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")]

# Row ids are PostgreSQL integers. A larger number names no row, but SQLite raised
# OverflowError on it (a 500) instead of finding nothing, so it is refused here.
Id = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]

# Nobody books outside this century: the years a date or date-time may be written with, the
# same in the validators below and in the OpenAPI document (a pattern on the string).
FIRST_YEAR, LAST_YEAR = 2000, 2099
EARLIEST = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
LATEST = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)
YEAR_PATTERN = "^20[0-9]{2}-"
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_datetime_text(value: object) -> object:
    # Lax pydantic reads 1795510800 (or "1795510800") as a Unix time in UTC: a number where a
    # date-time belongs is a client bug, not a booking at some instant nobody meant.
    if not isinstance(value, str) or not ISO_DATETIME.match(value):
        raise ValueError("must be an ISO 8601 date-time with an offset, as a string")
    return value


def _iso_date_text(value: object) -> object:
    if not isinstance(value, str) or not ISO_DATE.match(value):
        raise ValueError("must be an ISO 8601 date (YYYY-MM-DD)")
    return value


def _plausible_instant(value: datetime) -> datetime:
    # "0001-01-01T00:00:00+01:00" is valid ISO 8601 but lies before datetime.min in UTC:
    # converting it raised OverflowError deep in the rules (a 500). The year as written is
    # checked, as the document's pattern says; within it no offset can overflow.
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError("must lie between the years 2000 and 2099")
    return value


def _plausible_day(value: date) -> date:
    # Same reason: date=9999-12-31 with days=14 overflowed while building the window.
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError("must lie between the years 2000 and 2099")
    return value


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: a note or an e-mail address with one was a 500
    # there (and stored as given on SQLite).
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Instant = Annotated[
    AwareDatetime, BeforeValidator(_iso_datetime_text), AfterValidator(_plausible_instant),
    WithJsonSchema({
        "type": "string", "format": "date-time", "pattern": YEAR_PATTERN,
        "description": "ISO 8601 with an offset, in the years 2000 to 2099 (as written)",
    }),
]
Day = Annotated[
    date, BeforeValidator(_iso_date_text), AfterValidator(_plausible_day),
    WithJsonSchema({
        "type": "string", "format": "date", "pattern": YEAR_PATTERN + "[0-9]{2}-[0-9]{2}$",
        "description": "YYYY-MM-DD, in the years 2000 to 2099",
    }),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TokenCreate(Strict):
    email: Annotated[str, StringConstraints(min_length=3, max_length=254), AfterValidator(_no_nul)]
    password: Annotated[
        str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_nul)
    ]


class Repeat(Strict):
    freq: Literal["daily", "weekly"]
    count: Annotated[int, Field(ge=1, le=12)]


class Override(Strict):
    """Staff only: rules set aside for this request (``booking.rules.Overrides``), and why
    (required when any is true). Nothing overrides an overlap."""

    membership: bool = False
    induction: bool = False
    quota: bool = False
    opening_hours: bool = False
    blocks: bool = False
    desk_limit: bool = False
    reason: Annotated[str, StringConstraints(max_length=500), AfterValidator(_no_nul)] = ""


class BookingCreate(Strict):
    # strict=False on datetimes: JSON has no datetime type, so ISO 8601 strings are parsed.
    # Either a resource or a kind ("any free one"), never both, never neither (the view
    # refuses it); the document says so with oneOf, each branch naming a string.
    model_config = ConfigDict(
        extra="forbid", strict=False, frozen=True,
        json_schema_extra={"oneOf": [
            {"required": ["resource"], "properties": {"resource": {"type": "string"}}},
            {"required": ["kind"], "properties": {"kind": {"type": "string"}}},
        ]},
    )

    resource: Slug | None = None
    kind: ResourceKind | None = None
    start: Instant
    end: Instant
    repeat: Repeat | None = None
    on_conflict: Literal["fail", "skip"] = "fail"
    note: Annotated[str, StringConstraints(max_length=500), AfterValidator(_no_nul)] = ""
    on_behalf_of: Id | None = None
    # Staff booking a paid slot for a member: how it is paid (see docs/api.md#staff).
    payment: Literal["online", "desk_cash", "desk_card", "invoice"] | None = None
    override: Override | None = None


class BookingUpdate(Strict):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    start: Instant
    end: Instant
    resource: Slug | None = None
    override: Override | None = None


class BookingCancel(Strict):
    reason: Annotated[
        str, StringConstraints(max_length=500), AfterValidator(_no_nul)
    ] | None = None
    # Staff only: refund in full or not at all instead of by the cancellation policy.
    refund: Literal["policy", "full", "none"] = "policy"


class BookingReject(Strict):
    reason: Annotated[
        str, StringConstraints(max_length=500), AfterValidator(_no_nul)
    ] | None = None


class RefundCreate(Strict):
    amount_cents: Annotated[int, Field(ge=1, le=10_000_000)]
    note: Annotated[str, StringConstraints(max_length=500), AfterValidator(_no_nul)] = ""


class WaitlistCreate(Strict):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    resource: Slug
    start: Instant
    end: Instant


class AvailabilityQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    date: Day
    days: Annotated[int, Field(ge=1, le=14)] = 1
    # Query parameters cannot exclude each other in OpenAPI: the descriptions say it.
    kind: ResourceKind | None = Field(
        default=None, description="Only this kind of space; not together with resource (422)")
    resource: Slug | None = Field(
        default=None, description="Only this space; not together with kind (422)")


class BookingListQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    # "from" is a Python keyword, hence the alias.
    from_: Instant | None = Field(default=None, alias="from")
    to: Instant | None = None
    user: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    resource: Slug | None = None
    status: Literal["held", "confirmed", "cancelled", "expired"] | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100


Cap = Annotated[int | None, Field(ge=0, le=31 * 24, strict=True)]


class MemberCapsUpdate(Strict):
    """A member's monthly caps on the company's shared credit; null: the company's default.
    A field left out stays as it is."""

    cap_desk_days: Cap = None
    cap_studio_hours: Cap = None


class MembershipAction(Strict):
    """``POST /api/v1/membership``: change or end your own membership."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    action: Literal["change", "withdraw_change", "cancel", "withdraw_cancellation", "end"] = (
        Field(description="change: to `tier` (up from tomorrow, pro-rated; down from the 1st; "
                          "fee-less: from today). cancel: with the tier's notice to the "
                          "earliest end. end: a fee-less membership ends today. withdraw_*: "
                          "take back a planned change or a cancellation")
    )
    tier: Slug | None = Field(default=None, description="change: the tier's slug (required)")
    preview: bool = Field(default=False, description="Only answer what it would mean "
                                                     "(amounts, dates); change nothing")
    ends_on: Day | None = Field(
        default=None,
        description="cancel: the end date you were shown; if the earliest end has moved "
                    "since, 409 terms_changed and nothing is changed")
