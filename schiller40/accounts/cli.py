"""``flask --app schiller40 users ...``: account administration for staff and scripts."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from flask_babel import force_locale

from ..core.clock import now
from ..errors import DomainError
from ..extensions import db
from . import service
from .models import Role

users_cli = AppGroup("users", help="Manage user accounts.")


@users_cli.command("create")
@click.option("--email", required=True, help="E-mail address (unique, case-insensitive).")
@click.option("--password", required=True, help="At least 10 characters, not a common one.")
@click.option("--name", default=None, help="Full name (defaults to the e-mail's local part).")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.MEMBER.value,
    show_default=True,
)
@click.option("--tier", "tier_slug", default=None, help="Give a membership in this tier.")
def create_user_command(
    email: str, password: str, name: str | None, role: str, tier_slug: str | None
) -> None:
    """Create a user account."""
    # Operators read the CLI in English; without this, service messages would come out in
    # the app's default locale (German) inside English sentences.
    with force_locale("en"):
        _create(email, password, name, role, tier_slug)


def _create(
    email: str, password: str, name: str | None, role: str, tier_slug: str | None
) -> None:
    try:
        user = service.create_user(
            db.session,
            email=email,
            name=name or email.split("@")[0],
            password=password,
            role=Role(role),
            tier_slug=tier_slug,
            now=now(),
        )
    except DomainError as exc:
        details = "; ".join(m for msgs in exc.fields.values() for m in msgs)
        message = exc.message
        if details and details != exc.message:
            message = f"{message} {details}"
        raise click.ClickException(message) from exc
    click.echo(f"Created {user.role.value} {user.email} (id {user.id}).")
