"""The performance suite (issue 9): the app under gunicorn and wrk, against a bare "hello" app.

    .venv/bin/python bench/suite.py                         # 1,000,000 bookings, 10 s per run
    .venv/bin/python bench/suite.py --bookings 100000 --duration 5

One command, on PostgreSQL (docs/performance.md). It:

1. creates a throwaway database on the server named by --database-url (the URL only says where
   to connect; the database in it is never touched) and migrates it;
2. fills it: the demo location with all its resources and tiers (schiller40/demo.py), members
   in every tier, staff, and N bookings spread over two years (a year back, a year ahead),
   written by PostgreSQL itself (INSERT ... SELECT generate_series, in chunks, with a
   progress bar). Every bookable slot of a weekday carries at most one held or confirmed
   booking (the exclusion constraint holds); the rest are cancelled and expired versions of
   the same slots, as a long history leaves them. One member's feed gets --feed-events
   events;
3. starts the bare hello app (bench/hello.py) and then the app, each under gunicorn with the
   repository's gunicorn.conf.py and the same settings (--workers, a free port on 127.0.0.1);
4. drives each scenario with wrk (bench/wrk/*.lua) after a warm-up run, samples the workers'
   resident memory while they run, and checks what the load did (exactly 10 bookings in the
   contention scenario, every other answer 409);
5. repeats the availability latency run on a second database with --baseline-bookings;
6. prints a table (req/s, p50/p99 latency, ratio to hello, peak RSS per worker, targets) and
   writes it as JSON to --output (bench/results/suite.json).

Throughput scenarios use wrk -t2 -c32 like the hello baseline; the latency scenarios (feed
full body, availability with many vs few bookings) use one connection, so their p50 is the
time of one request, not queueing. Speed is measured here, never asserted in tests; the smoke
test (tests/perf/test_bench_smoke.py) runs this command on a tiny data set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))  # config.py lives at the top level
sys.path.insert(0, str(BENCH))  # the other benches: their Database class

from feed_bench import Database, progress  # noqa: E402
from sqlalchemy import text  # noqa: E402

RESULTS = BENCH / "results" / "suite.json"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
UNUSABLE_HASH = "!"  # matches no password: nobody logs in as the benchmark's users
SECRET_KEY = "bench-only-" + "x" * 32  # a throwaway database's key, never a real one
ACTORS = 64  # staff accounts that book in the POST and contention scenarios
CONTENDED_SLOTS = 10
STATUS_SHOWN = {"held", "confirmed"}

# Slots of one weekday per kind of resource, local wall times (start, end). They never overlap
# within a resource, buffers included (the studios' 30 minutes of cleanup fit in the gaps).
SLOT_PATTERNS = {
    "hot": [("08:00", "13:00"), ("13:00", "20:00")],
    "fixed": [("08:00", "20:00")],
    "studio": [("08:00", "10:00"), ("10:30", "12:30"), ("13:00", "15:00"),
               ("15:30", "17:30"), ("18:00", "19:30")],
    "room": [(f"{h:02d}:00", f"{h + 1:02d}:00") for h in range(8, 20)],
}
# The second app server's settings: nothing kept, every answer computed.
NO_CACHES = {"SCHILLER40_AVAILABILITY_CACHE_MB": "0", "SCHILLER40_FEED_CACHE_MB": "0"}
# Share of the slots that end up held or confirmed once their last version is written.
OCCUPANCY_PERCENT = 70


# --- progress --------------------------------------------------------------------------------


class Bar:
    """A progress bar on stderr: [#########.........]  45%  450,000/1,000,000 bookings 12 s."""

    def __init__(self, total: int, what: str) -> None:
        self.total, self.what, self.started = max(total, 1), what, time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last_line = -1.0

    def update(self, done: int) -> None:
        share = done / self.total
        filled = int(share * 30)
        line = (f"    [{'#' * filled}{'.' * (30 - filled)}] {share:4.0%}  {done:,}/{self.total:,} "
                f"{self.what}  {time.monotonic() - self.started:.0f} s")
        if self.tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif time.monotonic() - self.last_line >= 2 or done >= self.total:
            print(line, file=sys.stderr, flush=True)
            self.last_line = time.monotonic()

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


# --- seeding ---------------------------------------------------------------------------------


@dataclass
class Seeded:
    resources: int
    users: int
    member_token: str
    actor_tokens: list[str]
    feed_member_id: int
    member_ids: list[int]
    availability_day: date
    post_slots: list[dict[str, object]]
    contended: list[dict[str, object]]
    contended_day: date
    first: date
    last: date


class Seeder:
    """Fills one throwaway database in steps: ``prepare`` (schema, demo location, people,
    tokens), then ``add_bookings`` up to a total (again and again: the availability baseline
    is measured after the first 1,000, the rest after all of them), ``feed`` and ``analyze``.
    """

    def __init__(self, url: str, now: datetime) -> None:
        from flask_migrate import upgrade

        from schiller40 import MIGRATIONS_DIR, create_app
        from schiller40.core.time import FrozenClock

        self.now, self.count, self.slots = now, 0, 0
        self.app = create_app(
            {"ENV_NAME": "testing", "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY},
            clock=FrozenClock(now))
        self.context = self.app.app_context()
        self.context.push()
        from schiller40.extensions import db

        self.session = db.session
        progress("==> migrating")
        upgrade(directory=str(MIGRATIONS_DIR))

    def close(self) -> None:
        from schiller40.extensions import db

        db.session.remove()
        db.engine.dispose()
        self.context.pop()

    def prepare(self, *, members: int, post_slots: int) -> Seeded:
        self.data = _prepare(self.session, members=members, now=self.now,
                             post_slots=post_slots)
        self.slots = _slot_table(self.session, self.data.first, self.data.last,
                                 focus=self.data.availability_day)
        return self.data

    def add_bookings(self, total: int) -> None:
        if total > self.count:
            progress(f"==> bookings {self.count:,} to {total:,} on {self.slots:,} weekday "
                     f"slots from {self.data.first} to {self.data.last}")
            _insert_bookings(self.session, lo=self.count, hi=total, slots=self.slots,
                             now=self.now, member_ids=self.data.member_ids)
            self.count = total

    def feed(self, events: int) -> int:
        """Give ``events`` confirmed bookings in the feed window to the feed member."""
        from schiller40.feeds import queries as feed_queries

        window = feed_queries.Window.around(self.now)
        moved = self.session.execute(text(
            """
            UPDATE booking SET user_id = :feed_member
            WHERE id IN (
                SELECT id FROM booking
                WHERE status = 'confirmed' AND starts_at >= :start AND starts_at < :end
                  AND user_id <> :feed_member
                ORDER BY md5(uid) LIMIT :events
            )
            """), {"feed_member": self.data.feed_member_id, "start": window.start,
                   "end": window.end, "events": events}).rowcount
        self.session.commit()
        progress(f"==> {moved} of them moved to the feed member (--feed-events {events})")
        return moved

    def analyze(self) -> None:
        """VACUUM (ANALYZE), not just ANALYZE: after a million inserts PostgreSQL's autovacuum
        would otherwise vacuum the bookings on its own, in the middle of a measurement (the
        scaling pair varied from 0.85 to 1.68 between runs). A database in use has long been
        vacuumed too, so this is also the more realistic state."""
        progress("==> VACUUM (ANALYZE)")
        self.session.commit()
        with self.session.get_bind().connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM (ANALYZE)")

    def feed_path(self) -> str:
        from schiller40.accounts.models import User
        from schiller40.feeds import service as feed_service
        from schiller40.feeds import tokens as feed_tokens
        from schiller40.feeds.models import FeedKind

        owner = self.session.get(User, self.data.feed_member_id)
        feed = next(f for f in feed_service.feeds_for(self.session, user=owner, now=self.now)
                    if f.kind is FeedKind.MEMBER)
        return f"/feeds/{feed_tokens.token_for(feed, SECRET_KEY)}.ics"

    def bookings_stored(self) -> int:
        return self.session.scalar(text("SELECT count(*) FROM booking"))


def _prepare(session, *, members: int, now: datetime, post_slots: int) -> Seeded:
    from sqlalchemy import select

    from schiller40 import demo
    from schiller40.accounts.models import ApiToken, Company, Role, User
    from schiller40.accounts.tokens import digest
    from schiller40.booking import snapshots
    from schiller40.membership.models import Induction, Membership, Tier
    from schiller40.resources.models import Location, Resource, ResourceKind

    progress("==> the demo location, its resources and tiers (schiller40/demo.py)")
    demo.seed(session, now=now, progress=lambda m: progress(f"    {m}"))
    tiers = list(session.scalars(select(Tier).order_by(Tier.position)))
    company = session.scalar(select(Company).where(Company.name == "Wolfsbyte GmbH"))
    today = now.date()
    progress(f"==> {members} members in {len(tiers)} tiers, {ACTORS} staff, API tokens")
    people: list[User] = []
    for n in range(members):
        tier = tiers[n % len(tiers)]
        user = User(email=f"member{n:05d}@bench.example", name=f"Mitglied {n:05d}",
                    role=Role.MEMBER, password_hash=UNUSABLE_HASH, created_at=now,
                    email_verified_at=now, locale="de" if n % 3 else "en",
                    company=company if tier.slug == "startup" and n % 2 else None)
        user.memberships.append(Membership(tier=tier, valid_from=today - timedelta(days=400),
                                           created_at=now))
        if n % 2:
            user.inductions.append(Induction(topic="ar-vr-studio", granted_at=now))
        people.append(user)
    resident = next(t for t in tiers if t.slug == "resident")
    feed_member = User(email="feed@bench.example", name="Fee Feedmann", role=Role.MEMBER,
                       password_hash=UNUSABLE_HASH, created_at=now, email_verified_at=now,
                       locale="de")
    feed_member.memberships.append(Membership(tier=resident, valid_from=today - timedelta(
        days=400), created_at=now))
    actors = [User(email=f"staff{n:02d}@bench.example", name=f"Studio-Team {n:02d}",
                   role=Role.STAFF, password_hash=UNUSABLE_HASH, created_at=now,
                   email_verified_at=now) for n in range(ACTORS)]
    session.add_all([*people, feed_member, *actors])
    session.flush()
    member = session.scalar(select(User).where(User.email == "member@schiller40.example"))

    def token_for(user: User) -> str:
        token = secrets.token_urlsafe(32)
        session.add(ApiToken(user_id=user.id, digest=digest(token), created_at=now,
                             expires_at=now + timedelta(days=30)))
        return token

    member_token = token_for(member)
    actor_tokens = [token_for(a) for a in actors]
    session.commit()

    location = session.scalar(select(Location).where(Location.slug == "schiller40"))
    first, last = today - timedelta(days=365), today + timedelta(days=364)
    # Days the seed leaves free (beyond its year ahead), open by the location's own rules.
    loc = snapshots.location_rules(location, range(today.year, today.year + 5))
    free_days = [d for d in (last + timedelta(days=n) for n in range(1, 1200))
                 if loc.closed_reason(d) is None and d.weekday() < 5]
    hot_desks = list(session.scalars(
        select(Resource).where(Resource.kind == ResourceKind.DESK,
                               Resource.booking_unit == "half_day").order_by(Resource.slug)))
    studios = list(session.scalars(
        select(Resource).where(Resource.kind == ResourceKind.STUDIO).order_by(Resource.slug)))
    contended_day = free_days[0]
    contended = [_body(loc, studio.slug, contended_day, start, end)
                 for studio in studios for start, end in SLOT_PATTERNS["studio"]]
    slots: list[dict[str, object]] = []
    for day in free_days[1:]:
        if len(slots) >= post_slots:
            break
        for start, end in SLOT_PATTERNS["hot"]:
            for desk in hot_desks:  # neighbouring requests hit different desks
                # One staff account books many desks at one time here: set the desk limit
                # aside (as staff may), or its second desk of a slot would be a 422.
                slots.append({**_body(loc, desk.slug, day, start, end),
                              "override": {"desk_limit": True,
                                           "reason": "benchmark load"}})
    availability_day = next(d for d in (today + timedelta(days=n) for n in range(7, 30))
                            if loc.closed_reason(d) is None and d.weekday() < 5)
    return Seeded(
        resources=len(list(session.scalars(select(Resource.id)))),
        users=session.scalar(text('SELECT count(*) FROM "user"')),
        member_token=member_token, actor_tokens=actor_tokens, feed_member_id=feed_member.id,
        member_ids=[p.id for p in people], availability_day=availability_day,
        post_slots=slots[:post_slots], contended=contended[:CONTENDED_SLOTS],
        contended_day=contended_day, first=first, last=last,
    )


def _body(loc, slug: str, day: date, start: str, end: str) -> dict[str, object]:
    from datetime import time as wall

    def local(hhmm: str) -> str:
        hh, mm = (int(x) for x in hhmm.split(":"))
        return loc.local(day, wall(hh, mm)).astimezone(loc.tz).isoformat()

    return {"resource": slug, "start": local(start), "end": local(end)}


def _slot_table(session, first: date, last: date, *, focus: date) -> int:
    """bench_slot: every weekday slot of every resource from ``first`` to ``last``, ranked in
    a random order (so a small N is spread over the two years), except that the slots of
    ``focus`` (the day availability is measured on) come first: the baseline's 1,000
    bookings already fill that day as the million do, so the two availability runs differ
    only in the history stored around it. Returns how many slots."""
    patterns = ", ".join(
        f"('{key}', time '{start}', time '{end}')"
        for key, slots in SLOT_PATTERNS.items() for start, end in slots
    )
    session.execute(text("DROP TABLE IF EXISTS bench_slot"))
    session.execute(text(
        f"""
        CREATE UNLOGGED TABLE bench_slot AS
        WITH days AS (
            SELECT d::date AS day
            FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d
            WHERE extract(isodow FROM d) < 6
        ), patterns(key, starts, ends) AS (VALUES {patterns})
        SELECT (row_number() OVER (ORDER BY days.day = CAST(:focus AS date) DESC,
                                          md5(r.id || '/' || days.day || '/' || p.starts))
                - 1)::bigint AS rank,
               r.id AS resource_id, p.key,
               (days.day + p.starts) AT TIME ZONE 'Europe/Berlin' AS starts_at,
               (days.day + p.ends) AT TIME ZONE 'Europe/Berlin' AS ends_at,
               r.buffer_before_minutes AS before, r.buffer_after_minutes AS after
        FROM days CROSS JOIN resource r
        JOIN patterns p ON p.key = CASE
            WHEN r.kind = 'desk' AND r.booking_unit = 'half_day' THEN 'hot'
            WHEN r.kind = 'desk' THEN 'fixed'
            WHEN r.kind = 'studio' THEN 'studio'
            ELSE 'room' END
        """), {"first": first, "last": last, "focus": focus})  # noqa: S608  (patterns: this module's constants)
    session.execute(text("CREATE UNIQUE INDEX ON bench_slot (rank)"))
    session.commit()
    return session.scalar(text("SELECT count(*) FROM bench_slot"))


def _insert_bookings(session, *, lo: int, hi: int, slots: int, now: datetime,
                     member_ids: list[int]) -> None:
    """Bookings ``lo`` to ``hi - 1``, written by PostgreSQL itself in chunks, with a bar.

    Row k takes slot ``k % S`` of the S slots as its version ``k // S``. The first version of
    70 % of the slots is held or confirmed; every later one (the history a slot gathers when
    it is booked, cancelled and booked again) is cancelled or expired, so the exclusion
    constraint (one active booking per slot) always holds, however the rows are added.
    """
    statement = text(
        """
        INSERT INTO booking (
            uid, resource_id, user_id, starts_at, ends_at, block_start, block_end, status,
            hold_expires_at, price_gross_cents, price_net_cents, price_tax_cents,
            credit_half_days, credit_minutes, sequence, note, created_at, updated_at,
            cancelled_at)
        SELECT gen_random_uuid()::text, s.resource_id,
               (CAST(:members AS integer[]))[1 + (k * 7919) % :member_count],
               s.starts_at, s.ends_at,
               s.starts_at - make_interval(mins => s.before),
               s.ends_at + make_interval(mins => s.after),
               v.status,
               CASE WHEN v.status IN ('held', 'expired')
                    THEN LEAST(s.starts_at, :now) + interval '25 minutes' END,
               0, 0, 0,
               CASE WHEN v.status IN ('held', 'confirmed') AND s.key = 'hot' THEN 1
                    WHEN v.status IN ('held', 'confirmed') AND s.key = 'fixed' THEN 2
                    ELSE 0 END,
               0,
               CASE WHEN v.status IN ('held', 'confirmed') THEN 0 ELSE 1 END,
               CASE WHEN k % 3 = 0 THEN 'Kabel, Adapter; Stative – bitte Grüße an Frau Weiß'
                    ELSE '' END,
               v.created_at,
               LEAST(v.created_at + interval '2 hours', :now),
               CASE WHEN v.status = 'cancelled'
                    THEN LEAST(v.created_at + interval '2 hours', :now) END
        FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS k
        JOIN bench_slot s ON s.rank = k % :slots
        CROSS JOIN LATERAL (
            SELECT
                CASE
                    WHEN k < :slots
                         AND (hashtext(s.rank::text) & 2147483647) % 100 < :occupancy
                    THEN CASE WHEN s.starts_at > :now AND k % 50 = 0 THEN 'held'
                              ELSE 'confirmed' END
                    WHEN k % 10 < 7 THEN 'cancelled'
                    ELSE 'expired'
                END AS status,
                LEAST(s.starts_at, :now) - make_interval(days => 1 + (k % 40)::int,
                                                         mins => (k % 600)::int) AS created_at
        ) v
        """
    )
    chunk = 50_000
    bar = Bar(hi - lo, "bookings")
    done = lo
    while done < hi:
        upto = min(done + chunk, hi)
        session.execute(statement, {
            "members": member_ids, "member_count": len(member_ids), "lo": done,
            "hi": upto - 1, "slots": slots, "now": now, "occupancy": OCCUPANCY_PERCENT,
        })
        session.commit()
        done = upto
        bar.update(done - lo)
    bar.close()


# --- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn -c gunicorn.conf.py APP on a free loopback port, stopped by its own pid."""

    def __init__(self, app_spec: str, *, env: dict[str, str], workers: int, log: Path,
                 ready_path: str = "/") -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log.open("ab")
        full_env = {**os.environ, **env, "SCHILLER40_BIND": f"127.0.0.1:{self.port}",
                    "SCHILLER40_WORKERS": str(workers), "SCHILLER40_THREADS": "1"}
        gunicorn = Path(sys.executable).parent / "gunicorn"
        self.process = subprocess.Popen(  # noqa: S603  (our own gunicorn and config)
            [str(gunicorn), "-c", str(ROOT / "gunicorn.conf.py"), app_spec],
            cwd=ROOT, env=full_env, stdout=self.log, stderr=self.log, start_new_session=True,
        )
        self.workers = workers
        self._wait_ready(ready_path)

    def _wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode}; "
                                 f"see {self.log.name}")
            try:
                # An http:// URL on 127.0.0.1 that this module built.
                with urllib.request.urlopen(self.base + path, timeout=2) as answer:  # noqa: S310
                    if answer.status < 500 and len(self.worker_pids()) >= self.workers:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"gunicorn did not answer within 60 s; see {self.log.name}")

    def worker_pids(self) -> list[int]:
        """The master's children (gunicorn's workers), from /proc."""
        master = self.process.pid
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # "pid (comm) state ppid ...": comm may hold spaces, so split after the ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(entry.name))
        return pids

    def stop(self) -> None:
        if self.process.poll() is None:
            # Quick shutdown (SIGINT): the load is over, nothing is left to finish gracefully.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class RssSampler:
    """The largest resident set any worker of ``server`` reached while sampling."""

    def __init__(self, server: Server) -> None:
        self.server, self.peak = server, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            for pid in self.server.worker_pids():
                value = rss_mb(pid)
                if value is not None:
                    self.peak = max(self.peak, value)
            if self._stop.wait(0.25):
                return


