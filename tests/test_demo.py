"""``flask seed-demo``: the demo Schiller40, created once, safe to run again, never in production."""

from __future__ import annotations

import contextvars
import re
from datetime import date

import pytest
from sqlalchemy import select

from schiller40 import create_app
from schiller40.core.audit import AuditEntry
from schiller40.extensions import db
from schiller40.models import (
    BookingUnit,
    Closure,
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

from .html import page

EVERY_MODEL = (
    Location, OpeningHours, Closure, Resource, Tier, TierKindPrice, Company, User, Membership,
    Induction, AuditEntry,
)
CREDENTIALS = re.compile(r"^\s+(\S+@\S+)\s+(\S+)\s*$")


def seed(cli):
    result = cli("seed-demo")
    assert result.exit_code == 0, result.output
    return result


def printed_credentials(output: str) -> dict[str, str]:
    after = output.split("Log in with:", 1)[1]
    return dict(m.groups() for m in map(CREDENTIALS.match, after.splitlines()) if m)


def counts(factory) -> dict[str, int]:
    return {model.__name__: factory.count(model) for model in EVERY_MODEL}


def resources(**filters) -> list[Resource]:
    return list(db.session.scalars(select(Resource).filter_by(**filters).order_by(Resource.slug)))


def test_seed_creates_the_location(cli, factory, clock):
    result = seed(cli)
    assert "Location Schiller40" in result.output  # progress is shown
    (location,) = db.session.scalars(select(Location)).all()
    assert (location.slug, location.city, location.timezone) == (
        "schiller40", "Wolfsburg", "Europe/Berlin"
    )
    assert (location.holiday_country, location.holiday_subdivision) == ("DE", "NI")
    assert [h.weekday for h in location.opening_hours] == [0, 1, 2, 3, 4, 5]  # Sunday closed
    (closure,) = location.closures
    assert (closure.first_day, closure.last_day) == (date(2026, 12, 24), date(2027, 1, 1))


def test_seed_creates_desks_studios_and_the_meeting_room(cli, factory):
    seed(cli)
    assert len(resources()) == 29
    for zone, letter in (("Open Space A", "A"), ("Open Space B", "B")):
        desks = resources(zone=zone)
        assert len(desks) == 12
        assert [d.name for d in desks] == [f"Arbeitsplatz {letter}{n:02d}" for n in range(1, 13)]
        assert {(d.kind, d.booking_unit) for d in desks} == {
            (ResourceKind.DESK, BookingUnit.HALF_DAY)
        }
    hot_desks = [r for r in resources(kind=ResourceKind.DESK)
                 if r.booking_unit is BookingUnit.HALF_DAY]
    assert len(hot_desks) == 24
    fixed = resources(zone="Feste Arbeitsplätze")
    assert len(fixed) == 2
    assert {(r.kind, r.booking_unit) for r in fixed} == {(ResourceKind.DESK, BookingUnit.DAY)}

    studios = resources(kind=ResourceKind.STUDIO)
    assert [
        (s.name, s.induction, s.buffer_after_minutes, s.requires_approval) for s in studios
    ] == [
        ("AR/VR-Studio", "ar-vr-studio", 30, False),
        # Staff confirm each paid broadcast booking: the card is authorised, then captured.
        ("Broadcast-Studio", "broadcast-studio", 30, True),
    ]
    assert all(s.requires_induction for s in studios)
    (room,) = resources(kind=ResourceKind.ROOM)
    assert room.induction is None
    assert room.buffer_after_minutes == 0
    assert all(r.is_active for r in resources())


def test_seed_creates_four_tiers_with_prices(cli, factory):
    seed(cli)
    tiers = {t.slug: t for t in db.session.scalars(select(Tier))}
    assert sorted(tiers) == ["day-pass", "flex", "resident", "startup"]
    assert [t.slug for t in sorted(tiers.values(), key=lambda t: t.position)] == [
        "day-pass", "flex", "resident", "startup"
    ]
    assert tiers["day-pass"].bookable_kinds == [ResourceKind.DESK]
    day_desk = tiers["day-pass"].price_for(ResourceKind.DESK)
    assert (day_desk.price_half_day_cents, day_desk.price_day_cents) == (900, 1500)
    assert tiers["flex"].monthly_price_cents == 8900
    assert tiers["flex"].price_for(ResourceKind.STUDIO).price_hour_cents == 3500
    for slug in ("flex", "resident", "startup"):
        assert set(tiers[slug].bookable_kinds) == set(ResourceKind), slug
        for price in tiers[slug].prices:
            assert any(
                p is not None and p > 0
                for p in (price.price_hour_cents, price.price_half_day_cents,
                          price.price_day_cents)
            )
    assert factory.count(TierKindPrice) == 10


def test_seed_creates_accounts_with_memberships_and_inductions(cli, factory, clock):
    seed(cli)
    users = {u.email: u for u in db.session.scalars(select(User))}
    assert set(users) == {
        "staff@schiller40.example", "member@schiller40.example", "startup@schiller40.example"
    }
    staff = users["staff@schiller40.example"]
    member = users["member@schiller40.example"]
    startup = users["startup@schiller40.example"]
    assert staff.role is Role.STAFF
    assert staff.is_staff
    assert staff.memberships == []
    assert member.role is startup.role is Role.MEMBER
    assert member.active_membership(clock()).tier.slug == "flex"
    assert startup.active_membership(clock()).tier.slug == "startup"
    assert startup.company.name == "Wolfsbyte GmbH"
    assert {i.topic for i in member.inductions} == {"ar-vr-studio"}
    assert {i.topic for i in startup.inductions} == {"ar-vr-studio", "broadcast-studio"}
    assert all(i.granted_by_id == staff.id for i in member.inductions + startup.inductions)
    (entry,) = db.session.scalars(select(AuditEntry)).all()
    assert entry.action == "demo.seeded"
    assert entry.details["created"]["Resource"] == 29


def test_printed_passwords_log_in_through_the_form(cli, client, factory):
    result = seed(cli)
    credentials = printed_credentials(result.output)
    assert set(credentials) == {
        "staff@schiller40.example", "member@schiller40.example", "startup@schiller40.example"
    }
    for email, password in credentials.items():
        response = client.post("/login", data={"email": email, "password": password})
        assert response.status_code == 302, (email, page(response).text)
        assert client.get("/account/password").status_code == 200
        assert client.post("/logout").status_code == 302
        assert client.get("/account/password").status_code == 302


def test_seeding_twice_changes_nothing(cli, factory):
    seed(cli)
    first = counts(factory)
    assert first["AuditEntry"] == 1
    second = seed(cli)
    assert "Demo data ready" in second.output
    db.session.expire_all()
    assert counts(factory) == first


def test_seeding_again_keeps_a_changed_password(cli, factory, client):
    credentials = printed_credentials(seed(cli).output)
    member = db.session.scalar(select(User).filter_by(email="member@schiller40.example"))
    member.set_password("my own tram ticket 2026")
    db.session.commit()

    seed(cli)
    db.session.expire_all()
    member = db.session.get(User, member.id)
    assert member.check_password("my own tram ticket 2026")
    assert not member.check_password(credentials["member@schiller40.example"])


def test_seeding_fills_in_what_is_missing(cli, factory):
    seed(cli)
    complete = counts(factory)
    db.session.delete(db.session.scalar(select(Resource).filter_by(slug="desk-b12")))
    db.session.commit()
    seed(cli)
    db.session.expire_all()
    assert factory.count(Resource) == complete["Resource"]
    created = db.session.scalars(
        select(AuditEntry).order_by(AuditEntry.id.desc())
    ).first().details["created"]
    assert created == {"Resource": 1}


def test_the_demo_member_sees_the_spaces(cli, client, factory):
    credentials = printed_credentials(seed(cli).output)
    email = "member@schiller40.example"
    response = client.post("/login", data={"email": email, "password": credentials[email]})
    assert response.status_code == 302
    response = client.get("/resources")
    assert response.status_code == 200
    text = page(response).text
    for name in ("AR/VR-Studio", "Broadcast-Studio", "Besprechungsraum Allerpark",
                 "Arbeitsplatz A01", "Arbeitsplatz B12", "Fester Arbeitsplatz 2"):
        assert name in text


@pytest.mark.postgresql_only
def test_seed_refuses_in_production(database_url, factory):
    """Checked against a real database: the refusal comes first and writes nothing."""
    app = create_app({
        "ENV_NAME": "production", "SECRET_KEY": "p" * 40, "DATABASE_URL": database_url,
        "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_PUBLISHABLE_KEY": "pk_live_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x", "SMTP_HOST": "mail.example.org",
        "PUBLIC_URL": "https://booking.schiller40.example",
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
    })
    runner = app.test_cli_runner()
    # A fresh context, as in a new process: the test's own (testing) app must not be current.
    result = contextvars.Context().run(runner.invoke, args=["seed-demo"])
    assert result.exit_code == 1
    assert "refuses to run in production" in result.output
    assert "Log in with" not in result.output
    assert factory.count(Location) == 0
    assert factory.count(User) == 0
    with app.app_context():
        db.engine.dispose()
