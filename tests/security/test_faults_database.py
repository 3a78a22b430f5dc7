"""The database goes away while the app runs: a clean 503 with Retry-After, nothing half-written,
and the app recovers by itself once the database is back.

On PostgreSQL the app talks to the server through a proxy (tests/dbproxy.py) that a test cuts
(live connections closed, new ones refused: a stopped or restarting server) and restores; a
second kind of fault ends the app's server process in the middle of a booking transaction,
as a restart or an administrator would. On SQLite the database cannot go away, but another
writer can hold the write lock past the busy timeout ("database is locked"), which is the
same situation for the member: try again in a moment. Row counts are read over a separate,
direct connection, so they show what the database really holds.

Which errors count as "unavailable" and why: schiller40/core/dbfaults.py.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    OperationalError,
    PendingRollbackError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from schiller40.core import dbfaults
from schiller40.extensions import db
from tests.api.openapi_check import check
from tests.dbproxy import CuttableProxy
from tests.factories import PASSWORD
from tests.helpers import TUE, log_in, span
from tests.html import page

BOOKINGS = "/api/v1/bookings"
DESK_FORM = "/resources/desk-a1/book"
DESK_MORNING = {"day": "2026-11-24", "part": "morning"}  # Tuesday; the clock stands on Monday
ROOM_HOUR = {"resource": "room", **span(TUE, 10, 11)}  # paid: a booking, a payment, a checkout
RETRY_AFTER = str(dbfaults.RETRY_AFTER_SECONDS)
HEADINGS = {"de": "Vorübergehend nicht verfügbar", "en": "Temporarily unavailable"}
WAIT = {"de": f"Warten Sie {RETRY_AFTER} Sekunden", "en": f"Wait {RETRY_AFTER} seconds"}
MESSAGE_WORD = {"de": "Datenbank", "en": "database"}

# What the faults did, over the run of this module (printed with pytest -s; see the report).
TALLY = {"fault scenarios": 0, "requests during a fault": 0}


@pytest.fixture(scope="module", autouse=True)
def _report_tally() -> Iterator[None]:
    yield
    print(f"\ndatabase faults: {TALLY}")


def _fault() -> None:
    TALLY["fault scenarios"] += 1


# --- the app, pointed through the proxy on PostgreSQL ----------------------------------------


@pytest.fixture
def proxy(backend: str, database_url: str) -> Iterator[CuttableProxy]:
    url = make_url(database_url)
    with CuttableProxy((url.host or "127.0.0.1", url.port or 5432)) as running:
        yield running


@pytest.fixture
def app_config(request: pytest.FixtureRequest, backend: str, database_url: str) -> dict:
    """On PostgreSQL the app connects through the proxy; a test may add settings
    (``@pytest.mark.parametrize("app_config", [...], indirect=True)``)."""
    config = dict(getattr(request, "param", {}))
    if backend == "postgresql":
        proxy = request.getfixturevalue("proxy")
        url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
        config["DATABASE_URL"] = url.render_as_string(hide_password=False)
    return config


@pytest.fixture
def direct(database_url: str) -> Iterator[Engine]:
    """The database without the proxy: to count rows and to end the app's sessions."""
    engine = create_engine(make_url(database_url))
    yield engine
    engine.dispose()


@pytest.fixture
def rows(direct: Engine) -> Callable[[], dict[str, int]]:
    """Rows per table (every table), as the database holds them."""

    def count() -> dict[str, int]:
        with direct.connect() as conn:
            return {
                table.name: conn.scalar(select(func.count()).select_from(table))
                for table in db.metadata.sorted_tables
            }

    return count


@dataclass
class Member:
    """The place's member in the API (bearer token) and in the browser (session cookie)."""

    api: FlaskClient
    token: str
    browser: FlaskClient

    def book_by_api(self, lang: str = "en"):
        return self.api.post(BOOKINGS, json=ROOM_HOUR, headers={
            "Authorization": f"Bearer {self.token}", "Accept-Language": lang})

    def book_by_form(self, lang: str = "en"):
        self.browser.set_cookie("lang", lang)
        return self.browser.post(DESK_FORM, data=DESK_MORNING)


