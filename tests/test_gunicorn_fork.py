"""gunicorn with ``preload_app`` (``gunicorn.conf.py``) builds the app once in the master and
forks the workers from it. Whatever the master's start-up opened to the database (with
development settings the automatic migration does) must not reach the workers: two processes
on one database connection send their statements down the same socket, read each other's
answers and commit each other's work.

Started as an operator would start it (``gunicorn -c gunicorn.conf.py``, two workers,
development settings, automatic migration and the embedded worker thread on), then 32
members ask for the same desk at once as the very first requests. Which file descriptors of
the master reach the database is read from ``/proc`` (Linux), on both databases.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from schiller40.accounts import tokens
from schiller40.booking.models import Booking, BookingStatus
from schiller40.core.outbox import OutboxMessage, OutboxStatus
from schiller40.core.time import FrozenClock
from schiller40.extensions import db
from tests.factories import PASSWORD
from tests.helpers import iso
from tests.mail.test_worker_processes import process_env
from tests.security.test_faults_process_kill import free_port, until, working_day

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = 32
WORKERS = 2
START_TIMEOUT = 60.0
WAIT_TIMEOUT = 30.0  # every wait is bounded by these; none comes near them
BOOKINGS = "/api/v1/bookings"

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")


@pytest.fixture
def clock() -> FrozenClock:
    """The gunicorn workers read the real clock; the tokens the test issues use the same."""
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


# --- which processes hold a database connection ---------------------------------------------


def _tcp_inodes_to(port: int) -> set[str]:
    """Socket inodes of every TCP connection on this machine whose far end is ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def database_handles(pid: int, database_url: str) -> list[str]:
    """The open files of process ``pid`` that reach the database: sockets connected to the
    PostgreSQL server's port, or the SQLite file (and its journal and WAL)."""
    url = make_url(database_url)
    fd_dir = Path(f"/proc/{pid}/fd")
    targets = []
    for fd in fd_dir.iterdir():
        try:
            targets.append(os.readlink(fd))
        except FileNotFoundError:
            continue  # closed meanwhile
    if url.get_backend_name() == "sqlite":
        path = str(Path(url.database).resolve())
        return [t for t in targets if t.startswith(path)]
    inodes = _tcp_inodes_to(url.port or 5432)
    return [t for t in targets if t.startswith("socket:[") and t[8:-1] in inodes]


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


# --- gunicorn ------------------------------------------------------------------------------


@dataclass
class Gunicorn:
    process: subprocess.Popen
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def workers(self) -> list[int]:
        return children(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # quick shutdown
            try:
                self.process.wait(timeout=WAIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=WAIT_TIMEOUT)


@pytest.fixture
def gunicorn(database_url: str, smtp_server, tmp_path: Path) -> Iterator[Gunicorn]:
    """``gunicorn -c gunicorn.conf.py -w 2 wsgi:app`` with development settings: the
    master migrates, the workers start the embedded worker thread on their first request."""
    env = process_env(
        database_url, smtp_server, AUTO_MIGRATE="true", WORKER_EMBEDDED="true",
        WORKER_INTERVAL_SECONDS="1",
        # 32 requests from one address within a second are the point here, not an attack.
        RATELIMIT_ENABLED="false",
    )
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS),
             "--no-control-socket", "wsgi:app"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = Gunicorn(process, f"http://127.0.0.1:{port}", log)
    try:
        # No request before the bookings: each worker's first database work is theirs.
        until(lambda: process.poll() is not None or server.output().count(
            "Booting worker with pid") >= WORKERS, "gunicorn to fork its workers",
            START_TIMEOUT)
        assert process.poll() is None, f"gunicorn exited:\n{server.output()}"
        yield server
    finally:
        server.stop()


def member_tokens(factory, place, clock: FrozenClock) -> list[str]:
    issued = []
    for n in range(MEMBERS):
        member = factory.user(tier=place.tier, email=f"member{n}@example.org")
        db.session.commit()
        token = tokens.issue(db.session, email=member.email, password=PASSWORD, now=clock())
        assert token is not None
        db.session.commit()
        issued.append(token[0])
    return issued


