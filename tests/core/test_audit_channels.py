"""Every audit entry says through which door its change came in: the web pages, the JSON API,
a ``flask`` command or the worker. Each entry point sets it once (core/audit.py); these tests
make one change through each and read the entry it wrote."""

from __future__ import annotations

import contextvars
import threading
from datetime import timedelta

from flask.cli import shell_command
from flask.testing import FlaskClient
from sqlalchemy import select

from schiller40.booking.models import Booking, BookingStatus
from schiller40.core import audit
from schiller40.core.audit import AuditEntry, Channel
from schiller40.extensions import db
from schiller40.worker.runner import run_forever
from tests.factories import PASSWORD
from tests.helpers import log_in


def channels(action: str) -> list[Channel]:
    db.session.rollback()  # the entry points committed in sessions of their own
    return list(db.session.scalars(
        select(AuditEntry.channel).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def block_form() -> dict[str, str]:
    data = {"scope": "resource", "kind": "maintenance", "start_day": "2026-11-26",
            "start_time": "09:00", "end_day": "2026-11-26", "end_time": "12:00",
            "reason": "Neue Kameras"}
    return {f"block-{k}": v for k, v in data.items()}


def test_a_form_sent_by_staff_is_recorded_as_web(client, place):
    log_in(client, place.staff)
    assert client.post("/staff/calendar/studio/block", data=block_form()).status_code == 302
    assert channels("user.logged_in") == [Channel.WEB]
    assert channels("block.created") == [Channel.WEB]


def test_a_call_with_a_bearer_token_is_recorded_as_api(client, place, factory):
    booking = factory.booking(resource=place.room, user=place.member)
    db.session.commit()
    issued = client.post("/api/v1/tokens", json={"email": place.member.email,
                                                 "password": PASSWORD})
    assert issued.status_code == 201
    cancelled = client.post(f"/api/v1/bookings/{booking.id}/cancel",
                            headers={"Authorization": f"Bearer {issued.get_json()['token']}"})
    assert cancelled.status_code == 200
    # Asking for a token is the API too, though it carries a password rather than a token.
    assert channels("api_token.created") == [Channel.API]
    assert channels("booking.cancelled") == [Channel.API]


def test_a_command_is_recorded_as_cli(cli, place):
    result = cli("resources", "approval", "studio", "on")
    assert result.exit_code == 0, result.output
    assert channels("resource.requires_approval_changed") == [Channel.CLI]


def test_flask_tick_is_the_worker_although_it_is_a_command(cli, place, clock, factory):
    held = factory.booking(resource=place.room, user=place.member, status=BookingStatus.HELD)
    db.session.commit()
    clock.advance(timedelta(minutes=31))
    result = cli("tick")
    assert result.exit_code == 0, result.output
    assert db.session.get(Booking, held.id).status is BookingStatus.EXPIRED
    assert channels("booking.hold_expired") == [Channel.WORKER]


def test_the_worker_loop_records_a_no_show_release_as_worker(app, place, clock, factory):
    """run_forever is what ``flask worker`` and the embedded thread run."""
    booking = factory.booking(resource=place.desks[0], user=place.member, starts_at=clock(),
                              duration=timedelta(hours=4))
    db.session.commit()
    clock.advance(timedelta(minutes=90))  # and nobody checked in
    stop = threading.Event()

    def one_pass_then_stop():
        stop.set()  # read by the loop only after this pass
        return clock()

    # A context of its own: the loop names the worker for the rest of its thread.
    contextvars.Context().run(run_forever, app, interval=0.1, stop=stop,
                              clock=one_pass_then_stop)
    assert db.session.get(Booking, booking.id).status is BookingStatus.CANCELLED
    assert channels("booking.no_show_released") == [Channel.WORKER]


def test_outside_every_entry_point_the_channel_is_unknown(app, place):
    assert audit.current_channel() is Channel.UNKNOWN
    entry = audit.record(db.session, action="feed.rotated", now=app.extensions[
        "schiller40.clock"](), object_type="calendar_feed", object_id=1)
    db.session.commit()
    assert entry.channel is Channel.UNKNOWN


def test_an_inner_channel_wins_while_it_lasts():
    with audit.using_channel(Channel.CLI):
        with audit.using_channel(Channel.WORKER):
            assert audit.current_channel() is Channel.WORKER
        assert audit.current_channel() is Channel.CLI
    assert audit.current_channel() is Channel.UNKNOWN


def test_a_request_leaves_no_channel_behind(app, place):
    """A thread serves many requests (and runs other things between them): the teardown
    undoes what the request's hooks set, the API's included."""
    plain = FlaskClient(app, app.response_class)  # in this context, unlike the isolated one
    db.session.commit()
    assert plain.get("/api/v1/resources").status_code == 401
    assert plain.get("/").status_code == 200
    assert audit.current_channel() is Channel.UNKNOWN


def test_flask_shell_is_cli(app):
    """``flask shell`` is Flask's command, not one of the app's: its namespace is built with
    the app's shell context processors, in the thread the shell then runs in."""
    runner = app.test_cli_runner()
    typed = "from schiller40.core import audit; print('channel', audit.current_channel().value)\n"
    result = contextvars.Context().run(runner.invoke, shell_command, input=typed)
    assert result.exit_code == 0, result.output
    assert "channel cli" in result.output
    assert audit.current_channel() is Channel.UNKNOWN


def test_the_members_data_export_says_the_channel(client, place):
    log_in(client, place.member)
    data = client.get("/account/export.json").get_json()
    (logged_in,) = [e for e in data["audit_entries"] if e["action"] == "user.logged_in"]
    assert logged_in["channel"] == "web"
