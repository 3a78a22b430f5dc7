"""Admin use cases for membership tiers: what members may book, how far ahead, what is
included and what the rest costs.

The booking engine reads these rows on every quote (``booking/snapshots.tier_rules``), so a
change applies to bookings made afterwards; bookings already made keep the price they were
quoted. Money is integer cents, gross (VAT included at ``VAT_RATE_PERCENT``), like
everywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..core import audit
from ..core.locking import locked_get, write
from ..core.money import money
from ..core.slugs import check_slug, slug_taken
from ..errors import InvalidInput
from ..resources.models import ResourceKind
from .models import Membership, Tier, TierKindPrice

if TYPE_CHECKING:
    from ..accounts.models import User

MAX_PRICE_CENTS = 1_000_000  # 10.000 €: beyond that it is a typing error
MAX_HORIZON_DAYS = 730  # the booking pages accept dates up to two years ahead
MAX_FUTURE_BOOKINGS = 1000
MAX_DESK_DAYS = 31
MAX_STUDIO_HOURS = 744  # every hour of a month
MAX_POSITION = 9999


@dataclass(frozen=True)
class KindTerms:
    """Prices for one bookable kind; None means that unit is not sold separately."""

    hour_cents: int | None = None
    half_day_cents: int | None = None
    day_cents: int | None = None


@dataclass(frozen=True)
class TierData:
    """Everything an admin form sets on a tier. ``prices`` holds one entry per kind the
    tier may book (its presence is the permission). ``slug`` is only used when creating."""

    name: str
    slug: str = ""
    description: str = ""
    monthly_price_cents: int = 0
    booking_horizon_days: int = 14
    max_future_bookings: int = 10
    included_desk_days: int = 0
    included_studio_hours: int = 0
    is_active: bool = True
    position: int = 0
    prices: Mapping[ResourceKind, KindTerms] = field(default_factory=dict)


SCALARS = (
    "name", "description", "monthly_price_cents", "booking_horizon_days",
    "max_future_bookings", "included_desk_days", "included_studio_hours", "is_active",
    "position",
)


def price_field(kind: ResourceKind, unit: str) -> str:
    """The form field name of one price, e.g. ``desk_day_cents`` (errors are keyed so)."""
    return f"{kind.value}_{unit}_cents"


def _add(errors: dict[str, list[str]], name: str, message: Any) -> None:
    errors.setdefault(name, []).append(str(message))


def _price_range() -> Any:
    return _l("Between %(low)s and %(high)s.", low=money(0), high=money(MAX_PRICE_CENTS))


def _between(errors: dict[str, list[str]], name: str, value: int, high: int) -> None:
    if not 0 <= value <= high:
        _add(errors, name, _l("Between 0 and %(n)d.", n=high))


def _validate(data: TierData, *, creating: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if creating:
        check_slug(data.slug, errors)
    if not data.name:
        _add(errors, "name", _l("Please enter a name."))
    elif len(data.name) > 100:
        _add(errors, "name", _l("At most %(n)d characters.", n=100))
    if len(data.description) > 4000:
        _add(errors, "description", _l("At most %(n)d characters.", n=4000))
    if not 0 <= data.monthly_price_cents <= MAX_PRICE_CENTS:
        _add(errors, "monthly_price_cents", _price_range())
    _between(errors, "booking_horizon_days", data.booking_horizon_days, MAX_HORIZON_DAYS)
    _between(errors, "max_future_bookings", data.max_future_bookings, MAX_FUTURE_BOOKINGS)
    _between(errors, "included_desk_days", data.included_desk_days, MAX_DESK_DAYS)
    _between(errors, "included_studio_hours", data.included_studio_hours, MAX_STUDIO_HOURS)
    _between(errors, "position", data.position, MAX_POSITION)
    for kind, terms in data.prices.items():
        for unit in ("hour", "half_day", "day"):
            value = getattr(terms, f"{unit}_cents")
            if value is not None and not 0 <= value <= MAX_PRICE_CENTS:
                _add(errors, price_field(kind, unit), _price_range())
        # What the engine charges with (rules.quote): desks by half or whole day (a missing
        # one is derived from the other), studios and rooms by the hour. Without it a
        # booking beyond the included credit would silently cost nothing.
        if kind is ResourceKind.DESK:
            if terms.half_day_cents is None and terms.day_cents is None:
                _add(errors, price_field(kind, "day"), _l(
                    "Enter a day or half-day price (0 for free)."
                ))
        elif terms.hour_cents is None:
            _add(errors, price_field(kind, "hour"), _l("Enter an hourly price (0 for free)."))
    if data.included_desk_days and ResourceKind.DESK not in data.prices:
        _add(errors, "included_desk_days", _l(
            "Included desk days need desks to be bookable in this tier."
        ))
    if data.included_studio_hours and ResourceKind.STUDIO not in data.prices:
        _add(errors, "included_studio_hours", _l(
            "Included studio hours need studios to be bookable in this tier."
        ))
    return errors


def _normalise(data: TierData) -> TierData:
    """Trim text; keep only the prices the engine uses for each kind (an hourly desk price
    or a day price for a room would be stored but never charged, which misleads)."""
    prices: dict[ResourceKind, KindTerms] = {}
    for kind, terms in data.prices.items():
        if kind is ResourceKind.DESK:
            prices[kind] = KindTerms(None, terms.half_day_cents, terms.day_cents)
        else:
            prices[kind] = KindTerms(terms.hour_cents, None, None)
    values = {f.name: getattr(data, f.name) for f in fields(data)}
    values.update(
        slug=data.slug.strip(), name=data.name.strip(),
        description=data.description.strip(), prices=prices,
    )
    return TierData(**values)


def _terms_snapshot(tier: Tier) -> dict[str, list[int | None]]:
    return {
        p.kind.value: [p.price_hour_cents, p.price_half_day_cents, p.price_day_cents]
        for p in sorted(tier.prices, key=lambda p: p.kind.value)
    }


def _apply_prices(tier: Tier, prices: Mapping[ResourceKind, KindTerms]) -> None:
    """Update rows in place (a kind dropped loses its row; a new kind gets one)."""
    for row in list(tier.prices):
        if row.kind not in prices:
            tier.prices.remove(row)
    for kind, terms in prices.items():
        row = tier.price_for(kind)
        if row is None:
            row = TierKindPrice(kind=kind)
            tier.prices.append(row)
        row.price_hour_cents = terms.hour_cents
        row.price_half_day_cents = terms.half_day_cents
        row.price_day_cents = terms.day_cents


def create_tier(session: Session, *, data: TierData, actor: User, now: datetime) -> Tier:
    """Add a tier. It is offered to new memberships while active."""
    data = _normalise(data)
    errors = _validate(data, creating=True)
    try:
        with write(session):
            if "slug" not in errors and session.scalar(
                select(exists().where(Tier.slug == data.slug))
            ):
                _add(errors, "slug", _l("This short name is already used."))
            if errors:
                raise InvalidInput(fields=errors)
            tier = Tier(slug=data.slug, **{name: getattr(data, name) for name in SCALARS})
            _apply_prices(tier, data.prices)
            session.add(tier)
            session.flush()
            audit.record(
                session, action="tier.created", now=now, actor_id=actor.id,
                object_type="tier", object_id=tier.id,
                details={"slug": tier.slug, "name": tier.name, "prices": _terms_snapshot(tier)},
            )
    except IntegrityError as exc:
        raise slug_taken(exc, "tier") from exc
    return tier


def update_tier(
    session: Session, *, tier_id: int, data: TierData, actor: User, now: datetime
) -> Tier:
    """Change a tier's terms. They apply to bookings made from now on, for every member of
    the tier; bookings already made keep what they were quoted."""
    data = _normalise(data)
    errors = _validate(data, creating=False)
    try:
        with write(session):
            tier = locked_get(session, Tier, tier_id)
            if errors:
                raise InvalidInput(fields=errors)
            changed: dict[str, list[Any]] = {}
            for name in SCALARS:
                old, new = getattr(tier, name), getattr(data, name)
                if old != new:
                    changed[name] = [old, new]
                    setattr(tier, name, new)
            before = _terms_snapshot(tier)
            _apply_prices(tier, data.prices)
            after = _terms_snapshot(tier)
            if before != after:
                changed["prices"] = [before, after]
            if changed:
                session.flush()
                audit.record(
                    session, action="tier.updated", now=now, actor_id=actor.id,
                    object_type="tier", object_id=tier.id, details={"changed": changed},
                )
    except IntegrityError as exc:
        raise slug_taken(exc, "tier") from exc
    return tier


def fee_less_tier(session: Session) -> Tier | None:
    """The tier without a monthly fee whose terms apply to a member whose paid tier is
    suspended for an unpaid fee (the Tagespass in the demo): active, no monthly price, the
    first in the list."""
    return session.scalar(
        select(Tier)
        .where(Tier.is_active.is_(True), Tier.monthly_price_cents == 0)
        .order_by(Tier.position, Tier.id)
        .limit(1)
    )


def in_use(session: Session, tier_id: int) -> bool:
    """True if any membership (past, present or future) refers to the tier."""
    return bool(session.scalar(select(exists().where(Membership.tier_id == tier_id))))


def delete_tier(session: Session, *, tier_id: int, actor: User, now: datetime) -> str:
    """Delete a tier no membership ever used (one made by mistake). A tier in use can only
    be deactivated: memberships and their history keep pointing at it."""
    message = _l("Members hold this tier, so it cannot be deleted. Deactivate it instead.")
    try:
        with write(session):
            tier = locked_get(session, Tier, tier_id)
            if in_use(session, tier.id):
                raise InvalidInput(message)
            slug = tier.slug
            session.delete(tier)
            audit.record(
                session, action="tier.deleted", now=now, actor_id=actor.id, object_type="tier",
                object_id=tier_id, details={"slug": slug},
            )
            session.flush()
    except IntegrityError as exc:  # a membership added meanwhile (RESTRICT)
        raise InvalidInput(message) from exc
    return slug
