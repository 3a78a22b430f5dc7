"""Factories for test data: one place that knows how to make a valid object of each kind.

Every method fills sensible defaults, accepts overrides, adds to the session and flushes, so
the object has an id. Tests that need the data visible to requests rely on the test client,
which commits the test's session before each request.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from schiller40.accounts.models import hash_password
from schiller40.core.time import FrozenClock
from schiller40.models import (
    Block,
    BlockKind,
    Booking,
    BookingStatus,
    BookingUnit,
    Company,
    Induction,
    Location,
    Membership,
    OpeningHours,
    Resource,
    ResourceKind,
    Role,
    Tier,
    TierKindPrice,
    User,
)

PASSWORD = "correct horse battery"
_hashes: dict[str, str] = {}


def password_hash(password: str) -> str:
    """A hash of ``password``, computed once per run: most tests create users with the same
    password. Each hash still has its own salt per password."""
    if password not in _hashes:
        _hashes[password] = hash_password(password)
    return _hashes[password]


class Factory:
    def __init__(self, session: Session, clock: FrozenClock) -> None:
        self.session = session
        self.clock = clock
        self._seq = itertools.count(1)

    def _n(self) -> int:
        return next(self._seq)

    def count(self, model: type, **filters: Any) -> int:
        """Rows of ``model`` (matching ``filters``) as this session sees them."""
        query = select(func.count()).select_from(model).filter_by(**filters)
        return self.session.scalar(query)

    def _save(self, obj: Any) -> Any:
        self.session.add(obj)
        self.session.flush()
        return obj

    def location(self, **kw: Any) -> Location:
        n = self._n()
        values: dict[str, Any] = dict(
            slug=f"location-{n}", name=f"Location {n}", street="Schillerstraße 40",
            postal_code="38440", city="Wolfsburg", timezone="Europe/Berlin",
            holiday_country="DE", holiday_subdivision="NI", half_day_split=time(13),
        )
        values.update(kw)
        location = Location(**values)
        if "opening_hours" not in kw:
            location.opening_hours = [
                OpeningHours(weekday=d, opens=time(8), closes=time(20)) for d in range(5)
            ] + [OpeningHours(weekday=5, opens=time(10), closes=time(16))]
        return self._save(location)

    def resource(self, location: Location | None = None, **kw: Any) -> Resource:
        n = self._n()
        kind = kw.pop("kind", ResourceKind.STUDIO)
        defaults: dict[str, Any] = {
            ResourceKind.DESK: dict(booking_unit=BookingUnit.HALF_DAY, min_duration_minutes=240,
                                    max_duration_minutes=720, zone="Open Space A"),
            ResourceKind.STUDIO: dict(booking_unit=BookingUnit.SLOT_30, min_duration_minutes=60,
                                      max_duration_minutes=480, buffer_after_minutes=30,
                                      zone="Studios"),
            ResourceKind.ROOM: dict(booking_unit=BookingUnit.SLOT_30, min_duration_minutes=30,
                                    max_duration_minutes=480, zone="Meeting rooms"),
        }[kind]
        values = dict(
            slug=f"{kind.value}-{n}", name=f"{kind.value.title()} {n}", kind=kind, **defaults
        )
        values.update(kw)
        return self._save(Resource(location=location or self.location(), **values))

    def tier(self, **kw: Any) -> Tier:
        n = self._n()
        prices = kw.pop("prices", {
            ResourceKind.DESK: (None, 700, 1200),
            ResourceKind.STUDIO: (3500, None, None),
            ResourceKind.ROOM: (1200, None, None),
        })
        values: dict[str, Any] = dict(
            slug=f"tier-{n}", name=f"Tier {n}", monthly_price_cents=8900,
            booking_horizon_days=30, max_future_bookings=10, included_desk_days=8,
            included_studio_hours=2,
        )
        values.update(kw)
        tier = Tier(**values)
        tier.prices = [
            TierKindPrice(kind=k, price_hour_cents=h, price_half_day_cents=hd, price_day_cents=d)
            for k, (h, hd, d) in prices.items()
        ]
        return self._save(tier)

    def company(self, **kw: Any) -> Company:
        values: dict[str, Any] = dict(name=f"Company {self._n()}", created_at=self.clock())
        values.update(kw)
        return self._save(Company(**values))

    def user(
        self, *, role: Role = Role.MEMBER, tier: Tier | None = None, password: str = PASSWORD,
        **kw: Any,
    ) -> User:
        n = self._n()
        values: dict[str, Any] = dict(
            email=f"user{n}@example.org", name=f"User {n}", role=role, created_at=self.clock(),
            # Verified unless a test asks otherwise (email_verified_at=None): most tests are
            # about something else than confirming the address.
            email_verified_at=self.clock(),
        )
        values.update(kw)
        user = User(password_hash=password_hash(password), **values)
        self._save(user)
        if tier is not None:
            self.membership(user=user, tier=tier)
        return user

    def membership(self, *, user: User, tier: Tier, **kw: Any) -> Membership:
        values: dict[str, Any] = dict(valid_from=date(2026, 1, 1), created_at=self.clock())
        values.update(kw)
        return self._save(Membership(user=user, tier=tier, **values))

    def induction(self, *, user: User, topic: str, **kw: Any) -> Induction:
        values: dict[str, Any] = dict(granted_at=self.clock())
        values.update(kw)
        return self._save(Induction(user=user, topic=topic, **values))

    def booking(
        self,
        *,
        resource: Resource | None = None,
        user: User | None = None,
        starts_at: datetime | None = None,
        duration: timedelta = timedelta(hours=2),
        **kw: Any,
    ) -> Booking:
        resource = resource or self.resource()
        starts_at = starts_at or self.clock() + timedelta(days=1)
        status = kw.pop("status", BookingStatus.CONFIRMED)
        now = self.clock()
        booking = Booking(
            resource=resource, user=user or self.user(), status=status,
            created_at=now, updated_at=now,
            hold_expires_at=kw.pop("hold_expires_at", now + timedelta(minutes=30))
            if status is BookingStatus.HELD else None,
            **kw,
        )
        booking.set_range(starts_at, starts_at + duration, resource)
        return self._save(booking)

    def block(self, *, resource: Resource | None = None, **kw: Any) -> Block:
        starts_at = kw.pop("starts_at", self.clock() + timedelta(days=1))
        resource = resource or self.resource()
        values: dict[str, Any] = dict(
            location_id=resource.location_id, kind=BlockKind.MAINTENANCE, starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=4), reason="Maintenance",
            created_at=self.clock(),
        )
        values.update(kw)
        return self._save(Block(resource=resource, **values))
