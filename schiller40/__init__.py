"""Schiller40 booking: the application factory."""

from __future__ import annotations

import fcntl
import hmac
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from flask_babel import lazy_gettext as _l
from flask_migrate import upgrade
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Config

from . import errors, settings, templating
from . import models as _models  # noqa: F401  (every table registered before anything queries)
from .accounts.cli import users_cli
from .accounts.models import User
from .accounts.views import bp as accounts_bp
from .api.blueprint import bp as api_bp
from .billing import webhooks as billing_webhooks
from .booking import settings as booking_settings
from .booking.views import bp as booking_bp
from .cli import install_audited_group, seed_demo_command, translations_cli
from .core import audit, bytecache, forksafe, logs
from .core import sqlite as _sqlite  # noqa: F401  (registers the SQLite connection hooks)
from .core.routing import IdConverter
from .core.time import Clock, utcnow
from .extensions import babel, csrf, db, limiter, login_manager, migrate
from .feeds.views import bp as feeds_bp
from .i18n import check_catalogs, select_locale
from .mail.views import bp as devmail_bp
from .main.health import bp as health_bp
from .main.views import bp as main_bp
from .members import membership_change_pages as _membership_changes  # noqa: F401  (its routes)
from .members.account_pages import bp as account_bp
from .members.booking_pages import bp as bookings_bp
from .members.company_pages import bp as company_bp
from .members.membership_pages import bp as membership_bp
from .members.subscription_pages import bp as subscriptions_bp
from .payments import setup as payments_setup
from .payments.cli import payments_cli
from .payments.views import bp as payments_bp
from .payments.webhooks import bp as webhooks_bp
from .resources.cli import resources_cli
from .staff import bp as staff_bp
from .worker import embedded
from .worker.cli import tick_command, worker_command

PACKAGE_DIR = Path(__file__).resolve().parent
# templates/, static/ and migrations/ sit at the top of the repository, beside the package;
# a wheel carries them inside the package (setup.py puts them there), so that an installed
# app needs nothing from the checkout.
BUNDLED = (PACKAGE_DIR / "templates").is_dir()
PROJECT_ROOT = PACKAGE_DIR if BUNDLED else PACKAGE_DIR.parent
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
# A checkout keeps its instance folder (SQLite file, development secret, mail) at its top;
# an installed app uses Flask's default for installed packages, <prefix>/var/schiller40-instance
# (never a folder inside site-packages).
INSTANCE_DIR = None if BUNDLED else PACKAGE_DIR.parent / "instance"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def create_app(
    config: type[Config] | Mapping[str, Any] | None = None, *, clock: Clock | None = None
) -> Flask:
    """Build an app. ``config`` is a Config class or a mapping of overrides; ``clock`` lets
    tests and simulations decide what "now" is (services receive it as an argument)."""
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(INSTANCE_DIR) if INSTANCE_DIR else None,
    )
    settings.load(app, config)
    booking_settings.install(app)
    app.extensions["schiller40.clock"] = clock or utcnow
    logs.configure(app)
    check_catalogs(app)

    db.init_app(app)
    forksafe.track(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    _init_login(app)
    errors.init_app(app)
    _init_request_hooks(app)
    _register_blueprints(app)
    payments_setup.init_app(app)
    billing_webhooks.init_app(app)  # subscription events, before the payments' handler
    bytecache.init_app(app)
    embedded.init_app(app)
    _register_cli(app)
    templating.install(app)

    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_prefix=proxies
        )

    if app.config["AUTO_MIGRATE"]:
        _auto_migrate(app)
    # Last: gunicorn's master forks its workers from this app (preload_app), and no
    # connection that start-up work opened may be inherited by them (core/forksafe.py).
    forksafe.close_pooled_connections(app)
    return app


def _init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"
    # "basic", not "strong": strong drops the session and the remember-me cookie whenever
    # the client's address changes (every phone moving between mobile data and Wi-Fi), and
    # the address it compares can be spoofed with X-Forwarded-For anyway.
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        """The account behind a session, while its password is the one it logged in with
        (``User.get_id``). Anything else, including a bare id, is no session."""
        user_id, _, fingerprint = session_id.partition(":")
        if not user_id.isdigit() or len(user_id) > 10 or not fingerprint:
            return None
        user = db.session.get(User, int(user_id))
        if user is None or not hmac.compare_digest(fingerprint, user.session_fingerprint()):
            return None
        return user


def _init_request_hooks(app: Flask) -> None:
    hsts_seconds = int(app.config["HSTS_SECONDS"])

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)

    @app.before_request
    def audit_channel() -> None:
        # What a request changes came in on the web; the API blueprint says "api" instead.
        g.audit_channel = audit.set_channel(audit.Channel.WEB)

    @app.teardown_request
    def reset_audit_channel(_exc: BaseException | None) -> None:
        token = g.pop("audit_channel", None)
        if token is not None:  # None: an earlier hook answered before ours ran
            audit.reset_channel(token)

    @app.after_request
    def baseline_headers(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'self'",
        )
        if hsts_seconds:
            response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts_seconds}")
        return response


def _register_blueprints(app: Flask) -> None:
    """docs/architecture.md ("URL map") says which module holds which URLs, on which
    blueprint; tests/test_url_map.py holds the app to it."""
    app.url_map.converters["id"] = IdConverter
    app.register_blueprint(main_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(feeds_bp)
    app.register_blueprint(booking_bp)
    app.register_blueprint(payments_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(membership_bp)
    app.register_blueprint(bookings_bp)
    app.register_blueprint(company_bp)
    app.register_blueprint(subscriptions_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(devmail_bp)


def _register_cli(app: Flask) -> None:
    install_audited_group(app)  # first: every command of app.cli is audited as "cli"
    app.cli.add_command(users_cli)
    app.cli.add_command(resources_cli)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(translations_cli)
    app.cli.add_command(payments_cli)
    app.cli.add_command(tick_command)
    app.cli.add_command(worker_command)


def _auto_migrate(app: Flask) -> None:
    """Bring the embedded database to the newest schema on start (development only).

    A file lock keeps two processes started together (say, a reloader and its child) from
    migrating at once.
    """
    lock_path = Path(app.instance_path) / "migrate.lock"
    with lock_path.open("w") as lock, app.app_context():
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            upgrade(directory=str(MIGRATIONS_DIR))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