@pytest.fixture
def member(app, place) -> Member:
    """Logged in on both ways while the database is there."""
    api = app.test_client()
    answer = api.post("/api/v1/tokens", json={"email": place.member.email, "password": PASSWORD})
    assert answer.status_code == 201, answer.get_json()
    browser = app.test_client()
    log_in(browser, place.member)
    return Member(api, answer.get_json()["token"], browser)


# --- what a 503 must look like ---------------------------------------------------------------


def assert_json_503(response, lang: str = "en", path: str = BOOKINGS,
                    method: str = "POST") -> None:
    TALLY["requests during a fault"] += 1
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    assert response.headers["Retry-After"] == RETRY_AFTER
    body = response.get_json()
    assert body["error"]["code"] == "database_unavailable"
    assert body["error"]["fields"] == {}
    assert MESSAGE_WORD[lang] in body["error"]["message"]
    check(method, path, 503, body)  # documented in openapi.json, and the body matches


def assert_html_503(response, lang: str) -> None:
    TALLY["requests during a fault"] += 1
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/html"
    assert response.headers["Retry-After"] == RETRY_AFTER
    html = page(response)
    assert html.find_all("html")[0].attrs["lang"] == lang
    (heading,) = html.find_all("h1")
    assert heading.text == HEADINGS[lang]
    assert WAIT[lang] in html.text
    (reference,) = html.find_all("code")
    assert reference.text == response.headers["X-Request-ID"]
    assert "Traceback" not in html.text and "psycopg" not in html.text


def assert_booked_again(member: Member) -> None:
    """The very next bookings after the fault work, on both ways, with no restart."""
    by_api = member.book_by_api()
    assert by_api.status_code == 201, by_api.get_json()
    assert by_api.get_json()["booking"]["status"] == "held"
    by_form = member.book_by_form()
    assert by_form.status_code == 302, by_form.get_data(as_text=True)[:300]


def _one_more_booking_each(before: dict[str, int], after: dict[str, int]) -> None:
    assert after["booking"] == before["booking"] + 2
    assert after["payment"] == before["payment"] + 1  # the room is paid, the desk is credit


# --- PostgreSQL stopped or unreachable -------------------------------------------------------


@pytest.mark.postgresql_only
def test_booking_while_the_database_is_cut_is_503_and_writes_nothing(
    member, proxy, rows, caplog
):
    _fault()
    before = rows()
    proxy.cut()
    with caplog.at_level(logging.WARNING):
        for lang in ("de", "en"):
            assert_json_503(member.book_by_api(lang), lang)
            assert_html_503(member.book_by_form(lang), lang)
    assert rows() == before, "nothing may be written while the database is away"

    # One warning line per request, with its id; no traceback from us or SQLAlchemy's pool.
    warnings = [r for r in caplog.records if r.name == "schiller40.errors"]
    assert len(warnings) == 4
    assert all(r.levelno == logging.WARNING and "request_id=" in r.getMessage()
               and r.exc_info is None for r in warnings)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []

    proxy.restore()
    assert_booked_again(member)
    _one_more_booking_each(before, rows())


@pytest.mark.postgresql_only
@pytest.mark.parametrize("pre_ping", [True, False], ids=["pre-ping", "no-pre-ping"])
def test_a_restart_between_two_requests(app, member, proxy, pre_ping, monkeypatch):
    """A connection pooled before the restart is dead afterwards. Pre-ping (config.py) finds
    out before handing it out, so the member notices nothing. Without it the request that
    draws the dead connection is still a clean 503, not a 500, and the one after works."""
    _fault()
    assert member.browser.get("/bookings").status_code == 200  # leaves a connection pooled
    if not pre_ping:
        monkeypatch.setattr(db.engine.pool, "_pre_ping", False)
    connections = proxy.accepted
    proxy.cut()
    proxy.restore()
    first = member.browser.get("/bookings", headers={"Accept-Language": "en"})
    if pre_ping:
        assert first.status_code == 200
        assert proxy.accepted == connections + 1, "the dead connection was not replaced"
    else:
        assert_html_503(first, "en")
        assert member.browser.get("/bookings").status_code == 200


