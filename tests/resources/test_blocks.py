"""The blocks service: locked like a booking, refuses to overlap bookings unless staff cancel
them (with a full refund), blocks a resource or the whole location, and is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from schiller40.booking.create import create_bookings
from schiller40.booking.errors import BookingError
from schiller40.booking.models import Booking, BookingStatus
from schiller40.booking.requests import BookingRequest
from schiller40.booking.settings import current_settings
from schiller40.core.audit import AuditEntry
from schiller40.errors import InvalidInput, NotFound
from schiller40.extensions import db
from schiller40.payments.models import PaymentStatus, RefundReason, RefundStatus
from schiller40.payments.setup import gateway
from schiller40.resources.models import Block, BlockKind
from schiller40.venue import blocks
from tests.helpers import THU, TUE, book_hours, browser, fresh, local, pay


def create(place, clock, *, actor=None, resource=None, whole=False, start=None, end=None,
           cancel=False, reason="Neue Kameras", kind=BlockKind.MAINTENANCE):
    return blocks.create_block(
        db.session, gateway(), actor=actor or place.staff,
        resource_id=None if whole else (resource or place.studio).id,
        location_id=place.location.id if whole else None,
        kind=kind, start=start or local(THU, 9), end=end or local(THU, 12), reason=reason,
        cancel_conflicting=cancel, now=clock(), settings=current_settings(),
    )


def audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_a_block_is_written_and_audited(place, clock):
    outcome = create(place, clock)
    block = fresh(Block, outcome.block.id)
    assert block.resource_id == place.studio.id
    assert block.location_id == place.location.id
    assert block.created_by_id == place.staff.id
    assert (block.starts_at, block.ends_at) == (local(THU, 9), local(THU, 12))
    [entry] = audit("block.created")
    assert entry.actor_id == place.staff.id
    assert entry.object_id == block.id
    assert entry.details["reason"] == "Neue Kameras"
    assert entry.details["resource"] == "studio"


def test_members_cannot_block_anything(place, clock):
    with pytest.raises(NotFound):
        create(place, clock, actor=place.member)
    assert db.session.scalar(select(Block)) is None


@pytest.mark.parametrize(("start", "end", "field"), [
    (local(THU, 12), local(THU, 12), "end"),
    (local(THU, 12), local(THU, 11), "end"),
    (local(THU, 9), local(THU, 9) + timedelta(days=400), "end"),
    (local(TUE, 6) - timedelta(days=3), local(TUE, 6) - timedelta(days=2), "end"),
])
def test_an_invalid_range_is_refused_and_nothing_is_written(place, clock, start, end, field):
    with pytest.raises(InvalidInput) as caught:
        create(place, clock, start=start, end=end)
    assert field in caught.value.fields
    assert db.session.scalar(select(Block)) is None
    assert audit("block.created") == []


@pytest.mark.parametrize("reason", ["", "   ", "x" * 201, "a\x00b"])
def test_a_missing_or_bad_reason_is_refused(place, clock, reason):
    with pytest.raises(InvalidInput) as caught:
        create(place, clock, reason=reason)
    assert "reason" in caught.value.fields


def test_an_unknown_kind_is_refused(place, clock):
    with pytest.raises(InvalidInput) as caught:
        create(place, clock, kind="party")
    assert "kind" in caught.value.fields


def test_overlapping_bookings_are_refused_by_name(place, clock):
    booking = book_hours(place.member, place.studio, clock, day=THU, start=10, end=11)[0]
    with pytest.raises(blocks.BlockConflict) as caught:
        create(place, clock)
    assert caught.value.status == 409
    assert [b["id"] for b in caught.value.extra["bookings"]] == [booking.id]
    assert db.session.scalar(select(Block)) is None
    assert fresh(Booking, booking.id).status is BookingStatus.CONFIRMED


def test_bookings_next_to_the_block_or_only_in_its_cleanup_do_not_conflict(place, clock):
    # 07:30-09:00 ends where the block begins; its cleanup (to 09:30) may run into it.
    early = book_hours(place.member, place.studio, clock, day=THU, start=12, end=13)[0]
    outcome = create(place, clock, start=local(THU, 13), end=local(THU, 15))
    assert outcome.cancelled == []
    assert fresh(Booking, early.id).status is BookingStatus.CONFIRMED


def test_expired_holds_and_other_resources_do_not_conflict(factory, place, clock):
    factory.booking(resource=place.studio, user=place.member, starts_at=local(THU, 10),
                    status=BookingStatus.HELD, hold_expires_at=clock() - timedelta(minutes=1))
    factory.booking(resource=place.room, user=place.member, starts_at=local(THU, 10))
    db.session.commit()
    assert create(place, clock).cancelled == []


def test_cancelling_conflicts_refunds_what_was_paid_in_full(app, place, clock):
    # Two hours: one included, one paid (35 EUR) on the simulated checkout.
    paid = book_hours(place.member, place.studio, clock, day=THU, start=9, end=11)[0]
    pay(browser(app, place.member), paid.id)
    assert fresh(Booking, paid.id).status is BookingStatus.CONFIRMED
    free = book_hours(place.staff, place.studio, clock, day=THU, start=12, end=13)[0]  # internal

    outcome = create(place, clock, start=local(THU, 8), end=local(THU, 14), cancel=True)

    assert sorted(outcome.cancelled) == sorted([paid.id, free.id])
    assert outcome.refunded_cents == 3500
    first = fresh(Booking, paid.id)
    assert first.status is BookingStatus.CANCELLED
    assert "Neue Kameras" in first.cancel_reason
    [refund] = first.payment.refunds
    assert refund.reason is RefundReason.CANCELLATION
    assert refund.amount_cents == 3500
    # Sent to the (simulated) gateway after the commit, as the cancel page does.
    assert refund.status is RefundStatus.SUCCEEDED
    assert first.payment.refunded_cents == 3500
    assert fresh(Booking, free.id).status is BookingStatus.CANCELLED
    [entry] = audit("block.created")
    assert sorted(entry.details["cancels_bookings"]) == sorted([paid.id, free.id])
    assert len(audit("booking.cancelled")) == 2


def test_cancelling_an_unpaid_hold_releases_it_without_a_refund(place, clock):
    held = book_hours(place.member, place.studio, clock, day=THU, start=9, end=11)[0]
    assert held.status is BookingStatus.HELD
    outcome = create(place, clock, cancel=True)
    assert outcome.cancelled == [held.id]
    assert outcome.refunded_cents == 0
    booking = fresh(Booking, held.id)
    assert booking.status is BookingStatus.CANCELLED
    assert booking.payment.status in (PaymentStatus.PENDING, PaymentStatus.EXPIRED)


def test_a_whole_location_block_covers_every_resource(place, clock):
    on_desk = create_bookings(
        db.session, actor=place.member, now=clock(), settings=current_settings(),
        request=BookingRequest(start=local(THU, 8), end=local(THU, 13),
                               resource_slug=place.desks[0].slug),
    ).bookings[0]
    db.session.commit()
    with pytest.raises(blocks.BlockConflict) as caught:
        create(place, clock, whole=True, start=local(THU, 7), end=local(THU, 20))
    assert [b["id"] for b in caught.value.extra["bookings"]] == [on_desk.id]

    outcome = create(place, clock, whole=True, start=local(THU, 7), end=local(THU, 20),
                     cancel=True, kind=BlockKind.EVENT, reason="Digitaltag")
    assert outcome.block.resource_id is None
    assert outcome.cancelled == [on_desk.id]
    for resource in (place.room, place.studio, place.desks[1]):
        desk = resource.kind.value == "desk"
        start, end = (local(THU, 13), local(THU, 20)) if desk else (local(THU, 14), local(THU, 15))
        with pytest.raises(BookingError) as refused:
            create_bookings(
                db.session, actor=place.member, now=clock(),
                settings=current_settings(),
                request=BookingRequest(start=start, end=end, resource_slug=resource.slug),
            )
        assert refused.value.code == "blocked", resource.slug


def test_a_block_stops_members_booking_the_time(place, clock):
    create(place, clock)
    with pytest.raises(BookingError) as refused:
        book_hours(place.member, place.studio, clock, day=THU, start=10, end=11)[0]
    assert refused.value.code == "blocked"
    # Outside the block the studio is bookable as before.
    assert book_hours(place.member, place.studio, clock, day=THU, start=13, end=14)[0].id


def test_deleting_a_block_frees_the_time_and_is_audited(place, clock):
    outcome = create(place, clock)
    blocks.delete_block(db.session, actor=place.staff, block_id=outcome.block.id, now=clock(),
                        settings=current_settings())
    assert db.session.scalar(select(Block)) is None
    [entry] = audit("block.deleted")
    assert entry.object_id == outcome.block.id
    assert entry.details["reason"] == "Neue Kameras"
    assert book_hours(place.member, place.studio, clock, day=THU, start=10, end=11)[0].id
    with pytest.raises(NotFound):
        blocks.delete_block(db.session, actor=place.staff, block_id=outcome.block.id,
                            now=clock(), settings=current_settings())


def test_members_cannot_delete_blocks(place, clock):
    outcome = create(place, clock)
    with pytest.raises(NotFound):
        blocks.delete_block(db.session, actor=place.member, block_id=outcome.block.id,
                            now=clock(), settings=current_settings())
    assert fresh(Block, outcome.block.id) is not None


def test_upcoming_blocks_are_soonest_first_and_skip_ended_ones(factory, place, clock):
    factory.block(resource=place.room, starts_at=clock() - timedelta(hours=5),
                  ends_at=clock() - timedelta(hours=1), reason="over")
    later = create(place, clock, start=local(THU, 9), end=local(THU, 10)).block
    sooner = create(place, clock, start=local(TUE, 9), end=local(TUE, 10), resource=place.room)
    assert [b.id for b in blocks.upcoming_blocks(db.session, now=clock())] == [
        sooner.block.id, later.id]


def test_a_block_and_a_booking_racing_for_one_slot_never_both_win(app, place, clock):
    """The block takes the same locks as a booking: whichever comes second is refused."""
    import threading

    db.session.commit()
    staff_id, member_id = place.staff.id, place.member.id
    settings = current_settings()
    rounds = 4
    results: list[tuple[str, str]] = []

    def run(kind: str, hour: int, barrier: threading.Barrier, out: list[str]) -> None:
        from schiller40.accounts.models import User

        with app.app_context():
            try:
                barrier.wait(timeout=30)
                if kind == "block":
                    blocks.create_block(
                        db.session, gateway(), actor=db.session.get(User, staff_id),
                        resource_id=place.studio.id, kind=BlockKind.EVENT,
                        start=local(THU, hour), end=local(THU, hour + 1), reason="Race",
                        now=clock(), settings=settings,
                    )
                else:
                    create_bookings(
                        db.session, actor=db.session.get(User, member_id), now=clock(),
                        settings=settings,
                        request=BookingRequest(start=local(THU, hour), end=local(THU, hour + 1),
                                               resource_slug="studio"),
                    )
                out.append("won")
            except (blocks.BlockConflict, BookingError) as refused:
                db.session.rollback()
                out.append(refused.code)
            except Exception as exc:  # anything else is a bug the test must show
                db.session.rollback()
                out.append(f"error: {exc!r}")
            finally:
                db.session.remove()

    for n in range(rounds):
        hour = 8 + 3 * n
        barrier = threading.Barrier(2)
        block_out: list[str] = []
        booking_out: list[str] = []
        threads = [
            threading.Thread(target=run, args=("block", hour, barrier, block_out)),
            threading.Thread(target=run, args=("booking", hour, barrier, booking_out)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        results.append((block_out[0], booking_out[0]))
    for block_result, booking_result in results:
        assert sorted([block_result, booking_result]) in (
            ["blocked", "won"], ["block_conflict", "won"]), results
    db.session.rollback()
    assert db.session.query(Block).count() + db.session.query(Booking).count() == rounds
