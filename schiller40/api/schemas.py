"""Request bodies and query strings of the API, validated strictly by pydantic.

Unknown fields are refused (a typo must not be silently ignored), strings are not coerced to
numbers, and datetimes must carry an offset: "10:00" without one is ambiguous and a 422.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from ..resources.models import ResourceKind

Slug = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TokenCreate(Strict):
    email: Annotated[str, StringConstraints(min_length=3, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Repeat(Strict):
    freq: Literal["daily", "weekly"]
    count: Annotated[int, Field(ge=1, le=12)]


class Override(Strict):
    """Staff only: book outside opening hours or over a block. Nothing overrides an overlap."""

    opening_hours: bool = False
    blocks: bool = False


class BookingCreate(Strict):
    # strict=False on datetimes: JSON has no datetime type, so ISO 8601 strings are parsed.
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    resource: Slug | None = None
    kind: ResourceKind | None = None
    start: AwareDatetime
    end: AwareDatetime
    repeat: Repeat | None = None
    on_conflict: Literal["fail", "skip"] = "fail"
    note: Annotated[str, StringConstraints(max_length=500)] = ""
    on_behalf_of: Annotated[int, Field(ge=1, strict=True)] | None = None
    override: Override | None = None


class BookingUpdate(Strict):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    start: AwareDatetime
    end: AwareDatetime
    resource: Slug | None = None
    override: Override | None = None


class BookingCancel(Strict):
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


class WaitlistCreate(Strict):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    resource: Slug
    start: AwareDatetime
    end: AwareDatetime


class AvailabilityQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    date: date
    days: Annotated[int, Field(ge=1, le=14)] = 1
    kind: ResourceKind | None = None
    resource: Slug | None = None


class BookingListQuery(Strict):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)

    # "from" is a Python keyword, hence the alias.
    from_: AwareDatetime | None = Field(default=None, alias="from")
    to: AwareDatetime | None = None
    user: Annotated[int, Field(ge=1)] | None = None
    resource: Slug | None = None
    status: Literal["held", "confirmed", "cancelled", "expired"] | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100
