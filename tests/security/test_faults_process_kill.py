"""The web process killed (SIGKILL, the whole gunicorn group) in the middle of a booking, a
webhook or a cancellation: after a restart nothing is half-done, and doing it again works once.

The app runs as production runs it (gunicorn with one sync worker, ``gunicorn.conf.py``,
``wsgi:app``) against the test database and the local Stripe server. The kill must land
*inside* the use case's transaction, deterministically and without a hook in the app: every
such transaction writes its main rows first and its audit entry after them, so the test holds
``LOCK TABLE audit_entry`` in a second connection, sends the request, waits until
``pg_stat_activity`` shows the app's backend waiting for that lock (and ``pg_locks`` shows it
has already written the main rows), kills the process group, and only then lets go. The
orphaned backend then gets its lock, finds its client gone and rolls back; we wait until it is
gone before looking. PostgreSQL only: on SQLite the app takes the database's write lock at the
start of the transaction, so a held lock stops it before it has written anything.

A kill *after* the commit (the answer is lost, the member retries) is covered too: the retry
must not make a second booking.

The app process reads the real clock, so the module's clock is "now", and bookings are made
a few working days ahead.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import holidays
import pytest
import requests
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Connection, make_url

from schiller40.accounts import tokens
from schiller40.booking.models import Booking, BookingStatus
from schiller40.core.outbox import OutboxMessage
from schiller40.core.time import BERLIN, FrozenClock
from schiller40.extensions import db
from schiller40.payments.models import PaymentStatus, Refund, RefundStatus, WebhookEvent
from tests.api.conftest import api_as  # noqa: F401 (fixture)
from tests.factories import PASSWORD
from tests.helpers import book_via_api, count_rows, iso
from tests.mail.test_worker_processes import process_env
from tests.payments.conftest import (  # noqa: F401 (fixtures)
    WEBHOOK,
    WEBHOOK_SECRET,
    _stripe_server_process,
    stripe_config,
    stripe_server,
)
from tests.payments.stripe_server import StripeServer, signed_headers
from tests.payments.test_stripe_flow import BOOKINGS, booking_row, pay, payment_of

pytestmark = pytest.mark.postgresql_only

ROOT = Path(__file__).resolve().parents[2]
# Every wait is bounded by these; none is expected to come near them.
START_TIMEOUT = 30.0
WAIT_TIMEOUT = 15.0
# The audit log: written after the main rows by every use case here (see the module docstring).
AUDIT = "audit_entry"


@pytest.fixture
def clock() -> FrozenClock:
    """The app process reads the real clock; the test's writes (holds, tokens) use the same."""
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def app_config(stripe_config: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    return stripe_config


def working_day(clock: FrozenClock, days_ahead: int = 3) -> date:
    """A weekday at least ``days_ahead`` days ahead that is no public holiday in Lower Saxony
    (the location's opening hours and holidays apply), within the booking horizon."""
    day = clock().astimezone(BERLIN).date() + timedelta(days=days_ahead)
    closed = holidays.country_holidays("DE", subdiv="NI", years=[day.year, day.year + 1])
    while day.weekday() >= 5 or day in closed:
        day += timedelta(days=1)
    return day


# --- the app process -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class WebApp:
    """One gunicorn master and its worker, in their own process group."""

    process: subprocess.Popen
    url: str
    log: Path

    def kill(self) -> None:
        """SIGKILL to the whole group: master and worker die at once, nothing cleans up."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=WAIT_TIMEOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def call(self, method: str, path: str, *, token: str | None = None,
             body: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        data = body if isinstance(body, str) else None if body is None else json.dumps(body)
        if data is not None:
            all_headers.setdefault("Content-Type", "application/json")
        return requests.request(method, self.url + path, data=data, headers=all_headers,
                                timeout=WAIT_TIMEOUT)

    def send_only(self, method: str, path: str, *, token: str | None = None,
                  body: Any = None, headers: dict[str, str] | None = None) -> socket.socket:
        """Send a request and never read the answer (the process is about to be killed)."""
        payload = (body if isinstance(body, str) else json.dumps(body or {})).encode()
        fields = {"Host": self.url.removeprefix("http://"), "Content-Type": "application/json",
                  "Content-Length": str(len(payload)), "Connection": "close", **(headers or {})}
        if token:
            fields["Authorization"] = f"Bearer {token}"
        lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in fields.items())]
        port = int(self.url.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_TIMEOUT)
        sock.sendall("\r\n".join(lines).encode() + b"\r\n\r\n" + payload)
        return sock


    def answers(self) -> bool:
        try:
            return requests.get(self.url + "/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False


def launch(env: dict[str, str], log: Path) -> WebApp:
    """Start gunicorn as production does (``gunicorn.conf.py``, ``wsgi:app``), one sync
    worker on a free port, and wait until it answers."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "1",
             # Not the shared default path (~/.gunicorn), which parallel runs would share.
             "--no-control-socket", "wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as one
        )
    app = WebApp(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not app.answers():
            assert process.poll() is None, f"gunicorn exited:\n{app.output()}"
            assert time.monotonic() < deadline, f"gunicorn did not answer:\n{app.output()}"
            time.sleep(0.05)
    except BaseException:
        app.kill()
        raise
    return app


@pytest.fixture(scope="module")
def spare() -> Iterator[dict[str, WebApp]]:
    """The app a test left running, handed to the next test of this module instead of
    starting another (starting one costs seconds of CPU; each test here needs two). It keeps
    nothing between requests that a test could see: every request is its own transaction,
    and the tables are emptied between tests. Keyed by its environment."""
    pool: dict[str, WebApp] = {}
    try:
        yield pool
    finally:
        for app in pool.values():
            app.kill()


@pytest.fixture
def web(database_url: str, smtp_server, stripe_server: StripeServer,  # noqa: F811
        tmp_path: Path, spare: dict[str, WebApp]) -> Iterator[Callable[[], WebApp]]:
    """``web()`` gives a running app (the spare one, else a new one); every process this
    test got is killed at the end, whatever happened, except a last one still answering,
    which becomes the spare."""
    got: list[WebApp] = []
    env = process_env(
        database_url, smtp_server, PAYMENT_GATEWAY="stripe",
        STRIPE_SECRET_KEY=stripe_server.api_key, STRIPE_PUBLISHABLE_KEY="pk_test_schiller40",
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_API_BASE=stripe_server.base_url,
        STRIPE_TIMEOUT_SECONDS="10", STRIPE_MAX_RETRIES="0",
    )
    # What configures the app (not PYTEST_CURRENT_TEST and the like, which change per test).
    key = json.dumps({k: v for k, v in env.items() if k.startswith("SCHILLER40_")},
                     sort_keys=True)

    def start() -> WebApp:
        db.session.commit()  # what the test wrote is visible to the app
        app = spare.pop(key, None)
        if app is None or not app.answers():
            if app is not None:
                app.kill()
            app = launch(env, tmp_path / f"gunicorn-{len(got)}.log")
        got.append(app)
        return app

    try:
        yield start
    finally:
        last = got.pop() if got and got[-1].answers() else None
        for app in got:
            app.kill()
        if last is not None:
            old = spare.pop(key, None)
            if old is not None:
                old.kill()
            spare[key] = last


# --- the database, seen from outside -------------------------------------------------------


@pytest.fixture
def monitor(database_url: str) -> Iterator[Connection]:
    """An autocommit connection for watching the app's backend (pg_stat_activity is read
    afresh in each transaction only)."""
    engine = create_engine(make_url(database_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


@contextmanager
def table_locked(database_url: str, table: str) -> Iterator[None]:
    """Hold ``table`` in ACCESS EXCLUSIVE mode until the block ends: whoever writes to it
    waits, inside their transaction."""
    db.session.commit()  # the test's own session must not hold a lock LOCK TABLE would wait on
    engine = create_engine(make_url(database_url))
    try:
        with engine.connect() as conn:
            conn.execute(text("SET lock_timeout = '15s'"))
            conn.execute(text(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE'))
            try:
                yield
            finally:
                conn.rollback()
    finally:
        engine.dispose()


def until(condition: Callable[[], Any], what: str, timeout: float = WAIT_TIMEOUT) -> Any:
    """Poll ``condition`` until it is truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass(frozen=True)
class Stuck:
    """The app's backend, waiting for the audit log inside its transaction."""

    pid: int
    query: str
    written: frozenset[str]  # tables it has already inserted into or updated


def stuck_on_audit(monitor: Connection) -> Stuck:
    def find() -> Stuck | None:
        row = monitor.execute(text(
            "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )).first()
        if row is None:
            return None
        written = monitor.execute(text(
            "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE l.pid = :pid AND l.granted AND l.mode = 'RowExclusiveLock'"
            " AND c.relkind = 'r'"
        ), {"pid": row.pid}).scalars()
        return Stuck(row.pid, row.query, frozenset(written))

    stuck = until(find, "the app's backend to wait for the audit log")
    assert stuck.query.lstrip().upper().startswith(f"INSERT INTO {AUDIT.upper()}"), stuck.query
    return stuck


def gone(monitor: Connection, pid: int) -> None:
    """Wait until the killed app's backend has ended (and so rolled back)."""
    until(lambda: not monitor.execute(
        text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
    ).first(), f"backend {pid} to end")


@contextmanager
def killed_inside_the_transaction(
    database_url: str, monitor: Connection, app: WebApp, send: Callable[[], socket.socket],
) -> Iterator[Stuck]:
    """Send a request, kill the app while its transaction waits for the audit log, let go of
    the lock and wait for the orphaned backend to end. Yields what the backend had written."""
    with table_locked(database_url, AUDIT):
        sock = send()
        try:
            stuck = stuck_on_audit(monitor)
            app.kill()
        finally:
            sock.close()
    gone(monitor, stuck.pid)
    yield stuck


# Rows as the database has them now, whatever the killed processes committed.
count = partial(count_rows, rollback=True)


def mails(topic: str) -> int:
    return count(OutboxMessage, OutboxMessage.topic == topic)


def token_for(user, clock: FrozenClock) -> str:
    issued = tokens.issue(db.session, email=user.email, password=PASSWORD, now=clock())
    assert issued is not None
    db.session.commit()
    return issued[0]


def desk_day(clock: FrozenClock) -> dict[str, str]:
    """A morning on a desk, paid from the member's included credit: confirmed at once."""
    day = working_day(clock)
    return {"resource": "desk-a1", "start": iso(day, 8), "end": iso(day, 13)}


# --- booking -------------------------------------------------------------------------------


def test_a_booking_killed_inside_its_transaction_leaves_nothing_and_succeeds_once_after(
    place, clock, web, monitor, database_url
):
    token = token_for(place.member, clock)
    wanted = desk_day(clock)
    app = web()
    with killed_inside_the_transaction(
        database_url, monitor, app, lambda: app.send_only("POST", BOOKINGS, token=token,
                                                          body=wanted),
    ) as stuck:
        assert "booking" in stuck.written  # the row was written, not yet committed
    assert count(Booking) == 0
    assert count(OutboxMessage) == 0

    again = web()
    response = again.call("POST", BOOKINGS, token=token, body=wanted)
    assert response.status_code == 201, response.text
    assert response.json()["booking"]["status"] == "confirmed"
    assert count(Booking, user_id=place.member.id, status=BookingStatus.CONFIRMED) == 1
    assert mails("mail.booking_confirmed") == 1


def test_a_booking_killed_after_its_commit_is_not_made_twice_by_the_retry(
    place, clock, web, monitor
):
    """The answer is lost (the process died after the commit): the member's retry is a 409
    already_booked that names the booking they have, and their bookings show it."""
    token = token_for(place.member, clock)
    wanted = desk_day(clock)
    app = web()
    sock = app.send_only("POST", BOOKINGS, token=token, body=wanted)
    try:
        until(lambda: monitor.execute(text("SELECT count(*) FROM booking")).scalar(),
              "the booking to be committed")
        app.kill()
    finally:
        sock.close()
    assert count(Booking, status=BookingStatus.CONFIRMED) == 1

    again = web()
    retry = again.call("POST", BOOKINGS, token=token, body=wanted)
    assert retry.status_code == 409, retry.text
    assert retry.json()["error"]["code"] == "already_booked"
    listed = again.call("GET", BOOKINGS, token=token).json()["bookings"]
    assert [(b["resource"], b["start"], b["status"]) for b in listed] == [
        ("desk-a1", wanted["start"], "confirmed")
    ]
    assert retry.json()["error"]["booking_id"] == listed[0]["id"]
    assert count(Booking) == 1
    assert mails("mail.booking_confirmed") == 1


def test_a_paid_booking_killed_while_stripe_opens_its_checkout_is_paid_through_one_checkout(
    place, clock, web, monitor, stripe_server  # noqa: F811
):
    """Killed after the booking's commit, while waiting for Stripe's answer (Stripe has made
    the checkout): the hold stands, the retry of the booking names it (already_booked), and asking for
    the checkout again gets the very session Stripe made, not a second one."""
    token = token_for(place.member, clock)
    day = working_day(clock)
    wanted = {"resource": "room", "start": iso(day, 10), "end": iso(day, 11)}
    stripe_server.delay("/v1/checkout/sessions", WAIT_TIMEOUT)  # the answer never comes
    app = web()
    sock = app.send_only("POST", BOOKINGS, token=token, body=wanted)
    try:
        until(lambda: stripe_server.created_count("checkout.session"),
              "Stripe to open the checkout")
        app.kill()
    finally:
        sock.close()
        stripe_server.delay("/v1/checkout/sessions", 0)
    booking = db.session.scalars(select(Booking)).one()
    assert booking.status is BookingStatus.HELD
    assert payment_of(booking.id).checkout_id is None

    again = web()
    retry = again.call("POST", BOOKINGS, token=token, body=wanted)
    assert retry.status_code == 409
    assert retry.json()["error"] == {**retry.json()["error"], "code": "already_booked",
                                     "booking_id": booking.id}
    opened = again.call("POST", f"{BOOKINGS}/{booking.id}/checkout", token=token)
    assert opened.status_code == 200, opened.text
    assert stripe_server.created_count("checkout.session") == 1
    checkout_id = payment_of(booking.id).checkout_id
    assert opened.json()["booking"]["payment"]["checkout_url"] == (
        stripe_server.session(checkout_id)["url"]
    )


# --- webhook -------------------------------------------------------------------------------


def deliver_to(app: WebApp, event: dict[str, Any]) -> requests.Response:
    payload = json.dumps(event)
    return app.call("POST", WEBHOOK, body=payload, headers=signed_headers(payload, WEBHOOK_SECRET))


def test_a_webhook_killed_inside_its_transaction_is_applied_once_on_redelivery(
    client, api_as, place, clock, web, monitor, database_url, stripe_server  # noqa: F811
):
    booking = book_via_api(api_as(place.member), "room", working_day(clock), 10, 11)
    stripe_server.clear_events()
    stripe_server.complete_checkout(payment_of(booking["id"]).checkout_id)
    (event,) = stripe_server.events_of_type("checkout.session.completed")
    payload = json.dumps(event)

    app = web()
    with killed_inside_the_transaction(
        database_url, monitor, app,
        lambda: app.send_only("POST", WEBHOOK, body=payload,
                              headers=signed_headers(payload, WEBHOOK_SECRET)),
    ) as stuck:
        assert {"webhook_event", "payment"} <= stuck.written
    assert count(WebhookEvent) == 0  # not recorded, so Stripe's redelivery is not a duplicate
    assert payment_of(booking["id"]).status is PaymentStatus.PENDING
    assert booking_row(booking["id"]).status is BookingStatus.HELD
    assert count(OutboxMessage) == 0

    again = web()
    assert deliver_to(again, event).json()["result"] == "handled"
    assert deliver_to(again, event).json()["result"] == "duplicate"
    payment = payment_of(booking["id"])
    assert (payment.status, payment.received_cents) == (PaymentStatus.PAID, 1200)
    assert booking_row(booking["id"]).status is BookingStatus.CONFIRMED
    assert count(WebhookEvent) == 1
    assert (mails("mail.booking_confirmed"), mails("mail.payment_received")) == (1, 1)


# --- cancellation with a refund ------------------------------------------------------------


def test_a_cancellation_killed_inside_its_transaction_refunds_once_when_repeated(
    client, api_as, place, clock, web, monitor, database_url, stripe_server  # noqa: F811
):
    booking = book_via_api(api_as(place.member), "room", working_day(clock), 10, 11)
    pay(client, stripe_server, booking["id"])
    token = token_for(place.member, clock)
    cancel = f"{BOOKINGS}/{booking['id']}/cancel"

    app = web()
    with killed_inside_the_transaction(
        database_url, monitor, app, lambda: app.send_only("POST", cancel, token=token),
    ) as stuck:
        assert "refund" in stuck.written
    assert booking_row(booking["id"]).status is BookingStatus.CONFIRMED
    assert count(Refund) == 0
    assert stripe_server.created_count("refund") == 0
    assert mails("mail.booking_cancelled") == 0

    again = web()
    response = again.call("POST", cancel, token=token, body={})
    assert response.status_code == 200, response.text
    assert response.json()["refund"]["status"] == "succeeded"
    assert booking_row(booking["id"]).status is BookingStatus.CANCELLED
    assert count(Refund, status=RefundStatus.SUCCEEDED) == 1
    assert stripe_server.created_count("refund") == 1
    assert payment_of(booking["id"]).refunded_cents == 1200
    assert (mails("mail.booking_cancelled"), mails("mail.refund_issued")) == (1, 1)


# --- the server's own answers ------------------------------------------------------------------


def test_an_over_long_url_gets_the_414_the_document_states(app, web):
    """Found silent by schemathesis from outside (issue 17): gunicorn answers a request line
    over its limit itself, 414 with an HTML page, before the app; the OpenAPI document says so
    for every operation. Just under the limit the app answers (here 401: no token)."""
    from schiller40.api.openapi import MAX_REQUEST_LINE, document

    server = web()
    path = "/api/v1/bookings?resource="
    room = MAX_REQUEST_LINE - len(f"GET {path} HTTP/1.1")
    under = server.call("GET", path + "a" * (room - 10))
    assert under.status_code == 401, under.text
    over = server.call("GET", path + "a" * (room + 10))
    assert over.status_code == 414, over.text
    documented = document()["paths"]["/api/v1/bookings"]["get"]["responses"]["414"]
    assert over.headers["Content-Type"].split(";")[0] in documented["content"]
