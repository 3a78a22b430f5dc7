"""``/healthz`` and ``/readyz`` for load balancers, orchestrators and monitoring.

``/healthz`` says only that the process answers (no database: a database outage must not
make an orchestrator restart every app server). ``/readyz`` says whether this server can do
its work: the database answers and its schema is the one this code expects. It also reports
the outbox, so monitoring notices a worker that stopped (mail due for minutes and not sent).
"""

from __future__ import annotations

from datetime import datetime

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from ..core.clock import now
from ..core.dbfaults import RETRY_AFTER_SECONDS
from ..core.locking import end_read
from ..core.outbox import OutboxMessage, OutboxStatus
from ..extensions import db

bp = Blueprint("health", __name__)


def _no_store(response: Response) -> Response:
    response.cache_control.no_store = True
    return response


@bp.get("/healthz")
def healthz() -> Response:
    return _no_store(jsonify(status="ok"))


def _expected_heads() -> set[str]:
    cached = current_app.extensions.get("schiller40.migration_heads")
    if cached is None:
        # Once per process, on the first readiness probe: no page needs Alembic loaded.
        from alembic.config import Config as AlembicConfig

        config = AlembicConfig()
        # The directory create_app gave Flask-Migrate (not the package root, which imports
        # every blueprint: main stays below the other front ends).
        config.set_main_option("script_location", current_app.extensions["migrate"].directory)
        cached = set(ScriptDirectory.from_config(config).get_heads())
        current_app.extensions["schiller40.migration_heads"] = cached
    return cached


def _outbox(instant: datetime) -> dict[str, int | None]:
    due = (OutboxMessage.status == OutboxStatus.PENDING) & (
        OutboxMessage.next_attempt_at <= instant
    )
    count, oldest = db.session.execute(
        select(func.count(), func.min(OutboxMessage.next_attempt_at)).where(due)
    ).one()
    failed = db.session.scalar(
        select(func.count()).where(OutboxMessage.status == OutboxStatus.FAILED)
    )
    return {
        "due": int(count),
        "oldest_due_seconds": int((instant - oldest).total_seconds()) if oldest else None,
        "failed": int(failed or 0),
    }


@bp.get("/readyz")
def readyz() -> tuple[Response, int] | Response:
    try:
        connection = db.session.connection()
        connection.execute(text("SELECT 1"))
        current = set(MigrationContext.configure(connection).get_current_heads())
        outbox = _outbox(now())
        end_read(db.session)
    except SQLAlchemyError as exc:
        # The probe only reads: ending its (perhaps failed) transaction undoes nothing.
        end_read(db.session)
        current_app.logger.warning("readyz: database unreachable: %s", type(exc).__name__)
        response = _no_store(jsonify(status="unavailable", database="unreachable"))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response, 503
    expected = _expected_heads()
    if current != expected:
        response = _no_store(jsonify(
            status="unavailable", database="ok", migrations="outdated",
            current=sorted(current), expected=sorted(expected),
        ))
        response.headers["Retry-After"] = "30"
        return response, 503
    return _no_store(jsonify(
        status="ready", database="ok", migrations=sorted(current)[0] if current else None,
        outbox=outbox,
    ))
