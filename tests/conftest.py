"""Test fixtures: every database test runs on SQLite and on PostgreSQL.

Each test run creates fresh databases (a SQLite file, and a new PostgreSQL database on the
server named by SCHILLER40_TEST_DATABASE_URL or the local one at 127.0.0.1:5432), migrates them
once with the real migrations, and empties every table before each test. Under CI=true a
missing PostgreSQL fails the run; elsewhere the PostgreSQL half is skipped and the summary
says so loudly.
"""

from __future__ import annotations

import contextvars
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url

from schiller40 import create_app
from schiller40.accounts import models as account_models
from schiller40.core.time import FrozenClock
from schiller40.extensions import db
from schiller40.i18n import compile_catalogs

from . import jinja_speedup, mailbox, redis_service, werkzeug_speedup
from .factories import Factory

werkzeug_speedup.install()
jinja_speedup.install()

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")
PG_SKIP_REASON = "PostgreSQL not reachable"
BROWSER_SKIP_REASON = "Chromium not installed"  # tests/e2e
# A Monday in winter time: 23 November 2026, 09:00 in Wolfsburg.
DEFAULT_NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass
class DatabaseServer:
    """The databases this run uses, created on first use and dropped at the end."""

    tmp: Path
    worker: str
    urls: dict[str, str] = field(default_factory=dict)
    pg_admin_url: str = ""
    pg_error: str | None = None

    def url_for(self, backend: str) -> str:
        if backend not in self.urls:
            self.urls[backend] = (
                self._create_sqlite() if backend == "sqlite" else self._create_postgresql()
            )
            _migrate(self.urls[backend])
        return self.urls[backend]

    def _create_sqlite(self) -> str:
        return f"sqlite:///{self.tmp / f'test-{self.worker}.db'}"

    def _create_postgresql(self) -> str:
        admin = make_url(self.pg_admin_url)
        name = f"schiller40_test_{self.worker}_{secrets.token_hex(4)}"
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            # A test database need not survive a crash of the server: commits (the app's,
            # thousands per run) return without waiting for the disk. Visibility and
            # locking are unchanged.
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        engine.dispose()
        return admin.set(database=name).render_as_string(hide_password=False)

    def drop_postgresql(self) -> None:
        url = self.urls.get("postgresql")
        if not url:
            return
        name = make_url(url).database
        engine = create_engine(make_url(self.pg_admin_url), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def _probe_postgresql(url: str) -> str | None:
    """None if PostgreSQL answers at ``url``, else why not."""
    try:
        engine = create_engine(make_url(url), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means "not reachable" here
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    return None


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    from schiller40 import MIGRATIONS_DIR

    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": url})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        db.engine.dispose()


def pytest_configure(config: pytest.Config) -> None:
    compile_catalogs()
    # Production hashes passwords with scrypt (~0.1 s each, on purpose). Thousands of log-ins
    # and registrations at that cost would dominate the suite; a cheap PBKDF2 keeps the same
    # code paths. tests/accounts/test_passwords.py checks that scrypt is the default.
    account_models.PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI a missing PostgreSQL fails the run before any test starts.

    Checked once, in the controlling process (not in each xdist worker), so the failure is a
    clean exit with a clear message rather than an internal error.
    """
    if hasattr(session.config, "workerinput") or not in_ci():
        return
    error = _probe_postgresql(_pg_admin_url())
    if error:
        pytest.exit(
            f"CI=true but PostgreSQL is not reachable at {_pg_admin_url()}: {error}",
            returncode=3,
        )


def _pg_admin_url() -> str:
    url = os.environ.get("SCHILLER40_TEST_DATABASE_URL") or DEFAULT_PG_URL
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def database_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseServer]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    server = DatabaseServer(tmp=tmp_path_factory.mktemp("db"), worker=worker)
    server.pg_admin_url = _pg_admin_url()
    server.pg_error = _probe_postgresql(server.pg_admin_url)
    if server.pg_error and in_ci():  # became unreachable after the session-start check
        pytest.fail(f"CI=true but PostgreSQL is not reachable: {server.pg_error}")
    yield server
    _dispose_cleanup_engines()  # DROP DATABASE would have to end their sessions
    server.drop_postgresql()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, database_server: DatabaseServer) -> str:
    name = request.param
    if name == "postgresql" and request.node.get_closest_marker("sqlite_only"):
        pytest.skip("SQLite-only test")
    if name == "sqlite" and request.node.get_closest_marker("postgresql_only"):
        pytest.skip("PostgreSQL-only test")
    if name == "postgresql" and database_server.pg_error:
        pytest.skip(f"{PG_SKIP_REASON}: {database_server.pg_error}")
    return name


@pytest.fixture
def database_url(backend: str, database_server: DatabaseServer) -> str:
    url = database_server.url_for(backend)
    _empty_all_tables(url)
    return url


# One engine per database and worker for emptying the tables: a new engine per test would
# also open a new connection per test (some 6 ms on PostgreSQL).
_cleanup_engines: dict[str, Engine] = {}
# The statements that empty a database, built once per URL (see _emptying_statements).
_emptying: dict[str, list[str]] = {}


def _empty_all_tables(url: str) -> None:
    """Start each test from an empty schema (cheaper than migrating for every test).

    On PostgreSQL every statement goes to the server in one round trip.
    """
    engine = _cleanup_engines.get(url)
    if engine is None:
        engine = _cleanup_engines[url] = create_engine(make_url(url), pool_pre_ping=True)
    with engine.begin() as conn:
        statements = _emptying.get(url)
        if statements is None:
            statements = _emptying[url] = _emptying_statements(conn)
        if conn.dialect.name == "postgresql":
            # Without parameters psycopg sends several statements as one query.
            conn.exec_driver_sql(";\n".join(statements))
        else:
            for statement in statements:  # sqlite3 runs one statement per call
                conn.exec_driver_sql(statement)


def _emptying_statements(conn: Connection) -> list[str]:
    """DELETE from every table, children first, then (PostgreSQL) restart the id sequences.

    Not TRUNCATE: on PostgreSQL it replaces each table's files and so took ~140 ms per test
    for twenty mostly empty tables, most of the setup time of the PostgreSQL half of the
    suite; DELETE on the few rows a test leaves takes about 1 ms. The ids start at 1 again,
    as TRUNCATE ... RESTART IDENTITY did, so tests see the same ids on both databases (on
    SQLite a table without AUTOINCREMENT reuses ids once it is empty).
    """
    tables = [t.name for t in db.metadata.sorted_tables]
    statements = [f'DELETE FROM "{table}"' for table in reversed(tables)]  # noqa: S608
    if conn.dialect.name == "postgresql":
        # The sequences the tables own (serial and identity columns), with their start values.
        rows = conn.execute(
            text(
                "SELECT seq.oid::regclass::text, s.seqstart FROM pg_sequence s"
                " JOIN pg_class seq ON seq.oid = s.seqrelid"
                " JOIN pg_depend dep ON dep.objid = seq.oid"
                "  AND dep.classid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i')"
                " JOIN pg_class tab ON tab.oid = dep.refobjid"
                " WHERE tab.relname = ANY(:tables)"
                "  AND tab.relnamespace = current_schema()::regnamespace"
            ),
            {"tables": tables},
        ).all()
        # Nobody needs this transaction to survive a crash: don't wait for the disk (~4 ms).
        statements.insert(0, "SET LOCAL synchronous_commit = off")
        if rows:
            restarts = ", ".join(
                f"setval('{name.replace(chr(39), chr(39) * 2)}', {start}, false)"
                for name, start in rows
            )
            statements.append(f"SELECT {restarts}")
    return statements


def _dispose_cleanup_engines() -> None:
    for engine in _cleanup_engines.values():
        engine.dispose()
    _cleanup_engines.clear()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(DEFAULT_NOW)


@pytest.fixture
def app_config() -> dict:
    """Override in a test module to change settings for its app."""
    return {}


class IsolatedClient(FlaskClient):
    """A test client whose requests behave like real ones.

    Flask reuses an already pushed app context for test requests, which would share the test's
    database session with the "request" and hide bugs (stale identity maps, missing commits).
    Every request here runs in an empty context, so it gets its own app context and session,
    exactly as under gunicorn. The test's own session is committed first, so the request sees
    what the test wrote, and the test sees fresh data afterwards.
    """

    def open(self, *args, **kwargs):
        db.session.commit()
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[mailbox.SmtpServer]:
    """A real SMTP server (aiosmtpd) for this test process; every app sends to it."""
    server = mailbox.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[redis_service.RedisService]:
    """Where this test process finds Redis: the machine's, or one it started (redis_service)."""
    service = redis_service.start()
    yield service
    service.stop()


@pytest.fixture
def redis_url(redis_server: redis_service.RedisService) -> str:
    """The Redis URL for a test that needs it; a skip locally, a failure under CI=true."""
    if redis_server.url is None:
        if in_ci():
            pytest.fail(f"CI=true but {redis_server.problem}")
        pytest.skip(f"SKIPPED, NOT TESTED: {redis_server.problem}; install or start redis-server")
    return redis_server.url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own in that Redis; its keys are deleted afterwards."""
    prefix = f"schiller40-test-{secrets.token_hex(16)}"
    yield prefix
    import redis

    connection = redis.Redis.from_url(redis_url)
    for key in connection.scan_iter(match=f"*{prefix}*"):
        connection.delete(key)
    connection.close()


@pytest.fixture
def inbox(smtp_server: mailbox.SmtpServer) -> mailbox.Inbox:
    """What the SMTP server received during this test (emptied before it)."""
    smtp_server.inbox.clear()
    return smtp_server.inbox


@pytest.fixture
def app(
    database_url: str, clock: FrozenClock, app_config: dict, smtp_server: mailbox.SmtpServer,
) -> Iterator[Flask]:
    config = {
        "ENV_NAME": "testing", "DATABASE_URL": database_url, **smtp_server.config(),
        **app_config,
    }
    application = create_app(config, clock=clock)
    application.test_client_class = IsolatedClient
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def factory(app: Flask, clock: FrozenClock) -> Factory:
    return Factory(db.session, clock)


@pytest.fixture
def cli(app: Flask):
    """Run a CLI command as `flask --app schiller40 ...` would, in its own app context."""
    runner = app.test_cli_runner()

    def invoke(*args: str):
        db.session.commit()
        return contextvars.Context().run(runner.invoke, args=list(args))

    return invoke


@pytest.fixture
def place(factory):
    """A location with a studio (induction, 30 min cleanup buffer), a room and four desks in
    two zones; a Flex member (1 desk day and 1 studio hour included, inducted) and staff."""
    from schiller40.extensions import db
    from schiller40.models import ResourceKind, Role

    location = factory.location()
    studio = factory.resource(location=location, kind=ResourceKind.STUDIO, slug="studio",
                              induction="ar-vr-studio", buffer_after_minutes=30)
    room = factory.resource(location=location, kind=ResourceKind.ROOM, slug="room")
    desks = [
        factory.resource(location=location, kind=ResourceKind.DESK, slug=f"desk-{z}{n}",
                         zone=f"Open Space {z.upper()}", position=n)
        for z in "ab" for n in (1, 2)
    ]
    tier = factory.tier(slug="flex", included_desk_days=1, included_studio_hours=1)
    member = factory.user(tier=tier, email="mia@example.org")
    factory.induction(user=member, topic="ar-vr-studio")
    staff = factory.user(role=Role.STAFF, email="staff@example.org")
    db.session.commit()
    return type("Place", (), dict(location=location, studio=studio, room=room, desks=desks,
                                  tier=tier, member=member, staff=staff))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    # Read from the reports rather than a counter, so it also works under pytest-xdist.
    skipped = sum(
        1
        for report in terminalreporter.stats.get("skipped", [])
        if PG_SKIP_REASON in str(getattr(report, "longrepr", ""))
    )
    if skipped:
        bar = "!" * 78
        terminalreporter.write_line(bar, red=True, bold=True)
        terminalreporter.write_line(
            f"PostgreSQL was NOT tested: {skipped} test(s) ran on SQLite only.",
            red=True, bold=True,
        )
        terminalreporter.write_line(
            "Start PostgreSQL at 127.0.0.1:5432 or set SCHILLER40_TEST_DATABASE_URL "
            "to run them (CI=true makes this an error).",
            red=True,
        )
        terminalreporter.write_line(bar, red=True, bold=True)
    browser_skipped = sum(
        1
        for report in terminalreporter.stats.get("skipped", [])
        if BROWSER_SKIP_REASON in str(getattr(report, "longrepr", ""))
    )
    if browser_skipped:
        bar = "!" * 78
        terminalreporter.write_line(bar, red=True, bold=True)
        terminalreporter.write_line(
            f"The browser was NOT tested: {browser_skipped} end-to-end test(s) skipped "
            "because /usr/bin/chromium is missing.",
            red=True, bold=True,
        )
        terminalreporter.write_line(
            "scripts/test installs it when run as root (apt-get install chromium); "
            "CI=true makes this an error.",
            red=True,
        )
        terminalreporter.write_line(bar, red=True, bold=True)
