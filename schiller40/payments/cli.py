"""``flask --app schiller40 payments ...``: reconciliation for cron, systemd timers and staff."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from ..booking.settings import current_settings
from ..core.clock import now
from ..core.locking import end_read
from ..extensions import db
from ..membership.models import Tier
from .reconcile import reconcile
from .setup import gateway
from .stripe_gateway import StripeGateway

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


@payments_cli.command("stripe-prices")
def stripe_prices_command() -> None:
    """Make Stripe's products and monthly prices match the membership tiers.

    One product per tier and one active monthly price (lookup key
    ``schiller40_tier_<id>_monthly``); a changed fee makes a new price and archives the old
    one (subscriptions on it keep their fee); a tier no longer sold is archived. Sign-ups
    sync their tier's price anyway; run this after changing fees to see the result at once.
    """
    found = gateway()
    if not isinstance(found, StripeGateway):
        raise click.ClickException("The payment gateway is not Stripe: nothing to sync.")
    tiers = list(db.session.scalars(select(Tier).order_by(Tier.position, Tier.id)))
    rows = [(t.id, t.slug, t.name, t.monthly_price_cents, t.is_active) for t in tiers]
    end_read(db.session)
    currency = str(current_app.config.get("CURRENCY") or "EUR")
    for tier_id, slug, name, cents, active in rows:
        sold = active and cents > 0
        if not sold and not found.has_tier_product(tier_id):
            continue
        price = found.sync_tier_price(tier_id=tier_id, name=name, unit_amount_cents=cents,
                                      currency=currency, active=sold)
        click.echo(f"{slug}: {price} ({cents / 100:.2f} {currency} a month)" if price
                   else f"{slug}: archived (not sold monthly)")
