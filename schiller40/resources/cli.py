"""``flask --app schiller40 resources ...``: resource settings for staff and scripts."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..core.clock import now
from ..errors import DomainError
from ..extensions import db
from . import service

resources_cli = AppGroup("resources", help="Manage bookable resources.")


@resources_cli.command("member-feed")
@click.argument("slug")
@click.argument("state", type=click.Choice(["on", "off"]))
def member_feed_command(slug: str, state: str) -> None:
    """Allow (on) or stop (off) members subscribing to the calendar of studio or room SLUG."""
    try:
        resource = service.set_feed_for_members(
            db.session, slug=slug, allowed=state == "on", now=now()
        )
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    verb = "may" if resource.feed_for_members else "may no longer"
    click.echo(f"Members {verb} subscribe to the calendar of {resource.name} ({resource.slug}).")


@resources_cli.command("approval")
@click.argument("slug")
@click.argument("state", type=click.Choice(["on", "off"]))
def approval_command(slug: str, state: str) -> None:
    """Require (on) or stop requiring (off) staff approval for paid bookings of SLUG."""
    try:
        resource = service.set_requires_approval(
            db.session, slug=slug, required=state == "on", now=now()
        )
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    if resource.requires_approval:
        click.echo(f"Paid bookings of {resource.name} ({resource.slug}) now need staff "
                   "approval: cards are authorised on booking and charged on approval.")
    else:
        click.echo(f"Paid bookings of {resource.name} ({resource.slug}) are charged at once.")