def book_all_at_once(url: str, bearer: list[str], wanted: dict[str, str]) -> list[tuple[int, str]]:
    """One thread per member, released together by a barrier."""
    barrier = threading.Barrier(len(bearer))

    def book(token: str) -> tuple[int, str]:
        with requests.Session() as session:
            barrier.wait(timeout=WAIT_TIMEOUT)
            response = session.post(url + BOOKINGS, json=wanted, timeout=WAIT_TIMEOUT,
                                    headers={"Authorization": f"Bearer {token}"})
            return response.status_code, response.text

    with ThreadPoolExecutor(max_workers=len(bearer)) as pool:
        return list(pool.map(book, bearer))


def test_the_master_keeps_no_database_connection_after_start_up(gunicorn, database_url):
    assert database_handles(gunicorn.process.pid, database_url) == [], gunicorn.output()


def test_32_first_bookings_on_two_forked_workers_give_one_booking_and_31_conflicts(
    gunicorn, database_url, place, factory, clock
):
    bearer = member_tokens(factory, place, clock)
    day = working_day(clock)
    wanted = {"resource": "desk-a1", "start": iso(day, 8), "end": iso(day, 13)}

    answers = book_all_at_once(gunicorn.url, bearer, wanted)

    assert Counter(status for status, _ in answers) == {201: 1, 409: MEMBERS - 1}, (
        answers, gunicorn.output())
    db.session.rollback()
    assert db.session.scalar(
        select(func.count()).select_from(Booking).where(Booking.status == BookingStatus.CONFIRMED)
    ) == 1
    # The embedded worker thread of the worker that answered sends the confirmation.
    until(lambda: (db.session.rollback(), db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.topic == "mail.booking_confirmed",
            OutboxMessage.status == OutboxStatus.SENT)))[1], "the confirmation to be sent")
    # Each worker has connections of its own now (so the check below can see one), the
    # master still none.
    workers = gunicorn.workers()
    assert len(workers) == WORKERS
    assert any(database_handles(pid, database_url) for pid in workers)
    assert database_handles(gunicorn.process.pid, database_url) == []
    output = gunicorn.output()
    assert "Traceback" not in output, output
    assert "database unavailable" not in output, output


# --- the two guards, each on its own --------------------------------------------------------


def _backend_identity(conn) -> object:
    """What identifies the database session behind a pooled connection."""
    if conn.dialect.name == "postgresql":
        return conn.execute(text("SELECT pg_backend_pid()")).scalar()
    return id(conn.connection.dbapi_connection)


def test_a_forked_child_gets_empty_pools_and_leaves_the_parents_connection_alone(app):
    """``os.register_at_fork`` (any server that forks, whatever its configuration)."""
    engine = db.engine
    with engine.connect() as conn:
        before = _backend_identity(conn)
    assert engine.pool.checkedin() == 1
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once, running nothing of pytest's
        try:
            os.write(write, str(engine.pool.checkedin()).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        assert pipe.read() == "0"  # nothing inherited
    assert engine.pool.checkedin() == 1
    with engine.connect() as conn:  # the same session, still working (not closed by the child)
        assert _backend_identity(conn) == before


def test_gunicorn_post_fork_hook_gives_the_worker_empty_pools(app):
    import runpy

    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    engine = db.engine
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert engine.pool.checkedin() == 1
    settings["post_fork"](None, None)
    assert engine.pool.checkedin() == 0
    assert settings["preload_app"] is True  # the reason the hook is needed


def test_an_in_memory_sqlite_database_survives_start_up():
    """``sqlite://`` lives only in its one pooled connection: closing the pools at the end of
    start-up must not drop the tables the automatic migration has just made."""
    from sqlalchemy import inspect

    from schiller40 import create_app

    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": "sqlite://",
                      "AUTO_MIGRATE": True})
    with app.app_context():
        assert "booking" in inspect(db.engine).get_table_names()
