"""Application-wide CLI commands (feature packages register their own groups)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from .core.clock import now
from .extensions import db
from .i18n import compile_catalogs


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Create the demo location, resources, tiers and accounts (safe to run again)."""
    # with_appcontext: `flask seed-demo` pushes an app context for any command, but
    # app.cli.main() and app.test_cli_runner() do so only for commands that ask for one.
    from .demo import DEMO_PASSWORDS, seed

    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException(
            "seed-demo creates accounts with published passwords; it refuses to run in production."
        )
    seed(db.session, now=now(), progress=lambda msg: click.echo(f"  {msg}"))
    click.echo("Demo data ready. Log in with:")
    for email, password in DEMO_PASSWORDS.items():
        click.echo(f"  {email:<30} {password}")


translations_cli = AppGroup("translations", help="Translation catalogues.")


@translations_cli.command("compile")
def compile_command() -> None:
    """Compile .po catalogues to .mo (done automatically by the setup scripts)."""
    for path in compile_catalogs():
        click.echo(f"compiled {path}")
