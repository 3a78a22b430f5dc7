"""``flask --app schiller40 resources ...``: resource settings for staff and scripts."""

from __future__ import annotations

from collections.abc import Callable

import click
from flask.cli import AppGroup

from ..core.clock import now
from ..errors import DomainError
from ..extensions import db
from . import service
from .models import Resource

resources_cli = AppGroup("resources", help="Manage bookable resources.")


ON_OFF = click.Choice(["on", "off"])


def _run(switch: Callable[..., Resource], slug: str, state: str, *, flag: str) -> Resource:
    """Call a service switch with on/off; a domain refusal becomes a clean CLI error."""
    try:
        return switch(db.session, slug=slug, now=now(), **{flag: state == "on"})
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc


@resources_cli.command("member-feed")
@click.argument("slug")
@click.argument("state", type=ON_OFF)
def member_feed_command(slug: str, state: str) -> None:
    """Allow (on) or stop (off) members subscribing to the calendar of studio or room SLUG."""
    resource = _run(service.set_feed_for_members, slug, state, flag="allowed")
    verb = "may" if resource.feed_for_members else "may no longer"
    click.echo(f"Members {verb} subscribe to the calendar of {resource.name} ({resource.slug}).")


@resources_cli.command("approval")
@click.argument("slug")
@click.argument("state", type=ON_OFF)
def approval_command(slug: str, state: str) -> None:
    """Require (on) or stop requiring (off) staff approval for paid bookings of SLUG."""
    resource = _run(service.set_requires_approval, slug, state, flag="required")
    if resource.requires_approval:
        click.echo(f"Paid bookings of {resource.name} ({resource.slug}) now need staff "
                   "approval: cards are authorised on booking and charged on approval.")
    else:
        click.echo(f"Paid bookings of {resource.name} ({resource.slug}) are charged at once.")
