"""What docs/operations.md promises an operator: the app behind a reverse proxy, and a
PostgreSQL backup restored into an empty database keeps every booking and the guard against
double bookings."""

from __future__ import annotations

import os
import secrets
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError

from schiller40 import create_app
from schiller40.extensions import db
from schiller40.models import Booking, BookingStatus, Resource, ResourceKind

from .factories import Factory
from .helpers import browser
from .html import page

FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "buchen.schiller40.example",
    "X-Forwarded-For": "203.0.113.7",
}


def _feed_address(app, member) -> str:
    response = browser(app, member).get("/account", headers=FORWARDED)
    assert response.status_code == 200
    fields = page(response).find_all("input", **{"class": "feed-url"})
    assert fields, "the account page shows no calendar address"
    return fields[0].attrs["value"]


@pytest.fixture
def proxied_app(database_url, clock, smtp_server):
    """The app as configured behind one reverse proxy (SCHILLER40_TRUSTED_PROXIES=1)."""
    application = create_app({
        "ENV_NAME": "testing", "DATABASE_URL": database_url, "TRUSTED_PROXIES": 1,
        **smtp_server.config(),
    }, clock=clock)
    yield application
    with application.app_context():
        db.engine.dispose()


def test_behind_a_trusted_proxy_links_use_the_public_scheme_and_host(proxied_app, place):
    """Without ProxyFix the feed address handed to calendar apps would be http:// and the
    internal host name, which no phone can reach."""
    address = _feed_address(proxied_app, place.member)
    assert address.startswith("https://buchen.schiller40.example/feeds/"), address


def test_forwarded_headers_are_ignored_when_no_proxy_is_trusted(app, place):
    """A visitor must not choose the host name of links (feed addresses, payment returns) by
    sending X-Forwarded-Host themselves."""
    address = _feed_address(app, place.member)
    assert address.startswith("http://localhost/feeds/"), address
    assert "buchen.schiller40.example" not in address


# --- backup and restore ---------------------------------------------------------------------


def _libpq_args(url: URL) -> list[str]:
    args = ["--host", url.host or "127.0.0.1", "--port", str(url.port or 5432)]
    if url.username:
        args += ["--username", url.username]
    return args


def _run(command: list[str], url: URL) -> None:
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = url.password
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, f"{command[0]} failed: {done.stderr}"


@pytest.mark.postgresql_only
def test_a_pg_dump_restored_into_an_empty_database_keeps_bookings_and_the_guard(
    app, database_url, factory, smtp_server, clock, tmp_path,
):
    """The procedure in docs/operations.md#backups, run for real: pg_dump -Fc, pg_restore into
    a new database, point an app at it. The exclusion constraint (and the btree_gist
    extension it needs) must come back too, or the restored site would take double
    bookings."""
    room = factory.resource(kind=ResourceKind.ROOM, buffer_after_minutes=0)
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    kept = factory.booking(resource=room, starts_at=start, duration=timedelta(hours=2))
    db.session.commit()
    kept_id, room_id = kept.id, room.id

    source = make_url(database_url)
    dump = tmp_path / "schiller40.dump"
    _run(["pg_dump", "-Fc", "--no-owner", *_libpq_args(source), "--file", str(dump),
          "--dbname", source.database or ""], source)

    restored = source.set(database=f"{source.database}_restore_{secrets.token_hex(3)}")
    admin = create_engine(source, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{restored.database}"'))
    try:
        _run(["pg_restore", "--no-owner", "--exit-on-error", *_libpq_args(restored),
              "--dbname", restored.database or "", str(dump)], restored)
        restored_app = create_app({
            "ENV_NAME": "testing",
            "DATABASE_URL": restored.render_as_string(hide_password=False),
            **smtp_server.config(),
        }, clock=clock)
        ready = restored_app.test_client().get("/readyz")
        assert ready.status_code == 200, ready.json
        assert ready.json["status"] == "ready"
        with restored_app.app_context():
            row = db.session.get(Booking, kept_id)
            assert row is not None and row.status is BookingStatus.CONFIRMED
            assert row.starts_at == start
            overlapping = Factory(db.session, clock)
            with pytest.raises(IntegrityError) as refused:
                overlapping.booking(resource=db.session.get(Resource, room_id),
                                    starts_at=start + timedelta(hours=1),
                                    duration=timedelta(hours=2))
                db.session.commit()
            db.session.rollback()
            assert getattr(refused.value.orig, "sqlstate", None) == "23P01"
            assert "booking_no_overlap" in str(refused.value.orig)
            count = db.session.scalar(
                select(db.func.count()).select_from(Booking)
                .where(Booking.resource_id == room_id))
            assert count == 1
            db.session.remove()
            db.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{restored.database}" WITH (FORCE)'))
        admin.dispose()