# --- wrk -------------------------------------------------------------------------------------


def lua_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=True)  # a JSON string is a valid Lua string here


def write_params(file: Path, **params: object) -> Path:
    """A Lua file that sets the table ``params`` for bench/wrk/*.lua."""

    def lua(value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value)
        if isinstance(value, str):
            return lua_string(value)
        if isinstance(value, dict):
            return "{" + ", ".join(f"[{lua_string(k)}] = {lua(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list | tuple):
            return "{\n" + ",\n".join(lua(v) for v in value) + "\n}"
        raise TypeError(type(value))

    file.write_text("params = " + lua(params) + "\n")
    return file


@dataclass
class Load:
    threads: int
    connections: int
    duration: float


def run_wrk(script: str, url: str, params: Path, load: Load) -> dict:
    command = ["wrk", f"-t{load.threads}", f"-c{load.connections}",
               f"-d{max(round(load.duration), 1)}s", "--timeout", "10s",
               "-s", str(BENCH / "wrk" / script), url, "--", str(params)]
    done = subprocess.run(command, capture_output=True, text=True,  # noqa: S603
                          timeout=load.duration + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    seconds = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "req_per_s": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": round(raw["latency_us"]["p50"] / 1000, 2),
        "p90_ms": round(raw["latency_us"]["p90"] / 1000, 2),
        "p99_ms": round(raw["latency_us"]["p99"] / 1000, 2),
        "max_ms": round(raw["latency_us"]["max"] / 1000, 2),
        "errors": raw["errors"],
        "statuses": {k: v for k, v in sorted(raw["statuses"].items())},
        "threads": load.threads, "connections": load.connections,
        "duration_s": round(seconds, 2),
    }


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Options:
    bookings: int
    baseline_bookings: int
    members: int
    feed_events: int
    duration: float
    warmup: float
    threads: int
    connections: int
    contention_connections: int
    workers: int


def app_env(database_url: str, tmp: Path) -> dict[str, str]:
    """The app as production would run it, minus what needs other servers: no Redis for rate
    limits (off: they would refuse the load), mail into a folder, the simulated gateway."""
    return {
        "SCHILLER40_ENV": "development",
        "SCHILLER40_DATABASE_URL": database_url,
        "SCHILLER40_SECRET_KEY": SECRET_KEY,
        "SCHILLER40_AUTO_MIGRATE": "false",
        "SCHILLER40_WORKER_EMBEDDED": "false",
        "SCHILLER40_RATELIMIT_ENABLED": "false",
        "SCHILLER40_PUBLIC_URL": "https://schiller40.example",
        "SCHILLER40_LOG_FORMAT": "json",
        "SCHILLER40_MAIL_BACKEND": "folder",
        "SCHILLER40_MAIL_FOLDER": str(tmp / "mail"),
        "SCHILLER40_PAYMENT_GATEWAY": "simulated",
    }


def measure(server: Server, name: str, script: str, path: str, params: Path, load: Load,
            warmup: float, warm_params: Path | None = None) -> dict:
    progress(f"==> {name}: wrk -t{load.threads} -c{load.connections} -d{load.duration:g}s")
    if warmup > 0:
        run_wrk(script, server.base + path, warm_params or params,
                Load(load.threads, load.connections, warmup))
    with RssSampler(server) as sampler:
        result = run_wrk(script, server.base + path, params, load)
    result["peak_rss_mb_per_worker"] = round(sampler.peak, 1)
    progress(f"    {result['req_per_s']:.0f} req/s, p50 {result['p50_ms']} ms, "
             f"p99 {result['p99_ms']} ms, statuses {result['statuses']}")
    return result


def count_active(session, day: date) -> int:
    """Held or confirmed studio bookings on ``day`` (the contention scenario's slots)."""
    return session.scalar(text(
        """
        SELECT count(*) FROM booking b JOIN resource r ON r.id = b.resource_id
        WHERE r.kind = 'studio' AND b.status IN ('held', 'confirmed')
          AND (b.starts_at AT TIME ZONE 'Europe/Berlin')::date = :day
        """), {"day": day})


def settled_count(session, day: date, *, quiet: float = 3.0, limit: float = 120.0) -> int:
    """``count_active`` once the requests still in flight when wrk stopped have finished:
    the count has not changed for ``quiet`` seconds (at most ``limit`` seconds of waiting)."""
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while True:
        found = count_active(session, day)
        session.commit()
        if found != last:
            last, since = found, time.monotonic()
        elif time.monotonic() - since >= quiet or time.monotonic() >= deadline:
            return found
        time.sleep(0.5)


def loopback(url: str, **kw: object) -> urllib.request.Request:
    """A request to one of our servers on 127.0.0.1 (never anywhere else)."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"not a loopback URL: {url}")
    return urllib.request.Request(url, **kw)  # noqa: S310  (checked just above)


def prime(server: Server, requests: list[urllib.request.Request]) -> None:
    """A few requests of each kind before anything is measured, several times, so that every
    worker has done its first-request work (imports, connections, caches of compiled SQL)."""
    for _ in range(3 * server.workers):
        for req in requests:
            try:
                # http://127.0.0.1 URLs that this module built.
                urllib.request.urlopen(req, timeout=60).read()  # noqa: S310
            except urllib.error.HTTPError as answer:
                if answer.code >= 500:
                    raise SystemExit(f"priming: {req.full_url} answered {answer.code}") from None


def run(server_url: str, options: Options, tmp: Path) -> dict:
    now = datetime.now(UTC).replace(microsecond=0)
    load_before = round(os.getloadavg()[0], 2)  # other work on the machine skews everything
    throughput = Load(options.threads, options.connections, options.duration)
    latency = Load(1, 1, options.duration)
    posts_needed = int((max(options.duration, 1) + options.warmup) * 2500) + 500
    scenarios: dict[str, dict] = {}
    memory: dict[str, float | dict] = {}
    logs = tmp / "gunicorn.log"

    database = Database(server_url)
    seeder = None
    try:
        progress(f"==> database {database.pg_name}")
        started = time.monotonic()
        seeder = Seeder(database.url, now)
        data = seeder.prepare(members=options.members, post_slots=posts_needed)
        seeder.add_bookings(options.baseline_bookings)
        seeder.analyze()
        seed_seconds = time.monotonic() - started

        progress("==> hello (bench/hello.py) under gunicorn")
        hello = Server("bench.hello:app", env={}, workers=options.workers, log=logs)
        try:
            prime(hello, [loopback(hello.base + "/")])
            params = write_params(tmp / "hello.lua", path="/")
            scenarios["hello"] = measure(hello, "hello", "get.lua", "/", params, throughput,
                                         options.warmup)
        finally:
            hello.stop()

        progress("==> the app (wsgi:app) under gunicorn, and a second one with no caches")
        app = Server("wsgi:app", env=app_env(database.url, tmp), workers=options.workers,
                     log=logs, ready_path="/healthz")
        # The same app with its kept answers turned off: what a request costs when its answer
        # must be computed (a changed day, a changed feed), and what the scaling target is
        # about (the database's work, which a kept answer would hide).
        cold = None
        try:
            cold = Server("wsgi:app", env={**app_env(database.url, tmp), **NO_CACHES},
                          workers=options.workers, log=logs, ready_path="/healthz")
            auth = {"Authorization": f"Bearer {data.member_token}"}
            availability_path = f"/api/v1/availability?date={data.availability_day}"
            availability = write_params(tmp / "availability.lua", path=availability_path,
                                        headers=auth)
            get_availability = loopback(app.base + availability_path, headers=auth)
            refused_post = loopback(
                app.base + "/api/v1/bookings", data=b"{}", method="POST", headers={
                    "Authorization": f"Bearer {data.actor_tokens[0]}",
                    "Content-Type": "application/json"})
            prime(app, [get_availability, refused_post])
            prime(cold, [loopback(cold.base + availability_path, headers=auth)])

            # What any request of the app costs before it does anything (no database), and
            # an API request that checks its token and reads one small table.
            scenarios["app_floor"] = measure(
                app, "app_floor", "get.lua", "/healthz",
                write_params(tmp / "floor.lua", path="/healthz", count_statuses=True),
                throughput, options.warmup)
            scenarios["token_floor"] = measure(
                app, "token_floor", "get.lua", "/api/v1/waitlist",
                write_params(tmp / "token-floor.lua", path="/api/v1/waitlist", headers=auth,
                             count_statuses=True),
                throughput, options.warmup)

            # With few bookings stored: the baseline for "latency does not grow with them".
            result = measure(cold, "availability_latency_baseline", "get.lua",
                             availability_path, availability, latency, options.warmup)
            result["bookings_stored"] = seeder.bookings_stored()
            scenarios["availability_latency_baseline"] = result

            started = time.monotonic()
            seeder.add_bookings(options.bookings)
            feed_events = seeder.feed(options.feed_events)
            seeder.analyze()
            feed_path = seeder.feed_path()
            seed_seconds += time.monotonic() - started
            prime(app, [get_availability, loopback(app.base + feed_path)])
            prime(cold, [loopback(cold.base + availability_path, headers=auth),
                         loopback(cold.base + feed_path)])

            result = measure(cold, "availability_latency", "get.lua", availability_path,
                             availability, latency, options.warmup)
            result["bookings_stored"] = seeder.bookings_stored()
            scenarios["availability_latency"] = result
            scenarios["availability"] = measure(app, "availability", "get.lua",
                                                availability_path, availability, throughput,
                                                options.warmup)
            scenarios["availability_cold"] = measure(cold, "availability_cold", "get.lua",
                                                     availability_path, availability,
                                                     throughput, options.warmup)

            warm_share = int(options.warmup * 2500) if options.warmup > 0 else 0
            bodies = [json.dumps(b) for b in data.post_slots]
            warm = write_params(tmp / "post-warm.lua", path="/api/v1/bookings",
                                bodies=bodies[:max(warm_share, 1)], tokens=data.actor_tokens,
                                threads=throughput.threads)
            params = write_params(tmp / "post.lua", path="/api/v1/bookings",
                                  bodies=bodies[warm_share:], tokens=data.actor_tokens,
                                  threads=throughput.threads)
            result = measure(app, "bookings_post", "post.lua", "/api/v1/bookings", params,
                             throughput, options.warmup, warm_params=warm)
            result["distinct_slots"] = len(bodies) - warm_share
            result["exhausted"] = result["requests"] > result["distinct_slots"]
            scenarios["bookings_post"] = result

            contention = Load(throughput.threads, options.contention_connections,
                              max(round(options.duration / 2), 1))
            params = write_params(
                tmp / "contention.lua", path="/api/v1/bookings",
                bodies=[json.dumps(b) for b in data.contended], tokens=data.actor_tokens,
                threads=contention.threads, cycle=True,
            )
            result = measure(app, "contention", "post.lua", "/api/v1/bookings", params,
                             contention, 0)
            result["bookings_in_database"] = settled_count(seeder.session,
                                                           data.contended_day)
            scenarios["contention"] = result

            feed_request = loopback(app.base + feed_path)
            with urllib.request.urlopen(feed_request, timeout=60) as first:  # noqa: S310
                etag, body = first.headers["ETag"], first.read()
            params = write_params(tmp / "feed-304.lua", path=feed_path,
                                  headers={"If-None-Match": etag}, count_statuses=True)
            scenarios["feed_304"] = measure(app, "feed_304", "get.lua", feed_path, params,
                                            throughput, options.warmup)
            params = write_params(tmp / "feed.lua", path=feed_path)
            result = measure(app, "feed_full", "get.lua", feed_path, params, latency,
                             options.warmup)
            result["events"] = body.count(b"BEGIN:VEVENT")
            result["body_bytes"] = len(body)
            scenarios["feed_full"] = result
            result = measure(cold, "feed_full_cold", "get.lua", feed_path, params, latency,
                             options.warmup)
            result["events"] = scenarios["feed_full"]["events"]
            scenarios["feed_full_cold"] = result

            memory["rss_mb_per_worker_after_runs"] = {
                str(pid): round(rss_mb(pid) or 0, 1) for pid in app.worker_pids()}
            memory["peak_rss_mb_per_worker"] = max(
                s.get("peak_rss_mb_per_worker", 0) for n, s in scenarios.items()
                if n != "hello")
        finally:
            app.stop()
            if cold is not None:
                cold.stop()
    finally:
        if seeder is not None:
            seeder.close()
        database.close()

    order = ["hello", "app_floor", "token_floor", "availability", "availability_cold",
             "bookings_post", "contention", "feed_304", "feed_full", "feed_full_cold",
             "availability_latency", "availability_latency_baseline"]
    return {
        "measured_at": now.isoformat(),
        "machine": {
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "system": platform.platform(terse=True),
            "load_average_1min_before": load_before,
            "load_average_1min_after": round(os.getloadavg()[0], 2),
            "wrk": subprocess.run(["wrk", "--version"],  # noqa: S607  (wrk from PATH)
                                  capture_output=True, text=True).stdout.splitlines()[0],
        },
        "options": dict(vars(options)),
        "data": {
            "bookings": scenarios["availability_latency"]["bookings_stored"],
            "baseline_bookings": scenarios["availability_latency_baseline"]["bookings_stored"],
            "resources": data.resources, "users": data.users, "feed_events": feed_events,
            "seed_seconds": round(seed_seconds, 1),
            "availability_day": data.availability_day.isoformat(),
        },
        "scenarios": {name: scenarios[name] for name in order},
        "memory": memory,
        "targets": targets(scenarios, memory),
    }


def targets(scenarios: dict[str, dict], memory: dict) -> list[dict]:
    hello = scenarios["hello"]["req_per_s"] or 1.0
    for result in scenarios.values():
        result["ratio_to_hello"] = round(result["req_per_s"] / hello, 3)
    contention = scenarios["contention"]
    statuses = contention["statuses"]
    created, refused = statuses.get("201", 0), statuses.get("409", 0)
    others = contention["requests"] - created - refused
    ratio = (scenarios["availability_latency"]["p50_ms"]
             / max(scenarios["availability_latency_baseline"]["p50_ms"], 0.001))
    after = list(memory.get("rss_mb_per_worker_after_runs", {}).values()) or [0]
    post = scenarios["bookings_post"]
    post_created = post["statuses"].get("201", 0)
    rows = [
        ("availability", "GET /api/v1/availability, one day, all resources: >= 50 % of hello",
         scenarios["availability"]["ratio_to_hello"], scenarios["availability"][
             "ratio_to_hello"] >= 0.5),
        ("bookings_post", "POST /api/v1/bookings on distinct free slots: >= 25 % of hello, "
         "every answer 201", post["ratio_to_hello"],
         post["ratio_to_hello"] >= 0.25 and post_created == post["requests"]),
        ("contention", f"{contention['connections']} clients, {CONTENDED_SLOTS} studio slots: "
         "exactly 10 bookings, every other answer 409, p99 < 250 ms",
         {"201": created, "409": refused, "other": others,
          "in_database": contention["bookings_in_database"], "p99_ms": contention["p99_ms"]},
         # wrk does not count answers that arrive after its last second: the bookings are
         # counted in the database, and no answer may be anything but 201 or 409.
         contention["bookings_in_database"] == CONTENDED_SLOTS and created <= CONTENDED_SLOTS
         and others == 0 and contention["p99_ms"] < 250),
        ("feed_304", "member feed, conditional GET answered 304: >= 70 % of hello",
         scenarios["feed_304"]["ratio_to_hello"],
         scenarios["feed_304"]["ratio_to_hello"] >= 0.7
         and scenarios["feed_304"]["statuses"].get("304", 0)
         == scenarios["feed_304"]["requests"]),
        ("feed_full", f"member feed of {scenarios['feed_full']['events']} events, full body: "
         "p50 <= 30 ms (target stated for 2,000 events)", scenarios["feed_full"]["p50_ms"],
         scenarios["feed_full"]["p50_ms"] <= 30),
        ("availability_scaling", "availability p50 with the big database / with the small "
         "one: <= 1.3", round(ratio, 2), ratio <= 1.3),
        ("memory", "resident memory per worker after the runs: <= 150 MB", max(after),
         max(after) <= 150),
    ]
    return [{"scenario": s, "target": t, "value": v, "met": bool(m)} for s, t, v, m in rows]


def table(report: dict) -> str:
    data, machine = report["data"], report["machine"]
    lines = [
        f"PostgreSQL, {data['bookings']:,} bookings ({data['baseline_bookings']:,} for the "
        f"baseline), {data['resources']} resources, feed of {data['feed_events']} events; "
        f"{machine['cpus']} CPUs (load average {machine['load_average_1min_before']} before, "
        f"{machine['load_average_1min_after']} after), {report['options']['workers']} "
        "gunicorn workers",
        f"{'scenario':30} {'conn':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'/hello':>7} {'peak RSS MB':>11}  statuses",
    ]
    for name, r in report["scenarios"].items():
        statuses = ", ".join(f"{k}: {v}" for k, v in r["statuses"].items())
        lines.append(
            f"{name:30} {r['connections']:>4} {r['req_per_s']:9.1f} {r['p50_ms']:8.2f} "
            f"{r['p99_ms']:8.2f} {r['ratio_to_hello']:7.1%} "
            f"{r.get('peak_rss_mb_per_worker', 0):11.1f}  {statuses}")
    lines.append("")
    lines.append("targets:")
    for t in report["targets"]:
        lines.append(f"  [{'met' if t['met'] else 'NOT met':>7}] {t['target']}: {t['value']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_SERVER,
                        help="a PostgreSQL server to create throwaway databases on "
                        f"(default {DEFAULT_SERVER})")
    parser.add_argument("--bookings", type=int, default=1_000_000)
    parser.add_argument("--baseline-bookings", type=int, default=1_000,
                        help="bookings in the second database that availability is compared to")
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--feed-events", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds of warm-up before each run (0: none)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--contention-connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.baseline_bookings >= args.bookings:
        parser.error("--baseline-bookings must be fewer than --bookings")
    if args.bookings < 1 or args.baseline_bookings < 1 or args.members < 4 or (
            args.feed_events < 0) or args.duration <= 0 or args.warmup < 0 or (
            args.threads < 1) or args.connections < args.threads or args.workers < 1 or (
            args.contention_connections < args.threads):
        parser.error("sizes and durations must be positive (--members >= 4, "
                     "--connections >= --threads)")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    options = Options(
        bookings=args.bookings, baseline_bookings=args.baseline_bookings,
        members=args.members, feed_events=args.feed_events, duration=args.duration,
        warmup=args.warmup, threads=args.threads, connections=args.connections,
        contention_connections=args.contention_connections, workers=args.workers,
    )
    with tempfile.TemporaryDirectory(prefix="schiller40-suite-") as tmp:
        try:
            report = run(args.database_url, options, Path(tmp))
        except BaseException:
            log = Path(tmp) / "gunicorn.log"
            if log.exists():
                progress("==> the end of the gunicorn log:\n" + log.read_text()[-3000:])
            raise
    print(table(report))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    progress(f"==> written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
