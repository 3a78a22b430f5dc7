"""The worker while the database is away: it keeps going, says so in one line per failure,
and does not fill the log with tracebacks (every job of every pass fails the same way)."""

from __future__ import annotations

import contextvars
import logging
import threading

from schiller40 import create_app
from schiller40.worker import runner

UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/none"


def _outage_app(smtp_server):
    return create_app({"ENV_NAME": "testing", "DATABASE_URL": UNREACHABLE,
                       **smtp_server.config()})


def test_a_pass_without_the_database_logs_warnings_not_tracebacks(smtp_server, clock, caplog):
    app = _outage_app(smtp_server)
    stop = threading.Event()
    passes = threading.Timer(1.0, stop.set)
    caplog.set_level(logging.INFO, logger="schiller40.worker")
    passes.start()
    try:
        # In a copy of this thread's context: run_forever names its thread the worker's for
        # good (a context variable), which leaked the name into every later test's log lines.
        contextvars.copy_context().run(
            runner.run_forever, app, interval=0.1, stop=stop, clock=clock)
    finally:
        passes.cancel()
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert failures, "the outage was not logged at all"
    assert all(r.exc_info is None for r in failures)
    assert all("database unavailable" in r.getMessage() for r in failures)
    assert any(r.getMessage().startswith("worker job ") for r in failures)
    assert any(r.getMessage().startswith("worker pass failed") for r in failures)


def test_a_bug_in_a_job_still_logs_its_traceback(app, clock, caplog, monkeypatch):
    def broken(session, context):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(runner.jobs, "PERIODIC", [("broken", broken)])
    caplog.set_level(logging.INFO, logger="schiller40.worker")
    report = runner.tick(clock=clock)
    assert report.job_errors == {"broken": "ZeroDivisionError: a bug"}
    logged = [r for r in caplog.records if r.getMessage() == "worker job broken failed"]
    assert len(logged) == 1 and logged[0].exc_info is not None
