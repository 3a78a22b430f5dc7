"""Benchmark: one member's iCal feed with 2,000 events, end to end and in parts.

    .venv/bin/python bench/feed_bench.py                      # SQLite in a temporary file
    .venv/bin/python bench/feed_bench.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

With --database-url the benchmark creates a throwaway database on that server (the URL only
says where to connect), migrates it, and drops it at the end; it never touches the database
named in the URL. It seeds a location, a member and N bookings spread over the whole feed
window (30 days back, 365 ahead; some held, some recently cancelled, notes with umlauts),
then measures through the real app and its test client:

    full GET      GET /feeds/<token>.ics -> 200: resolve, fingerprint, load, render
    render only   render.calendar() of the already loaded events (pure)
    events query  queries.events(): loading the rows and making FeedEvents
    304           GET with If-None-Match -> 304: resolve and fingerprint, no loading

It prints a table of p50/p99/mean in milliseconds and merges the figures, keyed by database
backend, into bench/results/feed.json. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # config.py lives at the top level

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
RESULTS = ROOT / "bench" / "results" / "feed.json"
UNUSABLE_HASH = "!"  # matches no password: nobody logs in as the benchmark's users


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- database --------------------------------------------------------------------------------


class Database:
    """A fresh database for the run: a temporary SQLite file, or a throwaway PostgreSQL DB."""

    def __init__(self, server_url: str | None) -> None:
        self.server_url = server_url
        self.tmp = tempfile.TemporaryDirectory(prefix="schiller40-bench-")
        self.pg_name: str | None = None
        if server_url is None:
            self.url = f"sqlite:///{Path(self.tmp.name) / 'bench.db'}"
            self.backend = "sqlite"
            return
        admin = make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
        if admin.get_backend_name() != "postgresql":
            raise SystemExit(f"--database-url must be a PostgreSQL URL, not {admin.drivername}")
        self.admin = admin
        self.pg_name = f"schiller40_bench_{secrets.token_hex(4)}"
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.pg_name}"'))
        engine.dispose()
        self.url = admin.set(database=self.pg_name).render_as_string(hide_password=False)
        self.backend = "postgresql"

    def close(self) -> None:
        if self.pg_name:
            engine = create_engine(self.admin, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))
            engine.dispose()
        self.tmp.cleanup()


# --- seeding -------------------------------------------------------------------------------


def seed(events: int):
    """A location open every day, a studio and two rooms, a member with ``events`` bookings
    in the feed window, and a second member (whose bookings must not be loaded)."""
    from datetime import time as clock_time

    from schiller40.booking.models import Booking, BookingStatus
    from schiller40.core.time import BERLIN
    from schiller40.extensions import db
    from schiller40.models import Location, OpeningHours, Resource, ResourceKind, Role, User
    from schiller40.resources.models import BookingUnit

    location = Location(
        slug="markthalle", name="Markthalle", street="Schillerstraße 40", postal_code="38440",
        city="Wolfsburg", timezone="Europe/Berlin", holiday_country="DE",
        holiday_subdivision="NI", half_day_split=clock_time(13),
        opening_hours=[OpeningHours(weekday=d, opens=clock_time(7), closes=clock_time(22))
                       for d in range(7)],
    )
    resources = [
        Resource(location=location, slug=slug, name=name, kind=kind,
                 booking_unit=BookingUnit.SLOT_30, min_duration_minutes=30,
                 max_duration_minutes=480, feed_for_members=True)
        for slug, name, kind in (
            ("studio", "AR/VR-Studio", ResourceKind.STUDIO),
            ("aller", "Besprechungsraum Aller", ResourceKind.ROOM),
            ("oker", "Besprechungsraum Oker", ResourceKind.ROOM),
        )
    ]
    member = User(email="mia@example.org", name="Mia Müller", role=Role.MEMBER,
                  password_hash=UNUSABLE_HASH, created_at=NOW, locale="de")
    other = User(email="jonas@example.org", name="Jonas Weiß", role=Role.MEMBER,
                 password_hash=UNUSABLE_HASH, created_at=NOW, locale="de")
    db.session.add_all([location, *resources, member, other])
    db.session.flush()

    per_day = 6  # 08:00, 10:00, ... 18:00 local, 90 minutes each, rotating over resources
    first_day = (NOW - timedelta(days=29)).astimezone(BERLIN).date()
    batch: list[Booking] = []
    for n in range(events + 200):
        day = first_day + timedelta(days=n // per_day)
        slot = n % per_day
        starts = datetime.combine(day, clock_time(8 + 2 * slot)).replace(tzinfo=BERLIN)
        resource = resources[n % len(resources)]
        owner = member if n < events else other
        status = BookingStatus.CONFIRMED
        updated = NOW - timedelta(days=1 + n % 20, minutes=n % 60)
        if n % 20 == 7:
            status = BookingStatus.CANCELLED  # recently: still shown as cancelled
        elif n % 20 == 11 and starts > NOW:
            status = BookingStatus.HELD
        booking = Booking(
            resource=resource, user=owner, status=status,
            hold_expires_at=NOW + timedelta(minutes=15) if status is BookingStatus.HELD else None,
            note="Kabel, Adapter; Stative – bitte Grüße an Frau Weiß" if n % 3 == 0 else "",
            sequence=n % 3, created_at=updated - timedelta(days=2), updated_at=updated,
        )
        booking.set_range(starts.astimezone(UTC), (starts + timedelta(minutes=90)).astimezone(
            UTC), resource)
        batch.append(booking)
        if len(batch) == 500:
            db.session.add_all(batch)
            db.session.flush()
            batch.clear()
            progress(f"    {n + 1} bookings")
    db.session.add_all(batch)
    db.session.commit()
    return member


# --- measuring -----------------------------------------------------------------------------


def measure(name: str, runs: int, warmup: int, once: Callable[[], object]) -> dict:
    for _ in range(warmup):
        once()
    times = []
    for i in range(runs):
        started = time.perf_counter()
        once()
        times.append((time.perf_counter() - started) * 1000)
        if (i + 1) % 10 == 0:
            progress(f"    {name}: {i + 1}/{runs}")
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return {
        "runs": runs, "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(cuts[98], 2), "mean_ms": round(statistics.fmean(times), 2),
        "min_ms": round(min(times), 2), "max_ms": round(max(times), 2),
    }


def run(database: Database, events: int, runs: int, warmup: int) -> dict:
    from flask_migrate import upgrade

    from schiller40 import MIGRATIONS_DIR, create_app
    from schiller40.core.time import FrozenClock
    from schiller40.extensions import db
    from schiller40.feeds import queries, render, tokens
    from schiller40.feeds import service as feed_service
    from schiller40.feeds.models import FeedKind

    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": database.url},
                     clock=FrozenClock(NOW))
    with app.app_context():
        progress(f"==> migrating the {database.backend} database")
        upgrade(directory=str(MIGRATIONS_DIR))
        progress(f"==> seeding {events} bookings for one member (+200 for another)")
        member = seed(events)
        feed = next(f for f in feed_service.feeds_for(db.session, user=member, now=NOW)
                    if f.kind is FeedKind.MEMBER)
        path = f"/feeds/{tokens.token_for(feed, app.config['SECRET_KEY'])}.ics"
        feed_id, member_id = feed.id, member.id

    client = app.test_client()
    first = client.get(path)
    if first.status_code != 200:
        raise SystemExit(f"the feed answered {first.status_code}")
    shown = first.data.count(b"BEGIN:VEVENT")
    if shown != events:
        raise SystemExit(f"the feed shows {shown} events, expected {events}")
    etag = first.headers["ETag"]

    def full_get() -> None:
        assert client.get(path).status_code == 200

    def not_modified() -> None:
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304

    results: dict[str, dict] = {}
    progress(f"==> measuring, {runs} runs each after {warmup} warm-up runs")
    results["full GET (200)"] = measure("full GET", runs, warmup, full_get)
    with app.test_request_context("/"):
        from schiller40.accounts.models import User
        from schiller40.feeds.models import CalendarFeed

        feed = db.session.get(CalendarFeed, feed_id)
        viewer = db.session.get(User, member_id)
        loaded = queries.events(db.session, feed, viewer, now=NOW, base_url="https://x/")
        name = queries.feed_name(feed)
        results["render only"] = measure(
            "render only", runs, warmup, lambda: render.calendar(name, loaded))

        def load() -> None:
            db.session.expire_all()
            queries.events(db.session, feed, viewer, now=NOW, base_url="https://x/")

        results["events query"] = measure("events query", runs, warmup, load)
        db.session.remove()
    results["304 (If-None-Match)"] = measure("304", runs, warmup, not_modified)
    with app.app_context():
        db.engine.dispose()
    return {
        "events": events, "body_bytes": len(first.data), "measured_at": datetime.now(UTC)
        .replace(microsecond=0).isoformat(), "machine": {
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "system": platform.platform(terse=True),
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
        "results": results,
    }


def table(backend: str, report: dict) -> str:
    lines = [
        f"{backend}: {report['events']} events, body {report['body_bytes'] / 1024:.0f} KiB, "
        f"{report['machine']['cpus']} CPUs, load {report['machine']['load_average_1min']}",
        f"{'':22} {'p50 ms':>9} {'p99 ms':>9} {'mean ms':>9} {'min ms':>9}",
    ]
    for name, r in report["results"].items():
        lines.append(f"{name:22} {r['p50_ms']:9.2f} {r['p99_ms']:9.2f} {r['mean_ms']:9.2f} "
                     f"{r['min_ms']:9.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server to create a throwaway "
                        "database on (default: SQLite in a temporary file)")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.events < 1 or args.runs < 2 or args.warmup < 0:
        parser.error("--events must be >= 1, --runs >= 2, --warmup >= 0")

    database = Database(args.database_url)
    try:
        report = run(database, args.events, args.runs, args.warmup)
    finally:
        database.close()
    print(table(database.backend, report))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    merged = json.loads(args.output.read_text()) if args.output.exists() else {}
    merged[database.backend] = report
    args.output.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
    progress(f"==> written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
