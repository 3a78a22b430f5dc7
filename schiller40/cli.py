"""Application-wide CLI commands (feature packages register their own groups)."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from .core import audit
from .core.clock import now
from .extensions import db
from .i18n import compile_catalogs


class AuditedGroup(AppGroup):
    """The app's own command group (``app.cli``): every ``flask …`` command it holds runs
    with the audit channel "cli", without each command having to say so.

    ``flask`` (and ``app.test_cli_runner()``) look a command up here just before running it,
    in the context that ends when the command has; the channel is set for that context.
    ``flask worker`` and ``flask tick`` are commands too, but their passes say "worker"
    (worker/runner.py), an inner setting that wins while it lasts.
    """

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None:
            ctx.with_resource(audit.using_channel(audit.Channel.CLI))
        return command


def install_audited_group(app: Flask) -> None:
    """Put an ``AuditedGroup`` in the place of Flask's ``app.cli``, keeping its commands
    (blueprints may have added some), and mark ``flask shell`` as "cli" too: it is Flask's
    command, not one of ``app.cli``, but it builds its namespace with the app's shell context
    processors in the thread the shell then runs in."""
    group = AuditedGroup(app.cli.name, commands=app.cli.commands)
    app.cli = group

    @app.shell_context_processor
    def shell_channel() -> dict[str, Any]:
        audit.set_channel(audit.Channel.CLI)  # for the rest of the shell session
        return {}


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Create the demo location, resources, tiers and accounts (safe to run again)."""
    # with_appcontext: `flask seed-demo` pushes an app context for any command, but
    # app.cli.main() and app.test_cli_runner() do so only for commands that ask for one.
    # Imported here: the demo content is only needed by this command, not by every app.
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
