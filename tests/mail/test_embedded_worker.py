"""The embedded default runs the worker inside the web process: a hold expires and its mail
goes out with no second process and no setup."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from schiller40 import create_app
from schiller40.booking.models import Booking, BookingStatus
from schiller40.core.outbox import OutboxMessage, OutboxStatus
from schiller40.extensions import db
from tests.helpers import TUE, at, book

from ..mailbox import body


def test_the_development_app_runs_the_worker_after_its_first_request(
    place, clock, inbox, database_url, smtp_server,
):
    held = book(place.member, clock, resource_slug="room", start=at(TUE, 10),
                end=at(TUE, 11)).bookings[0]
    confirmed = book(place.member, clock, resource_slug="studio", start=at(TUE, 10),
                     end=at(TUE, 11)).bookings[0]
    assert held.status is BookingStatus.HELD
    db.session.commit()
    clock.advance(timedelta(hours=1))  # the hold's 30 minutes are over

    web = create_app({
        "ENV_NAME": "development", "DATABASE_URL": database_url, "AUTO_MIGRATE": False,
        "SECRET_KEY": "embedded-worker-test-0123456789abcdef", "WORKER_INTERVAL_SECONDS": 1,
        **smtp_server.config(),
    }, clock=clock)
    assert web.config["WORKER_EMBEDDED"] is True
    assert "schiller40.worker_stop" not in web.extensions  # nothing runs before a request
    try:
        assert web.test_client().get("/").status_code == 200
        inbox.wait_for(1, timeout=30)

        def settled() -> bool:
            db.session.rollback()
            expired = db.session.get(Booking, held.id).status is BookingStatus.EXPIRED
            statuses = db.session.scalars(select(OutboxMessage.status).where(
                OutboxMessage.topic == "mail.booking_confirmed")).all()
            # The server has the mail a moment before the worker records it as sent.
            return expired and statuses == [OutboxStatus.SENT]

        deadline = time.monotonic() + 30
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert settled()
        assert any(f"/bookings/{confirmed.id}" in body(m) for m in inbox.messages)
    finally:
        # Stop and wait: a pass still running must not send into the next test's inbox or
        # write to the next test's tables.
        web.extensions["schiller40.worker_stop"].set()
        web.extensions["schiller40.worker_thread"].join(timeout=60)
        assert not web.extensions["schiller40.worker_thread"].is_alive()
