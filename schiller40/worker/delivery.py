"""Carrying out outbox entries: composing and sending mail, running deferred jobs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from ..core import outbox
from ..core.locking import end_read
from ..core.outbox import OutboxMessage, OutboxStatus
from ..mail import backends, catalog
from ..mail.compose import site_context, to_email

log = logging.getLogger(__name__)

# Deferred actions other than mail: "job.<name>" -> function(session, payload, now). A handler
# writes in ``write`` blocks of its own and calls no gateway inside one; nothing is committed
# after it returns (what it left open is a read, ended before the entry is marked delivered).
JobHandler = Callable[[Session, dict[str, Any], datetime], None]
JOB_HANDLERS: dict[str, JobHandler] = {}


def job_handler(topic: str) -> Callable[[JobHandler], JobHandler]:
    def register(handler: JobHandler) -> JobHandler:
        JOB_HANDLERS[topic] = handler
        return handler

    return register


@dataclass
class DeliveryReport:
    sent: int = 0  # mails handed to the server
    ran: int = 0  # deferred jobs carried out
    skipped: int = 0  # nothing to say any more (booking gone, account deleted)
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    # Set when the mail server could not be used: delivery stopped, the messages wait.
    server_error: str | None = None

    @property
    def handled(self) -> int:
        return self.sent + self.ran + self.skipped + self.retrying + self.failed


def deliver(
    session: Session, *, worker: str, clock: Callable[[], datetime],
    backend: backends.MailBackend | None = None, batch: int = 20, limit: int | None = None,
) -> DeliveryReport:
    """Claim and carry out due entries until none is left (or ``limit`` were handled)."""
    config = current_app.config
    builders = catalog.load()
    backend = backend or backends.from_config(config)
    lease = timedelta(seconds=int(config["OUTBOX_LEASE_SECONDS"]))
    report = DeliveryReport()
    max_attempts = int(config["OUTBOX_MAX_ATTEMPTS"])
    try:
        while limit is None or report.handled < limit:
            take = batch if limit is None else min(batch, limit - report.handled)
            ids = outbox.claim(session, worker=worker, now=clock(), lease=lease, limit=take,
                               max_attempts=max_attempts)
            if not ids:
                break
            for position, message_id in enumerate(ids):
                if not outbox.renew(session, message_id, worker=worker, now=clock(),
                                    lease=lease):
                    continue  # taken over by another worker: theirs now
                try:
                    _one(session, message_id, worker=worker, clock=clock, backend=backend,
                         builders=builders, report=report)
                except ServerUnavailable as exc:
                    # No message can go out now: give this batch back untried and end the
                    # pass's delivery, so the periodic jobs are not held up by timeouts.
                    outbox.release(session, ids[position:], worker=worker, error=str(exc))
                    report.server_error = str(exc)
                    log.warning("mail server unavailable, %s message(s) wait: %s",
                                len(ids) - position, exc)
                    return report
    finally:
        backend.close()
    return report


class ServerUnavailable(Exception):
    """The mail server cannot be used at all (see ``DeliveryError.server``)."""


def _one(
    session: Session, message_id: int, *, worker: str, clock: Callable[[], datetime],
    backend: backends.MailBackend, builders: dict[str, catalog.Builder],
    report: DeliveryReport,
) -> None:
    config = current_app.config
    max_attempts = int(config["OUTBOX_MAX_ATTEMPTS"])
    row = session.get(OutboxMessage, message_id, populate_existing=True)
    if row is None:
        return
    topic, payload, created = row.topic, dict(row.payload), row.created_at
    end_read(session)
    now = clock()
    try:
        if topic.startswith("job."):
            handler = JOB_HANDLERS.get(topic)
            if handler is None:
                raise LookupError(f"no handler for {topic!r}")
            handler(session, payload, now)
            end_read(session)
            outbox.delivered(session, message_id, worker=worker, now=clock())
            report.ran += 1
            return
        builder = builders.get(topic)
        if builder is None:
            raise LookupError(f"no message for {topic!r}")
        with site_context():
            mail = builder(session, payload, now)
            end_read(session)  # composing only reads; end that snapshot before sending
            if mail is None:
                outbox.delivered(session, message_id, worker=worker, now=clock())
                report.skipped += 1
                return
            email = to_email(
                mail, sender=str(config["MAIL_SENDER"]), message_id=message_id,
                created=created, now=now,
            )
        backend.send(email)
    except backends.DeliveryError as exc:
        end_read(session)
        if exc.server:
            raise ServerUnavailable(str(exc)) from exc
        status = outbox.failed(
            session, message_id, worker=worker, now=clock(), error=str(exc),
            max_attempts=max_attempts, permanent=exc.permanent,
        )
        _count(report, status, f"{message_id} {topic}: {exc}")
        return
    except Exception as exc:  # a bug in a builder or job must not stop the others
        # A failed handler's write blocks rolled back themselves; what is left is the read
        # the builder or handler had open (on PostgreSQL perhaps aborted by the error).
        end_read(session)
        log.exception("outbox %s (%s) failed", message_id, topic)
        status = outbox.failed(
            session, message_id, worker=worker, now=clock(),
            error=f"{type(exc).__name__}: {exc}", max_attempts=max_attempts,
        )
        _count(report, status, f"{message_id} {topic}: {type(exc).__name__}: {exc}")
        return
    outbox.delivered(session, message_id, worker=worker, now=clock())
    report.sent += 1


def _count(report: DeliveryReport, status: OutboxStatus | None, error: str) -> None:
    report.errors.append(error)
    if status is OutboxStatus.FAILED:
        report.failed += 1
    elif status is OutboxStatus.PENDING:
        report.retrying += 1
