"""Real worker processes (`flask --app schiller40 worker`) against the test database and the
test SMTP server: killed mid-run, and two at once.

These run the worker exactly as production does, with the real clock; the outbox entries are
written "now" so they are due at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from schiller40.core import outbox
from schiller40.core.outbox import OutboxMessage, OutboxStatus
from schiller40.extensions import db
from tests.helpers import TUE, at, book

LEASE_SECONDS = 2
# The workers' own periodic entries (the hourly reconciliation) are not part of the count.
MAIL = OutboxMessage.topic.like("mail.%")


def process_env(database_url: str, smtp_server, **settings: str) -> dict[str, str]:
    """The environment of an app process (worker or web) against the test database and SMTP
    server, as production configures it: ``SCHILLER40_*`` variables only, none inherited.
    ``settings`` adds more (``STRIPE_API_BASE="..."`` becomes ``SCHILLER40_STRIPE_API_BASE``)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SCHILLER40_")},
        "SCHILLER40_ENV": "development",
        "SCHILLER40_DATABASE_URL": database_url,
        "SCHILLER40_AUTO_MIGRATE": "false",
        "SCHILLER40_WORKER_EMBEDDED": "false",
        "SCHILLER40_SECRET_KEY": "worker-test-secret-key-0123456789abcdef",
        "SCHILLER40_SMTP_HOST": smtp_server.host,
        "SCHILLER40_SMTP_PORT": str(smtp_server.port),
        "SCHILLER40_SMTP_SECURITY": "none",
        "SCHILLER40_OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
        "SCHILLER40_SMTP_TIMEOUT_SECONDS": "1",
        "SCHILLER40_PUBLIC_URL": "https://booking.schiller40.example",
        **{f"SCHILLER40_{name}": value for name, value in settings.items()},
    }


def worker_process(database_url: str, smtp_server) -> subprocess.Popen:
    env = process_env(database_url, smtp_server)
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "schiller40", "worker", "--interval", "0.2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def queue_mails(place, clock, count: int) -> list[int]:
    booking = book(place.member, clock, resource_slug="studio", start=at(TUE, 10),
                   end=at(TUE, 11)).bookings[0]
    db.session.execute(db.delete(OutboxMessage))
    real_now = datetime.now(UTC)
    for _ in range(count):
        outbox.enqueue(db.session, topic="mail.booking_confirmed", now=real_now,
                       payload={"booking_ids": [booking.id]}, user_id=place.member.id)
    db.session.commit()
    return list(db.session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))


def wait_until_all_sent(count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()
        sent = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            MAIL, OutboxMessage.status == OutboxStatus.SENT))
        if sent == count:
            return
        time.sleep(0.1)
    raise AssertionError(f"only {sent} of {count} sent")


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    return out.decode(errors="replace")


def received_ids(inbox) -> Counter:
    return Counter(int(m["X-Schiller40-Outbox-Id"]) for m in inbox.messages)


def test_a_worker_killed_mid_run_loses_nothing(place, clock, inbox, smtp_server, database_url):
    ids = queue_mails(place, clock, 40)
    inbox.delay = 0.03  # slow enough that the kill lands in the middle of a batch
    first = worker_process(database_url, smtp_server)
    try:
        inbox.wait_for(12, timeout=60)
        first.kill()  # SIGKILL: no clean-up, no chance to record anything
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    killed_at = len(inbox.messages)
    assert killed_at < len(ids), "the worker finished before it could be killed"

    second = worker_process(database_url, smtp_server)
    try:
        wait_until_all_sent(len(ids))
    finally:
        log = stop(second)
    got = received_ids(inbox)
    assert set(got) == set(ids), log
    # Sent twice can only be the one message whose acceptance the killed worker never got
    # to record; it carries the same Message-ID both times.
    twice = [i for i, n in got.items() if n > 1]
    assert len(twice) <= 1 and all(got[i] == 2 for i in twice)
    for message_id in twice:
        assert len({m["Message-ID"] for m in inbox.messages
                    if int(m["X-Schiller40-Outbox-Id"]) == message_id}) == 1
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        MAIL, OutboxMessage.status != OutboxStatus.SENT)) == 0


@pytest.mark.postgresql_only
def test_two_workers_at_once_send_each_message_exactly_once(place, clock, inbox, smtp_server,
                                                            database_url):
    ids = queue_mails(place, clock, 120)
    inbox.delay = 0.005
    workers = [worker_process(database_url, smtp_server) for _ in range(2)]
    try:
        wait_until_all_sent(len(ids))
    finally:
        logs = [stop(w) for w in workers]
    got = received_ids(inbox)
    assert set(got) == set(ids), logs
    assert all(n == 1 for n in got.values()), {i: n for i, n in got.items() if n > 1}
    claimed_by = set(db.session.scalars(select(OutboxMessage.claimed_by).where(MAIL)))
    assert len(claimed_by) == 2, "both workers should have taken part"
