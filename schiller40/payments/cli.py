"""``flask --app schiller40 payments ...``: reconciliation for cron, systemd timers and staff."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup

from ..booking.settings import current_settings
from ..core.clock import now
from ..extensions import db
from .reconcile import reconcile
from .setup import gateway

payments_cli = AppGroup("payments", help="Payments: reconcile with the gateway.")


@payments_cli.command("reconcile")
@click.option(
    "--recent-days", type=click.IntRange(0, 90), default=3, show_default=True,
    help="Also re-check payments changed within this many days.",
)
def reconcile_command(recent_days: int) -> None:
    """Re-fetch open and recent payments and repair what a lost webhook left behind.

    Safe to run every few minutes, on several machines at once. Exits 1 if the gateway
    could not be reached for some payment (they are retried on the next run).
    """
    found = gateway()
    report = reconcile(
        db.session, found, now=now(), settings=current_settings(),
        recent=timedelta(days=recent_days),
    )
    click.echo(
        f"{found.name}: checked {report.checked} payment(s), repaired {report.changed}, "
        f"unreachable for {len(report.failed)}"
    )
    if report.failed:
        click.echo(
            f"Error: {found.name} could not be reached for payment(s) "
            f"{', '.join(str(i) for i in report.failed)}; they are retried on the next run.",
            err=True,
        )
        raise SystemExit(1)
