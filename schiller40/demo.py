"""Demo content for Schiller40: realistic enough to try every feature on the embedded default.

``seed`` is idempotent: it finds things by slug or e-mail and only creates what is missing, so
running it again changes nothing and never resets a password someone has changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from .accounts.models import Company, Role, User
from .core import audit
from .core.locking import write
from .core.time import to_local
from .membership.models import Induction, Membership, SignupMode, Tier, TierKindPrice
from .resources.models import BookingUnit, Closure, Location, OpeningHours, Resource, ResourceKind

DEMO_PASSWORDS = {
    "staff@schiller40.example": "Markthalle-Studio-2026",
    "member@schiller40.example": "Markthalle-Member-2026",
    "startup@schiller40.example": "Markthalle-Startup-2026",
}

# (weekday, opens, closes); Sunday closed.
OPENING_HOURS = [(d, time(8), time(20)) for d in range(5)] + [(5, time(10), time(16))]


@dataclass(frozen=True)
class TierSpec:
    slug: str
    name: str
    description: str
    monthly: int
    horizon: int
    max_future: int
    desk_days: int
    studio_hours: int
    # kind -> (hour, half day, day) in cents, gross
    prices: dict[ResourceKind, tuple[int | None, int | None, int | None]]
    position: int
    signup_mode: SignupMode = SignupMode.STAFF_ONLY
    notice_days: int = 0


TIERS = [
    TierSpec(
        "day-pass", "Tagespass", "Zahlen nach Nutzung: Arbeitsplätze halbtags oder ganztags.",
        0, 14, 5, 0, 0,
        {ResourceKind.DESK: (None, 900, 1500)}, 0,
        SignupMode.SELF_SERVICE, 0,  # chosen online, paid per booking
    ),
    TierSpec(
        "flex", "Flex",
        "8 Arbeitsplatztage im Monat, Studios und Besprechungsraum zum Mitgliederpreis.",
        8900, 30, 10, 8, 0,
        {
            ResourceKind.DESK: (None, 700, 1200),
            ResourceKind.STUDIO: (3500, None, None),
            ResourceKind.ROOM: (1200, None, None),
        }, 1,
        SignupMode.SELF_SERVICE, 14,  # a monthly subscription, online
    ),
    TierSpec(
        "resident", "Resident", "Jeden Werktag ein Arbeitsplatz und 4 Studiostunden im Monat.",
        22900, 60, 30, 22, 4,
        {
            ResourceKind.DESK: (None, 600, 1000),
            ResourceKind.STUDIO: (3000, None, None),
            ResourceKind.ROOM: (1000, None, None),
        }, 2,
        SignupMode.ON_REQUEST, 90,  # a contract: staff confirm
    ),
    TierSpec(
        "startup", "Startup",
        "Für junge Wolfsburger Startups: gemeinsames Team-Guthaben, 16 Arbeitsplatztage "
        "und 6 Studiostunden.",
        14900, 60, 20, 16, 6,
        {
            ResourceKind.DESK: (None, 600, 1000),
            ResourceKind.STUDIO: (2500, None, None),
            ResourceKind.ROOM: (800, None, None),
        }, 3,
        SignupMode.ON_REQUEST, 30,  # staff check that it is a young local startup
    ),
]


def _get_or_create(
    session: Session, created: Counter[str], model: type, lookup: dict, **values: object
):
    obj = session.scalar(select(model).filter_by(**lookup))
    if obj is None:
        obj = model(**lookup, **values)
        session.add(obj)
        created[model.__name__] += 1
    return obj


def seed(session: Session, *, now: datetime, progress: Callable[[str], None] = print) -> None:
    """Create the demo location, resources, tiers and accounts where they are missing, in
    one write transaction (a failed run leaves nothing half-made).

    The audit log records a run only if it created something (and what): a run that finds
    everything in place changes nothing, not even the log.
    """
    with write(session):
        _seed(session, now=now, progress=progress)


def _seed(session: Session, *, now: datetime, progress: Callable[[str], None]) -> None:
    """Everything ``seed`` does, inside its ``write`` block."""
    created: Counter[str] = Counter()
    progress("Location Schiller40 ...")
    location = _get_or_create(
        session, created, Location, {"slug": "schiller40"},
        name="Schiller40", street="Schillerstraße 40", postal_code="38440", city="Wolfsburg",
        timezone="Europe/Berlin", holiday_country="DE", holiday_subdivision="NI",
        half_day_split=time(13, 0),
    )
    session.flush()
    if not location.opening_hours:
        for weekday, opens, closes in OPENING_HOURS:
            location.opening_hours.append(
                OpeningHours(weekday=weekday, opens=opens, closes=closes)
            )
            created["OpeningHours"] += 1
    year = to_local(now).year
    for first, last in ((date(year, 12, 24), date(year + 1, 1, 1)),):
        if not any(c.first_day == first for c in location.closures):
            location.closures.append(
                Closure(first_day=first, last_day=last, reason="Winterpause")
            )
            created["Closure"] += 1

    progress("Resources: 24 hot desks, 2 fixed desks, 2 studios, 1 meeting room ...")
    resources: list[dict] = []
    for zone_letter, zone in (("a", "Open Space A"), ("b", "Open Space B")):
        for n in range(1, 13):
            resources.append(dict(
                slug=f"desk-{zone_letter}{n:02d}",
                name=f"Arbeitsplatz {zone_letter.upper()}{n:02d}",
                kind=ResourceKind.DESK, zone=zone, booking_unit=BookingUnit.HALF_DAY,
                min_duration_minutes=240, max_duration_minutes=720, position=n,
                description="Höhenverstellbarer Tisch, 27-Zoll-Monitor (USB-C), "
                "abschließbarer Rollcontainer.",
            ))
    for n in (1, 2):
        resources.append(dict(
            slug=f"fixed-{n:02d}", name=f"Fester Arbeitsplatz {n}", kind=ResourceKind.DESK,
            zone="Feste Arbeitsplätze", booking_unit=BookingUnit.DAY, min_duration_minutes=360,
            max_duration_minutes=720, position=n,
            description="Ruhiger Eckplatz am Fenster, tageweise buchbar.",
        ))
    resources += [
        dict(
            slug="ar-vr-studio", name="AR/VR-Studio", kind=ResourceKind.STUDIO, zone="Studios",
            booking_unit=BookingUnit.SLOT_30, min_duration_minutes=60,
            max_duration_minutes=480, buffer_after_minutes=30, capacity=6,
            induction="ar-vr-studio", position=1,
            description="Getrackte Fläche von 6 x 5 m, zwei VR-Headsets mit PC, Arbeitsplätze mit "
            "Unity und Unreal. Nur nach Einweisung.",
        ),
        dict(
            slug="broadcast-studio", name="Broadcast-Studio", kind=ResourceKind.STUDIO,
            zone="Studios", booking_unit=BookingUnit.SLOT_30, min_duration_minutes=60,
            max_duration_minutes=480, buffer_after_minutes=30, capacity=4,
            induction="broadcast-studio", position=2, requires_approval=True,
            description="Podcast- und Livestream-Studio: vier Mikrofone, drei Kameras, "
            "Greenscreen, Streaming-Pult. Nur nach Einweisung.",
        ),
        dict(
            slug="meeting-room", name="Besprechungsraum Allerpark", kind=ResourceKind.ROOM,
            zone="Besprechungsräume", booking_unit=BookingUnit.SLOT_30, min_duration_minutes=30,
            max_duration_minutes=480, capacity=8, position=1,
            description="Tisch für acht Personen, 65-Zoll-Bildschirm mit kabelloser "
            "Übertragung, Whiteboard.",
        ),
    ]
    for spec in resources:
        slug = spec.pop("slug")
        _get_or_create(session, created, Resource, {"slug": slug}, location=location, **spec)

    progress("Tiers: Tagespass, Flex, Resident, Startup ...")
    tiers: dict[str, Tier] = {}
    for t in TIERS:
        tier = _get_or_create(
            session, created, Tier, {"slug": t.slug},
            name=t.name, description=t.description, monthly_price_cents=t.monthly,
            booking_horizon_days=t.horizon, max_future_bookings=t.max_future,
            included_desk_days=t.desk_days, included_studio_hours=t.studio_hours,
            position=t.position, signup_mode=t.signup_mode, notice_days=t.notice_days,
        )
        if tier.id is not None and (tier.signup_mode, tier.notice_days) == (
            SignupMode.STAFF_ONLY, 0
        ):
            # A demo tier from before sign-up modes existed (migration 0008 made every tier
            # staff-only): give it the demo's mode, which was missing. A tier staff set up
            # differently is left alone.
            tier.signup_mode, tier.notice_days = t.signup_mode, t.notice_days
        if not tier.prices:
            for kind, (hour, half_day, day) in t.prices.items():
                tier.prices.append(TierKindPrice(
                    kind=kind, price_hour_cents=hour, price_half_day_cents=half_day,
                    price_day_cents=day,
                ))
                created["TierKindPrice"] += 1
        tiers[t.slug] = tier

    progress("Accounts: staff, member, startup team ...")
    company = _get_or_create(session, created, Company, {"name": "Wolfsbyte GmbH"}, created_at=now)
    accounts = [
        ("staff@schiller40.example", "Studio-Team Schiller40", Role.STAFF, None, None),
        ("member@schiller40.example", "Mia Mitglied", Role.MEMBER, "flex", None),
        ("startup@schiller40.example", "Sami Startup", Role.MEMBER, "startup", company),
    ]
    users: dict[str, User] = {}
    for email, name, role, tier_slug, comp in accounts:
        user = session.scalar(select(User).filter_by(email=email))
        if user is None:
            # Demo addresses cannot receive mail: they count as confirmed.
            # The startup's founder manages its company (invites, caps).
            user = User(email=email, name=name, role=role, company=comp, created_at=now,
                        email_verified_at=now, company_manager=comp is not None)
            user.set_password(DEMO_PASSWORDS[email])
            session.add(user)
            created["User"] += 1
            if tier_slug:
                session.add(Membership(
                    user=user, tier=tiers[tier_slug],
                    valid_from=date(to_local(now).year, 1, 1), created_at=now,
                ))
                created["Membership"] += 1
        users[email] = user
    session.flush()
    staff = users["staff@schiller40.example"]
    for email, topic in (
        ("member@schiller40.example", "ar-vr-studio"),
        ("startup@schiller40.example", "broadcast-studio"),
        ("startup@schiller40.example", "ar-vr-studio"),
    ):
        _get_or_create(
            session, created, Induction, {"user_id": users[email].id, "topic": topic},
            granted_by_id=staff.id, granted_at=now,
        )
    if created:
        audit.record(
            session, action="demo.seeded", now=now, object_type="location",
            object_id=location.id, details={"created": dict(sorted(created.items()))},
        )
