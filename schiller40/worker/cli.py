"""``flask --app schiller40 worker`` (continuous) and ``flask --app schiller40 tick`` (once)."""

from __future__ import annotations

import signal
import threading

import click
from flask import current_app
from flask.cli import with_appcontext

from ..core.clock import now
from .runner import run_forever, tick


@click.command("tick")
@with_appcontext
def tick_command() -> None:
    """One pass: expire holds, advance waitlists, send reminders, release no-show desks,
    reconcile payments, deliver the outbox. For cron or a systemd timer; exits 1 if a job or
    a delivery failed (they are retried on the next pass)."""
    report = tick(clock=now)
    click.echo(report.summary())
    if not report.ok:
        raise SystemExit(1)


@click.command("worker")
@click.option("--interval", type=click.FloatRange(0.1, 3600), default=None,
              help="Seconds between passes (default: SCHILLER40_WORKER_INTERVAL_SECONDS).")
@with_appcontext
def worker_command(interval: float | None) -> None:
    """Run the worker until stopped (SIGTERM or Ctrl+C end it after the current pass)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_args: stop.set())
    seconds = interval or float(app.config["WORKER_INTERVAL_SECONDS"])
    click.echo(f"Schiller40 worker: a pass every {seconds:g} s (Ctrl+C stops it)")
    run_forever(app, interval=seconds, stop=stop, clock=app.extensions["schiller40.clock"])