@pytest.mark.postgresql_only
def test_readyz_while_cut_and_after(client, proxy):
    """/readyz takes the server out of the load balancer while the database is away and
    puts it back once it answers again, with no restart of the app."""
    _fault()
    assert client.get("/readyz").status_code == 200
    proxy.cut()
    TALLY["requests during a fault"] += 1
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.get_json() == {"status": "unavailable", "database": "unreachable"}
    assert down.headers["Retry-After"] == RETRY_AFTER
    proxy.restore()
    assert client.get("/readyz").json["status"] == "ready"


# --- PostgreSQL restarting in the middle of a booking ----------------------------------------


def _after_booking_insert(engine: Engine, fault: Callable[[object], None]) -> list[str]:
    """Run ``fault`` once, right after the first booking row is inserted (not committed).

    Returns a list the fault's name is appended to when it ran, so the test knows it did."""
    fired: list[str] = []

    @event.listens_for(engine, "after_cursor_execute")
    def insert_seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if not fired and statement.startswith("INSERT INTO booking "):
            fired.append(statement.split("(")[0].strip())
            fault(cursor)

    return fired


def _terminate_backend(direct: Engine) -> Callable[[object], None]:
    """What a restart (or pg_terminate_backend by an administrator) does to a session."""

    def fault(cursor) -> None:
        with direct.connect() as admin:
            ended = admin.scalar(text("SELECT pg_terminate_backend(:pid, 5000)"),
                                 {"pid": cursor.connection.info.backend_pid})
        assert ended, "the app's server process was not ended"

    return fault


def _cut_at_commit(engine: Engine, proxy: CuttableProxy) -> Callable[[object], None]:
    """The connection drops after the inserts, just as the COMMIT is about to be sent."""

    def fault(_cursor) -> None:
        event.listen(engine, "commit", lambda conn: proxy.cut(), once=True)

    return fault


@pytest.mark.postgresql_only
@pytest.mark.parametrize("how", ["terminated", "cut-at-commit"])
@pytest.mark.parametrize(("channel", "lang"), [("api", "en"), ("form", "de")])
def test_the_database_restarts_in_the_middle_of_a_booking(
    app, member, proxy, direct, rows, how, channel, lang
):
    """The session ends after the booking row was inserted ("terminated"), or once its audit
    entry and queued mail were too, as the COMMIT goes out ("cut-at-commit"): nothing of it
    may remain, and the next try works."""
    _fault()
    fault = _terminate_backend(direct) if how == "terminated" else _cut_at_commit(
        db.engine, proxy)
    fired = _after_booking_insert(db.engine, fault)
    before = rows()
    if channel == "api":
        assert_json_503(member.book_by_api(lang), lang)
    else:
        assert_html_503(member.book_by_form(lang), lang)
    assert fired == ["INSERT INTO booking"]
    assert rows() == before, "a booking cut off before its commit must leave nothing"

    proxy.restore()
    assert_booked_again(member)
    _one_more_booking_each(before, rows())


# --- SQLite: the write lock held past the busy timeout ---------------------------------------


@pytest.fixture
def short_busy_timeout(app) -> None:
    """50 ms instead of 30 s, so a held lock gives up at once (the behaviour is the same)."""

    @event.listens_for(db.engine, "checkout")
    def shorten(dbapi_connection, _record, _proxy) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout = 50")


@pytest.mark.sqlite_only
def test_sqlite_locked_past_the_busy_timeout_is_503(
    member, database_url, rows, short_busy_timeout
):
    """Another process (a backup, a long import) holds the write lock: bookings are a 503 to
    retry, reading goes on (WAL), and once the lock is released booking works again."""
    _fault()
    before = rows()
    neighbour = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    try:
        neighbour.execute("BEGIN IMMEDIATE")
        for lang in ("de", "en"):
            assert_json_503(member.book_by_api(lang), lang)
            assert_html_503(member.book_by_form(lang), lang)
        assert member.browser.get("/resources").status_code == 200
        neighbour.execute("ROLLBACK")
    finally:
        neighbour.close()
    assert rows() == before
    assert_booked_again(member)
    _one_more_booking_each(before, rows())


# --- both: every pooled connection busy ------------------------------------------------------

ONE_CONNECTION = {"SQLALCHEMY_ENGINE_OPTIONS": {
    "pool_pre_ping": True, "hide_parameters": True, "pool_size": 1, "max_overflow": 0,
    "pool_timeout": 0.05,
}}


