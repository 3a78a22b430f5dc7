"""Random sequences of bookings, reschedules, cancellations and clock moves keep the invariants.

A hypothesis state machine drives the real JSON API (both databases) with a member, whose
bookings cost money and are therefore held for 30 minutes until paid, and a staff member,
whose bookings are free and confirmed at once. After every step:

(i)  the held/confirmed bookings of each resource, widened by its buffers, never overlap, and
     the stored buffered range is exactly the booked range widened by the buffers (read
     straight from the database);
(ii) every answer of the API (201/200 vs 409/422/404, the booking's status) and every stored
     booking agree with a small reference model written here: an interval list per resource.

Requests are generated valid in shape (30-minute grid, allowed lengths, opening hours, inside
the horizon, in the future) so the model only has to decide "free or taken", plus the few
rules a change of an existing booking adds (expired, other kind, price).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, select

from schiller40.accounts import tokens
from schiller40.accounts.models import ApiToken
from schiller40.booking.models import ACTIVE_STATUSES, Booking
from schiller40.core.time import BERLIN
from schiller40.extensions import db
from schiller40.models import AuditEntry, ResourceKind, Role

HOLD = timedelta(minutes=30)  # BOOKING_HOLD_MINUTES of the testing config
# Two weekdays a day or more ahead of the frozen "now" (Monday 23 November 2026, 09:00), so
# no notice period, horizon or clock move in a run can make a generated time invalid.
DAYS = (date(2026, 11, 24), date(2026, 11, 25))
OPENS = time(8)
SLOTS = 10  # starts 08:00 ... 12:30, every 30 minutes (crowded on purpose); ends by 15:30
MINUTES = (60, 90, 120, 180)  # within every resource's minimum and maximum


@dataclass(frozen=True)
class Spec:
    slug: str
    kind: ResourceKind
    before: int  # buffer minutes
    after: int
    hour_cents: int  # the member's price


RESOURCES = (
    Spec("studio", ResourceKind.STUDIO, 0, 30, 3500),  # the cleanup buffer
    Spec("room-a", ResourceKind.ROOM, 0, 0, 1200),
    Spec("room-b", ResourceKind.ROOM, 30, 30, 1200),
)
SPEC = {s.slug: s for s in RESOURCES}
ACTORS = ("member", "staff")
# Sometimes aim next to an existing booking (index, offset in slots): buffers' edges.
NEAR = st.none() | st.tuples(st.integers(0, 50), st.integers(-4, 4))
# Minutes that pass before a step. Hypothesis runs each example with a random subset of the
# rules enabled, so time passes in every rule, not only in advance_clock: holds run out.
CLOCK_MOVES = (2, 10, 15, 30)
WAIT = st.sampled_from((0, 0, 0, 0, *CLOCK_MOVES))

PROPERTY_SETTINGS = settings(
    max_examples=15,
    stateful_step_count=16,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def at(day: date, slot: int) -> datetime:
    return datetime.combine(day, OPENS).replace(tzinfo=BERLIN) + slot * timedelta(minutes=30)


def widened(slug: str, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    spec = SPEC[slug]
    return start - timedelta(minutes=spec.before), end + timedelta(minutes=spec.after)


# --- the reference model ---------------------------------------------------------------------


@dataclass
class Modelled:
    """What the model expects to be stored for one booking."""

    actor: str
    resource: str
    start: datetime
    end: datetime
    status: str  # held, confirmed or cancelled; a held booking expires by the clock
    hold_until: datetime | None

    def active(self, now: datetime) -> bool:
        """Blocks its slot: confirmed, or held and the hold has not run out."""
        if self.status == "held":
            assert self.hold_until is not None
            return now < self.hold_until
        return self.status == "confirmed"

    def statuses(self, now: datetime) -> set[str]:
        """What may be stored and shown: a hold that ran out is "expired" once a booking
        transaction on its resource has expired it, and still says "held" until then."""
        if self.status == "held" and not self.active(now):
            return {"held", "expired"}
        return {self.status}


class Model:
    def __init__(self) -> None:
        self.bookings: dict[int, Modelled] = {}

    def free(self, slug: str, start: datetime, end: datetime, now: datetime,
             ignore: int | None = None) -> bool:
        lo, hi = widened(slug, start, end)
        for booking_id, b in self.bookings.items():
            if booking_id == ignore or b.resource != slug or not b.active(now):
                continue
            other_lo, other_hi = widened(slug, b.start, b.end)
            if lo < other_hi and other_lo < hi:
                return False
        return True

    def own(self, actor: str, slug: str, start: datetime, end: datetime,
            now: datetime) -> int | None:
        """The actor's active booking of exactly this slot: asking for it again is
        ``already_booked`` (a retry or a form sent twice), not a conflict."""
        for booking_id, b in sorted(self.bookings.items()):
            if ((b.actor, b.resource, b.start, b.end) == (actor, slug, start, end)
                    and b.active(now)):
                return booking_id
        return None


def price_cents(actor: str, slug: str, start: datetime, end: datetime) -> int:
    if actor == "staff":  # staff have no tier: internal use is free
        return 0
    minutes = int((end - start).total_seconds() // 60)
    return round(SPEC[slug].hour_cents * minutes / 60)


# --- the test --------------------------------------------------------------------------------


def _token_for(factory, user) -> str:
    token = secrets.token_urlsafe(32)
    now = factory.clock()
    factory.session.add(ApiToken(user=user, digest=tokens.digest(token), created_at=now,
                                 expires_at=now + timedelta(days=365)))
    factory.session.flush()
    return token


def test_random_operations_keep_the_invariants(client, factory, clock):
    first_now = clock()
    location = factory.location()
    for position, spec in enumerate(RESOURCES):
        factory.resource(location=location, kind=spec.kind, slug=spec.slug, position=position,
                         buffer_before_minutes=spec.before, buffer_after_minutes=spec.after,
                         induction="ar-vr-studio" if spec.kind is ResourceKind.STUDIO
                         else None)
    # Nothing included, so every member booking is paid and held; no limits in the way.
    tier = factory.tier(included_desk_days=0, included_studio_hours=0,
                        max_future_bookings=1000, booking_horizon_days=60)
    member = factory.user(tier=tier)
    factory.induction(user=member, topic="ar-vr-studio")
    staff = factory.user(role=Role.STAFF)
    headers = {
        "member": {"Authorization": f"Bearer {_token_for(factory, member)}"},
        "staff": {"Authorization": f"Bearer {_token_for(factory, staff)}"},
    }
    user_ids = {"member": member.id, "staff": staff.id}  # staff see everyone's by default
    db.session.commit()

    class Bookings(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            # Each example starts from no bookings at the frozen "now": the fixtures (and
            # the database) are shared by every example of this one test function.
            db.session.rollback()
            db.session.execute(delete(AuditEntry))
            db.session.execute(delete(Booking))
            db.session.commit()
            clock.set(first_now)
            self.model = Model()

        # -- helpers --

        def pick(self, index: int) -> tuple[int, Modelled]:
            """Mostly a booking that is still active, every third time one that is not if
            there is one: a hold that ran out (the subtle case), else a cancelled one."""
            ids = sorted(self.model.bookings)
            live = [i for i in ids if self.model.bookings[i].active(clock())]
            dead = [i for i in ids if i not in live]
            ran_out = [i for i in dead if self.model.bookings[i].status == "held"]
            dead = ran_out or dead
            if dead and (index % 3 == 0 or not live):
                ids = dead
            elif live:
                ids = live
            booking_id = ids[index % len(ids)]
            return booking_id, self.model.bookings[booking_id]

        def aim(self, slug: str, day: date, slot: int, near: tuple[int, int] | None,
                moving: int | None = None) -> tuple[str, datetime]:
            """The generated resource and start, or next to another active booking (to hit
            its buffers' edges), ``near`` being (which one, offset in slots)."""
            now = clock()
            others = sorted(i for i, b in self.model.bookings.items()
                            if b.active(now) and i != moving)
            if near is not None and others:
                other = self.model.bookings[others[near[0] % len(others)]]
                if SPEC[other.resource].kind is SPEC[slug].kind:
                    slug = other.resource
                local = other.start.astimezone(BERLIN)
                day = local.date()
                slot = (local.hour - OPENS.hour) * 2 + local.minute // 30 + near[1]
            return slug, at(day, min(max(slot, 0), SLOTS - 1))

        def check_answer(self, response, expected_status: int, code: str | None = None):
            event(f"{response.request.method} -> {expected_status} {code or ''}".strip())
            body = response.get_json()
            assert response.status_code == expected_status, body
            if code is not None:
                assert body["error"]["code"] == code, body
            return body

        def check_booking_json(self, body: dict, booking_id: int) -> None:
            b = self.model.bookings[booking_id]
            assert body["id"] == booking_id
            assert body["resource"] == b.resource
            assert datetime.fromisoformat(body["start"]) == b.start
            assert datetime.fromisoformat(body["end"]) == b.end
            assert body["status"] in b.statuses(clock())

        # -- rules --

        @rule(actor=st.sampled_from(ACTORS), slug=st.sampled_from(sorted(SPEC)),
              day=st.sampled_from(DAYS), slot=st.integers(0, SLOTS - 1),
              minutes=st.sampled_from(MINUTES), near=NEAR, wait=WAIT)
        def create(self, actor: str, slug: str, day: date, slot: int, minutes: int,
                   near: tuple[int, int] | None, wait: int) -> None:
            clock.advance(timedelta(minutes=wait))
            now = clock()
            slug, start = self.aim(slug, day, slot, near)
            end = start + timedelta(minutes=minutes)
            response = client.post("/api/v1/bookings", headers=headers[actor], json={
                "resource": slug, "start": start.isoformat(), "end": end.isoformat()})
            if not self.model.free(slug, start, end, now):
                own = self.model.own(actor, slug, start, end, now)
                if own is None:
                    self.check_answer(response, 409, "conflict")
                else:
                    body = self.check_answer(response, 409, "already_booked")
                    assert body["error"]["booking_id"] == own
                return
            body = self.check_answer(response, 201)["booking"]
            paid = price_cents(actor, slug, start, end) > 0
            self.model.bookings[body["id"]] = Modelled(
                actor, slug, start, end, "held" if paid else "confirmed",
                now + HOLD if paid else None,
            )
            self.check_booking_json(body, body["id"])
            assert body["price_cents"] == price_cents(actor, slug, start, end)

        @precondition(lambda self: self.model.bookings)
        @rule(index=st.integers(0, 50), slug=st.none() | st.sampled_from(sorted(SPEC)),
              day=st.sampled_from(DAYS), slot=st.integers(0, SLOTS - 1),
              minutes=st.none() | st.sampled_from(MINUTES), near=NEAR, wait=WAIT)
        def reschedule(self, index: int, slug: str | None, day: date, slot: int,
                       minutes: int | None, near: tuple[int, int] | None, wait: int) -> None:
            clock.advance(timedelta(minutes=wait))
            now = clock()
            booking_id, b = self.pick(index)
            target, start = self.aim(slug or b.resource, day, slot, near, moving=booking_id)
            end = start + (timedelta(minutes=minutes) if minutes else b.end - b.start)
            payload = {"start": start.isoformat(), "end": end.isoformat()}
            if slug is not None or target != b.resource:
                payload["resource"] = target
            response = client.patch(f"/api/v1/bookings/{booking_id}", headers=headers[b.actor],
                                    json=payload)
            if SPEC[target].kind is not SPEC[b.resource].kind:
                self.check_answer(response, 404, "not_found")
            elif not b.active(now):
                self.check_answer(response, 422, "not_changeable")
            elif not self.model.free(target, start, end, now, ignore=booking_id):
                self.check_answer(response, 409, "conflict")
            elif (price_cents(b.actor, target, start, end)
                  != price_cents(b.actor, b.resource, b.start, b.end)):
                self.check_answer(response, 422, "price_changed")
            else:
                body = self.check_answer(response, 200)["booking"]
                b.resource, b.start, b.end = target, start, end
                self.check_booking_json(body, booking_id)

        @precondition(lambda self: self.model.bookings)
        @rule(index=st.integers(0, 50), wait=WAIT)
        def cancel(self, index: int, wait: int) -> None:
            clock.advance(timedelta(minutes=wait))
            now = clock()
            booking_id, b = self.pick(index)
            response = client.post(f"/api/v1/bookings/{booking_id}/cancel",
                                   headers=headers[b.actor])
            if not b.active(now):
                self.check_answer(response, 422, "not_cancellable")
                return
            body = self.check_answer(response, 200)["booking"]
            b.status = "cancelled"
            self.check_booking_json(body, booking_id)

        @rule(minutes=st.sampled_from(CLOCK_MOVES))
        def advance_clock(self, minutes: int) -> None:
            clock.advance(timedelta(minutes=minutes))

        # -- invariants --

        @invariant()
        def active_bookings_never_overlap(self) -> None:
            db.session.rollback()  # a fresh snapshot of what the requests committed
            rows = db.session.scalars(
                select(Booking).where(Booking.status.in_(ACTIVE_STATUSES))
                .order_by(Booking.resource_id, Booking.block_start)
            ).all()
            previous: Booking | None = None
            for row in rows:
                slug = row.resource.slug
                assert (row.block_start, row.block_end) == widened(
                    slug, row.starts_at, row.ends_at)
                if previous is not None and previous.resource_id == row.resource_id:
                    assert previous.block_end <= row.block_start, (
                        f"bookings {previous.id} and {row.id} overlap on {slug}")
                previous = row

        @invariant()
        def database_matches_the_model(self) -> None:
            now = clock()
            stored = {
                row.id: (row.resource.slug, row.starts_at, row.ends_at, row.status.value)
                for row in db.session.scalars(select(Booking))
            }
            assert set(stored) == set(self.model.bookings)
            for booking_id, (slug, start, end, status) in stored.items():
                b = self.model.bookings[booking_id]
                assert (slug, start, end) == (b.resource, b.start, b.end), booking_id
                assert status in b.statuses(now), (booking_id, status, b)

        def teardown(self) -> None:
            # And what the API lists for each actor says the same.
            now = clock()
            for actor in ACTORS:
                mine = f"&user={user_ids[actor]}" if actor == "staff" else ""
                response = client.get(f"/api/v1/bookings?limit=500{mine}",
                                      headers=headers[actor])
                assert response.status_code == 200
                listed = {b["id"]: b["status"] for b in response.get_json()["bookings"]}
                assert set(listed) == {i for i, b in self.model.bookings.items()
                                       if b.actor == actor}
                for booking_id, status in listed.items():
                    assert status in self.model.bookings[booking_id].statuses(now)

    run_state_machine_as_test(Bookings, settings=PROPERTY_SETTINGS)


def test_the_generated_requests_are_valid_in_shape(clock):
    """Keep the generator honest: the model only decides "free or taken"."""
    assert all(d.weekday() < 5 for d in DAYS)  # open 08:00-20:00, no public holiday
    assert (at(DAYS[0], SLOTS - 1) + timedelta(minutes=max(MINUTES))).time() <= time(20)
    # The studio's two hours of notice still hold after the longest run of clock moves.
    latest_now = clock() + PROPERTY_SETTINGS.stateful_step_count * timedelta(minutes=max(CLOCK_MOVES))
    assert latest_now + timedelta(hours=2) < at(DAYS[0], 0)
