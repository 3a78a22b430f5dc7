"""One pass of the worker, and the loop around it."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..core import audit, dbfaults
from ..core.logs import current_worker
from ..extensions import db
from . import jobs
from .delivery import DeliveryReport, deliver

log = logging.getLogger(__name__)


def worker_name() -> str:
    """Who holds a claim: host, process and a random part (a restarted process with a
    recycled pid is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class TickReport:
    jobs: dict[str, int] = field(default_factory=dict)
    job_errors: dict[str, str] = field(default_factory=dict)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    @property
    def ok(self) -> bool:
        return not self.job_errors and not self.delivery.errors and not (
            self.delivery.server_error)

    def summary(self) -> str:
        done = ", ".join(f"{name} {count}" for name, count in self.jobs.items())
        d = self.delivery
        text = (f"jobs: {done}; outbox: {d.sent} sent, {d.ran} jobs run, {d.skipped} skipped, "
                f"{d.retrying} to retry, {d.failed} failed")
        if d.server_error:
            text += f"; mail server unavailable: {d.server_error}"
        if self.job_errors:
            text += "; job errors: " + "; ".join(f"{k}: {v}" for k, v in self.job_errors.items())
        return text


def tick(*, clock: Callable[[], datetime], worker: str | None = None) -> TickReport:
    """Run every periodic job, then deliver the outbox. Needs an app context.

    A job that fails is logged and reported; the others and the delivery still run, so one
    broken part (the payment gateway down) does not hold up the mail.
    """
    session = db.session
    worker = worker or worker_name()
    report = TickReport()
    # Log lines of this pass name the worker (in place of a request id), and what it changes
    # is the worker's in the audit log (also when `flask tick` runs it).
    named = current_worker.set(worker)
    channel = audit.set_channel(audit.Channel.WORKER)
    try:
        for name, job in jobs.PERIODIC:
            try:
                report.jobs[name] = job(session, jobs.context(clock()))
            except Exception as exc:
                # A job's write blocks rolled back themselves; this ends the read it may have
                # left open (aborted on PostgreSQL), on a connection that may be gone.
                dbfaults.rollback(session)
                _log_failure(exc, "worker job %s failed", name)
                report.job_errors[name] = f"{type(exc).__name__}: {exc}"
        report.delivery = deliver(session, worker=worker, clock=clock)
    finally:
        audit.reset_channel(channel)
        current_worker.reset(named)
    return report


def run_forever(
    app, *, interval: float, stop: threading.Event, clock: Callable[[], datetime],
) -> None:
    """Tick every ``interval`` seconds until ``stop`` is set. A failed pass is logged and the
    next one comes anyway: a database restart must not end the worker."""
    worker = worker_name()
    current_worker.set(worker)  # this thread is the worker's for good
    log.info("worker %s: a pass every %s s", worker, interval)
    while not stop.is_set():
        try:
            with app.app_context():
                report = tick(clock=clock, worker=worker)
            if report.delivery.handled or report.job_errors:
                log.info("worker pass: %s", report.summary())
        except Exception as exc:
            _log_failure(exc, "worker pass failed; trying again in %s s", interval)
        stop.wait(interval)


def _log_failure(exc: BaseException, message: str, *args: object) -> None:
    """A traceback for a bug; one warning line while the database is away, since every job
    of every pass fails the same way until it is back and tracebacks would bury the log."""
    if dbfaults.is_unavailable(exc):
        log.warning(message + " (database unavailable): %s", *args, dbfaults.describe(exc))
    else:
        log.exception(message, *args)