@contextmanager
def pool_exhausted() -> Iterator[None]:
    """The app's only pooled connection is busy (as when the database is too slow to hand
    connections back), so a request waits ``pool_timeout`` and gives up."""
    _fault()
    with db.engine.connect() as taken:
        taken.execute(text("SELECT 1"))
        yield


@pytest.mark.parametrize("app_config", [ONE_CONNECTION], indirect=True)
def test_no_free_connection_in_the_pool_is_503(app, member, rows):
    before = rows()
    with pool_exhausted():
        assert_json_503(member.book_by_api())
        assert_html_503(member.browser.get("/bookings", headers={"Accept-Language": "de"}),
                        "de")
    assert rows() == before
    assert_booked_again(member)


@pytest.mark.parametrize("app_config", [ONE_CONNECTION], indirect=True)
def test_the_503_page_falls_back_to_a_bare_page(app, member, monkeypatch):
    """Even with the error page broken the reader learns to wait, and the reference."""
    import schiller40.errors

    def broken_template(*args, **kwargs):
        raise RuntimeError("the template is broken too")

    monkeypatch.setattr(schiller40.errors, "render_template", broken_template)
    with pool_exhausted():
        response = member.browser.get("/bookings", headers={"X-Request-ID": "<b>not-an-id</b>"})
    TALLY["requests during a fault"] += 1
    assert response.status_code == 503 and response.headers["Retry-After"] == RETRY_AFTER
    html = page(response)
    assert f"Please try again in {RETRY_AFTER} seconds." in html.text
    (reference,) = html.find_all("code")
    assert reference.text == response.headers["X-Request-ID"]


# --- the line between "unavailable" and "a bug" ----------------------------------------------


def _wrapped(cls: type[DBAPIError], orig: Exception, *, invalidated: bool = False):
    return cls("SELECT 1", {}, orig, connection_invalidated=invalidated)


def _sqlite_error(code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


CLASSIFIED = [
    ("connection refused", _wrapped(OperationalError, psycopg.OperationalError(
        "connection failed: Connection refused")), True),
    ("lost, invalidated", _wrapped(OperationalError, psycopg.OperationalError(
        "server closed the connection unexpectedly"), invalidated=True), True),
    ("admin shutdown", _wrapped(OperationalError, psycopg.errors.AdminShutdown()), True),
    ("starting up", _wrapped(OperationalError, psycopg.errors.CannotConnectNow()), True),
    ("too many connections", _wrapped(OperationalError, psycopg.errors.TooManyConnections()),
     True),
    ("connection failure 08006", _wrapped(OperationalError,
                                          psycopg.errors.ConnectionFailure()), True),
    ("sqlite busy", _wrapped(OperationalError, _sqlite_error(5)), True),
    ("pool timeout", PoolTimeoutError("QueuePool limit reached"), True),
    ("deadlock", _wrapped(OperationalError, psycopg.errors.DeadlockDetected()), False),
    ("serialization", _wrapped(OperationalError, psycopg.errors.SerializationFailure()), False),
    ("statement timeout", _wrapped(OperationalError, psycopg.errors.QueryCanceled()), False),
    ("sqlite busy snapshot", _wrapped(OperationalError, _sqlite_error(517)), False),
    ("sqlite no such table", _wrapped(OperationalError, sqlite3.OperationalError(
        "no such table: x")), False),
    ("undefined table", _wrapped(ProgrammingError, psycopg.errors.UndefinedTable()), False),
    ("unique violation", _wrapped(IntegrityError, psycopg.errors.UniqueViolation()), False),
    ("pending rollback", PendingRollbackError("rolled back"), False),
    ("not a database error", RuntimeError("boom"), False),
]


@pytest.mark.parametrize(("error", "unavailable"), [c[1:] for c in CLASSIFIED],
                         ids=[c[0] for c in CLASSIFIED])
def test_which_errors_mean_unavailable(error, unavailable):
    """A retry can help and nothing was written: 503. Our own mistakes stay a 500, with a
    traceback in the log (tests/test_errors.py checks those pages on both databases)."""
    assert dbfaults.is_unavailable(error) is unavailable
    assert "SELECT 1" not in dbfaults.describe(error)
