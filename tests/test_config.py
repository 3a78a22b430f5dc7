"""Configuration: environment overlay, database URLs, the development secret, production checks.

No database here: apps are built but never connect, and the instance folder is a tmp_path.
"""

from __future__ import annotations

import os
import stat
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from config import ProductionConfig
from schiller40 import create_app, settings
from schiller40.extensions import db
from schiller40.settings import ConfigError

LONG_KEY = "k" * 24 + "-not-a-real-secret-0123456789"
PG_URL = "postgresql+psycopg://schiller40:pw@127.0.0.1:1/schiller40"  # nothing listens on :1
STRIPE_KEYS = {
    "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_PUBLISHABLE_KEY": "pk_live_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
}
GOOD_PRODUCTION = {
    "ENV_NAME": "production", "SECRET_KEY": LONG_KEY, "DATABASE_URL": PG_URL, **STRIPE_KEYS,
    "SMTP_HOST": "mail.example.org", "PUBLIC_URL": "https://booking.schiller40.example",
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Tests set the SCHILLER40_* variables they need; none leak in from the shell or CI."""
    for name in list(os.environ):
        if name.startswith("SCHILLER40_"):
            monkeypatch.delenv(name)


def load(tmp_path, config=None) -> Flask:
    app = Flask("config-test", instance_path=str(tmp_path))
    settings.load(app, config)
    return app


# --- production refuses unsafe settings ------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        pytest.param({"SECRET_KEY": None}, "SCHILLER40_SECRET_KEY is not set", id="no-key"),
        pytest.param({"SECRET_KEY": ""}, "SCHILLER40_SECRET_KEY is not set", id="empty-key"),
        pytest.param({"SECRET_KEY": "x" * 31}, "shorter than 32 characters", id="short-key"),
        pytest.param({"DATABASE_URL": "sqlite:////srv/schiller40.db"}, "points to SQLite",
                     id="sqlite"),
        pytest.param({"DATABASE_URL": ""}, "points to SQLite", id="default-is-sqlite"),
        pytest.param({"STRIPE_PUBLISHABLE_KEY": "", "STRIPE_WEBHOOK_SECRET": ""},
                     "Stripe is half configured", id="stripe-secret-only"),
        pytest.param({"STRIPE_WEBHOOK_SECRET": ""},
                     "SCHILLER40_STRIPE_WEBHOOK_SECRET missing", id="stripe-no-webhook-secret"),
        pytest.param({k: "" for k in STRIPE_KEYS}, "payments would be simulated",
                     id="no-stripe"),
        pytest.param({"SESSION_COOKIE_SECURE": False}, "SESSION_COOKIE_SECURE", id="http-cookie"),
        pytest.param({"WTF_CSRF_ENABLED": False}, "WTF_CSRF_ENABLED", id="no-csrf"),
        pytest.param({"AUTO_MIGRATE": True}, "AUTO_MIGRATE", id="auto-migrate"),
        pytest.param({"RATELIMIT_STORAGE_URI": "memory://"},
                     "SCHILLER40_RATELIMIT_STORAGE_URI is memory://", id="per-process-limits"),
    ],
)
def test_production_refuses_to_start(changes, problem):
    with pytest.raises(ConfigError) as exc_info:
        create_app({**GOOD_PRODUCTION, **changes})
    message = str(exc_info.value)
    assert message.startswith("Refusing to start in production:")
    assert problem in message
    assert len(message.splitlines()) == 2  # exactly one problem listed


def test_production_runs_with_memory_limits_only_when_limits_are_off(tmp_path):
    """Switching limits off is an explicit choice (it also ends the log-in lockout)."""
    app = load(tmp_path, {**GOOD_PRODUCTION, "RATELIMIT_STORAGE_URI": "memory://",
                          "RATELIMIT_ENABLED": False})
    assert app.config["RATELIMIT_ENABLED"] is False


def test_production_lists_every_problem_at_once():
    with pytest.raises(ConfigError) as exc_info:
        create_app({
            "ENV_NAME": "production", "SECRET_KEY": "", "DATABASE_URL": "",
            "STRIPE_PUBLISHABLE_KEY": "pk_live_x", "WTF_CSRF_ENABLED": False,
        })
    problems = str(exc_info.value).splitlines()[1:]
    assert len(problems) == 7
    assert all(p.startswith("  - ") for p in problems)
    text = "\n".join(problems)
    assert "SCHILLER40_RATELIMIT_STORAGE_URI is memory://" in text
    assert "SECRET_KEY is not set" in text
    assert "SQLite" in text
    assert "SCHILLER40_STRIPE_SECRET_KEY, SCHILLER40_STRIPE_WEBHOOK_SECRET missing" in text
    assert "WTF_CSRF_ENABLED" in text
    assert "SCHILLER40_SMTP_HOST" in text and "SCHILLER40_PUBLIC_URL" in text


def test_production_never_generates_a_secret(tmp_path):
    with pytest.raises(ConfigError):
        load(tmp_path, {**GOOD_PRODUCTION, "SECRET_KEY": None})
    assert not (tmp_path / "secret_key").exists()


def test_fully_configured_stripe_is_accepted(tmp_path):
    app = load(tmp_path, GOOD_PRODUCTION)
    assert app.config["STRIPE_WEBHOOK_SECRET"] == "whsec_x"
    assert app.config["PAYMENT_PROVIDER"] == "stripe"


def test_the_embedded_default_simulates_payments(tmp_path):
    assert load(tmp_path, {}).config["PAYMENT_PROVIDER"] == "simulated"
    assert load(tmp_path, {"STRIPE_SECRET_KEY": "sk_test_x"}).config["PAYMENT_PROVIDER"] == "stripe"
    forced = load(tmp_path, {"STRIPE_SECRET_KEY": "sk_test_x", "PAYMENT_GATEWAY": "simulated"})
    assert forced.config["PAYMENT_PROVIDER"] == "simulated"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"PAYMENT_GATEWAY": "paypal"}, "PAYMENT_GATEWAY='paypal' is unknown"),
        ({"PAYMENT_GATEWAY": "stripe"}, "needs SCHILLER40_STRIPE_SECRET_KEY"),
        ({"REFUND_POLICY": {"desk": [[24, 150]]}}, "is not [hours >= 0, percent 0..100]"),
        ({"REFUND_POLICY": {"boat": [[24, 100]]}}, "unknown resource kind 'boat'"),
        ({"REFUND_POLICY": [[24, 100]]}, "must map a resource kind"),
        ({"BOOKING_HOLD_MINUTES": 1441}, "must be a whole number from 1 to 1440"),
        ({"BOOKING_HOLD_MINUTES": 0}, "must be a whole number from 1 to 1440"),
        ({"BOOKING_HOLD_MINUTES": "30"}, "must be a whole number from 1 to 1440"),
        ({"STAFF_HOLD_HOURS": 25}, "STAFF_HOLD_HOURS=25 must be a whole number from 1 to 24"),
        ({"STAFF_HOLD_HOURS": 0}, "must be a whole number from 1 to 24"),
        ({"STAFF_HOLD_HOURS": True}, "must be a whole number from 1 to 24"),
        ({"WAITLIST_OFFER_MINUTES": "ten"}, "WAITLIST_OFFER_MINUTES='ten' must be a whole"),
        ({"WAITLIST_OFFER_MINUTES": -5}, "must be a whole number from 1 to 1440"),
    ],
)
def test_bad_payment_settings_stop_the_start(tmp_path, changes, problem):
    with pytest.raises(ConfigError) as exc_info:
        load(tmp_path, changes)
    assert problem in str(exc_info.value)


def test_the_refund_policy_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SCHILLER40_REFUND_POLICY", '{"studio": [[72, 100], [12, 25]]}')
    from schiller40.booking.settings import from_config
    from schiller40.resources.models import ResourceKind

    app = load(tmp_path)
    steps = from_config(app.config).refund_policy[ResourceKind.STUDIO]
    assert [(s.notice.total_seconds() / 3600, s.percent) for s in steps] == [(72, 100), (12, 25)]


@pytest.mark.parametrize("bad", [0, -1, "two", 1.5, True, None])
def test_a_bad_desk_limit_stops_the_start(tmp_path, bad):
    with pytest.raises(ConfigError) as exc_info:
        load(tmp_path, {"MAX_CONCURRENT_DESKS": bad})
    assert "SCHILLER40_MAX_CONCURRENT_DESKS=" in str(exc_info.value)
    assert "must be a whole number of at least 1" in str(exc_info.value)


def test_the_desk_limit_reaches_the_rules_from_the_environment(tmp_path, monkeypatch):
    from schiller40.booking.settings import from_config

    assert from_config(load(tmp_path).config).policy.max_concurrent_desks == 1
    monkeypatch.setenv("SCHILLER40_MAX_CONCURRENT_DESKS", "3")
    assert from_config(load(tmp_path).config).policy.max_concurrent_desks == 3


def test_a_good_production_config_starts_without_touching_the_database():
    connections = []

    def count(dbapi_connection, record):
        connections.append(dbapi_connection)

    event.listen(Engine, "connect", count)
    try:
        app = create_app(GOOD_PRODUCTION)
    finally:
        event.remove(Engine, "connect", count)
    assert connections == []  # and nothing listens on port 1, so a connection would have failed
    assert app.config["ENV_NAME"] == "production"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["PREFERRED_URL_SCHEME"] == "https"
    assert app.config["AUTO_MIGRATE"] is False
    assert app.config["SECRET_KEY"] == LONG_KEY
    assert not app.testing
    with app.app_context():
        assert db.engine.url.drivername == "postgresql+psycopg"
        assert db.engine.url.port == 1


def test_a_config_class_is_used_as_is(tmp_path, monkeypatch):
    """``create_app(ProductionConfig)`` skips the ENV choice but still reads the environment."""
    monkeypatch.setenv("SCHILLER40_ENV", "development")
    monkeypatch.setenv("SCHILLER40_SECRET_KEY", LONG_KEY)
    monkeypatch.setenv("SCHILLER40_DATABASE_URL", "postgres://u@db.example/s")
    for key, value in STRIPE_KEYS.items():
        monkeypatch.setenv(f"SCHILLER40_{key}", value)
    monkeypatch.setenv("SCHILLER40_SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("SCHILLER40_PUBLIC_URL", "https://booking.schiller40.example")
    monkeypatch.setenv("SCHILLER40_RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/0")
    app = load(tmp_path, ProductionConfig)
    assert app.config["ENV_NAME"] == "production"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/s"


# --- database URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db.example:5432/s40", "postgresql+psycopg://u:p@db.example:5432/s40"),
        ("postgresql://u:p@db.example/s40", "postgresql+psycopg://u:p@db.example/s40"),
        ("postgresql+psycopg://u@db.example/s40", "postgresql+psycopg://u@db.example/s40"),
        ("sqlite:////srv/s40.db", "sqlite:////srv/s40.db"),
    ],
)
def test_database_urls_are_rewritten_for_psycopg3(tmp_path, given, expected):
    app = load(tmp_path, {"ENV_NAME": "development", "DATABASE_URL": given})
    assert app.config["DATABASE_URL"] == expected
    assert app.config["SQLALCHEMY_DATABASE_URI"] == expected


def test_postgres_url_with_postgres_in_the_password_is_only_rewritten_at_the_start(tmp_path):
    app = load(tmp_path, {"ENV_NAME": "development",
                          "DATABASE_URL": "postgres://u:postgres://x@db.example/s"})
    assert app.config["DATABASE_URL"] == "postgresql+psycopg://u:postgres://x@db.example/s"


def test_no_url_means_sqlite_in_the_instance_folder(tmp_path):
    app = load(tmp_path, {"ENV_NAME": "development"})
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'schiller40.db'}"
    # SQLite waits for a lock instead of failing at once, and may be shared across threads.
    connect_args = app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]
    assert connect_args == {"timeout": 60, "check_same_thread": False}
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True


def test_postgresql_gets_no_sqlite_connect_args(tmp_path):
    app = load(tmp_path, {"ENV_NAME": "development", "DATABASE_URL": PG_URL})
    # Nothing for the driver (a URL's own ``options`` reach it untouched); the lock timeout
    # is an engine execution option that each write transaction applies with SET LOCAL.
    assert "connect_args" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["execution_options"] == {
        "schiller40_lock_timeout_ms": 10_000}
    assert "pool_timeout" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]


def _waits(app: Flask) -> tuple[int, float]:
    """(SQLite's busy timeout in ms, the pool's timeout in s) of the app's own engine."""
    with app.app_context():
        busy = db.session.execute(db.text("PRAGMA busy_timeout")).scalar_one()
        db.session.rollback()
        return busy, db.engine.pool.timeout()


def test_sqlite_waits_a_minute_for_the_lock_and_for_a_connection(tmp_path):
    """Issue 17: under heavy load 32 racing requests waited longer than the 30 s SQLite
    used to wait, and the last were answered 503. A minute by default; more when set; the
    pool waits as long as the lock."""
    url = f"sqlite:///{tmp_path / 'waits.db'}"
    assert _waits(create_app({"ENV_NAME": "testing", "DATABASE_URL": url})) == (60_000, 60)
    longer = create_app({"ENV_NAME": "testing", "DATABASE_URL": url,
                         "SQLITE_BUSY_TIMEOUT_SECONDS": 240})
    assert _waits(longer) == (240_000, 240)
    memory = load(tmp_path, {"ENV_NAME": "testing", "DATABASE_URL": "sqlite://"})
    assert "pool_timeout" not in memory.config["SQLALCHEMY_ENGINE_OPTIONS"]  # one connection


def test_any_sqlite_engine_waits_at_least_30_seconds(tmp_path):
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'other.db'}")  # the driver's 5 s
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA busy_timeout")).scalar_one() == 30_000
    engine.dispose()


@pytest.mark.parametrize("seconds", [29, 3601, "60", True, None])
def test_a_bad_sqlite_busy_timeout_stops_the_start(tmp_path, seconds):
    with pytest.raises(ConfigError) as exc_info:
        load(tmp_path, {"ENV_NAME": "development", "SQLITE_BUSY_TIMEOUT_SECONDS": seconds})
    assert "SCHILLER40_SQLITE_BUSY_TIMEOUT_SECONDS" in str(exc_info.value)


# --- the development secret ------------------------------------------------------------------


def test_instance_secret_is_generated_once_and_kept(tmp_path):
    path = tmp_path / "secret_key"
    first = settings._instance_secret(path)
    assert len(first) >= 48
    assert path.read_text() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # readable by the owner only
    assert settings._instance_secret(path) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]  # no temp files left


def test_instance_secrets_differ_between_instances(tmp_path):
    assert settings._instance_secret(tmp_path / "a") != settings._instance_secret(tmp_path / "b")


def test_instance_secret_written_by_a_process_started_alongside_wins(tmp_path, monkeypatch):
    """Two workers start together: the second finds the file appearing while it generates its
    own key. It must use the first one's key (sessions work on both), not crash."""
    path = tmp_path / "secret_key"
    real_token = settings.secrets.token_urlsafe

    def rival_writes_first(n):
        if not path.exists():
            path.write_text("the-other-workers-key")
        return real_token(n)

    monkeypatch.setattr(settings.secrets, "token_urlsafe", rival_writes_first)
    assert settings._instance_secret(path) == "the-other-workers-key"
    assert path.read_text() == "the-other-workers-key"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]


def test_an_empty_secret_file_is_refused(tmp_path):
    (tmp_path / "secret_key").write_text("\n")
    with pytest.raises(ConfigError, match="is empty; delete it"):
        settings._instance_secret(tmp_path / "secret_key")


def test_development_uses_the_instance_secret(tmp_path):
    first = load(tmp_path, {"ENV_NAME": "development"})
    key = (tmp_path / "secret_key").read_text()
    assert first.config["SECRET_KEY"] == key
    second = load(tmp_path, {"ENV_NAME": "development"})
    assert second.config["SECRET_KEY"] == key


def test_a_given_secret_is_used_and_nothing_is_written(tmp_path):
    app = load(tmp_path, {"ENV_NAME": "development", "SECRET_KEY": "from-the-operator"})
    assert app.config["SECRET_KEY"] == "from-the-operator"
    assert not (tmp_path / "secret_key").exists()


# --- choosing the environment ----------------------------------------------------------------


def test_development_is_the_default(tmp_path):
    app = load(tmp_path)
    assert app.config["ENV_NAME"] == "development"
    assert app.config["AUTO_MIGRATE"] is True
    assert app.config["WTF_CSRF_ENABLED"] is True


@pytest.mark.parametrize("name", ["staging", "Production", "prod", " production"])
def test_unknown_environment_is_refused(tmp_path, monkeypatch, name):
    monkeypatch.setenv("SCHILLER40_ENV", name)
    with pytest.raises(ConfigError) as exc_info:
        load(tmp_path)
    assert repr(name) in str(exc_info.value)
    assert "development, testing, production" in str(exc_info.value)


def test_unknown_env_name_in_overrides_is_refused(tmp_path):
    with pytest.raises(ConfigError):
        load(tmp_path, {"ENV_NAME": "staging"})


def test_schiller40_env_selects_production(tmp_path, monkeypatch):
    monkeypatch.setenv("SCHILLER40_ENV", "production")
    monkeypatch.setenv("SCHILLER40_SECRET_KEY", LONG_KEY)
    monkeypatch.setenv("SCHILLER40_DATABASE_URL", "postgres://u@db.example/s")
    for key, value in STRIPE_KEYS.items():
        monkeypatch.setenv(f"SCHILLER40_{key}", value)
    monkeypatch.setenv("SCHILLER40_SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("SCHILLER40_PUBLIC_URL", "https://booking.schiller40.example")
    monkeypatch.setenv("SCHILLER40_RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/0")
    app = load(tmp_path)
    assert app.config["ENV_NAME"] == "production"
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"
    assert app.config["SECRET_KEY"] == LONG_KEY
    assert app.config["DATABASE_URL"] == "postgresql+psycopg://u@db.example/s"


def test_schiller40_env_in_production_still_checks(tmp_path, monkeypatch):
    monkeypatch.setenv("SCHILLER40_ENV", "production")
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        load(tmp_path)


# --- SCHILLER40_* variables ------------------------------------------------------------------


def test_environment_variables_are_applied(tmp_path, monkeypatch):
    monkeypatch.setenv("SCHILLER40_PUBLIC_URL", "https://buchen.schiller40.example")
    monkeypatch.setenv("SCHILLER40_MAX_CONTENT_LENGTH", "2048")
    monkeypatch.setenv("SCHILLER40_AUTO_MIGRATE", "false")
    monkeypatch.setenv("SCHILLER40_LANGUAGES", '["de"]')
    app = load(tmp_path, {"ENV_NAME": "development"})
    assert app.config["PUBLIC_URL"] == "https://buchen.schiller40.example"
    assert app.config["MAX_CONTENT_LENGTH"] == 2048
    assert app.config["AUTO_MIGRATE"] is False
    assert app.config["LANGUAGES"] == ["de"]


def test_explicit_overrides_beat_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SCHILLER40_PUBLIC_URL", "https://from-env.example")
    app = load(tmp_path, {"ENV_NAME": "development", "PUBLIC_URL": "https://given.example"})
    assert app.config["PUBLIC_URL"] == "https://given.example"


def test_testing_ignores_the_environment(tmp_path, monkeypatch):
    """A developer's shell (say, a production DATABASE_URL) must never reach the test apps."""
    monkeypatch.setenv("SCHILLER40_DATABASE_URL", "postgresql://prod.example/live")
    monkeypatch.setenv("SCHILLER40_WTF_CSRF_ENABLED", "true")
    app = load(tmp_path, {"ENV_NAME": "testing"})
    assert app.config["DATABASE_URL"].startswith("sqlite:///")
    assert app.config["WTF_CSRF_ENABLED"] is False
    assert app.config["SECRET_KEY"] == "testing-only-not-secret"


@pytest.mark.parametrize(
    "secret",
    ["1234567890123456789012345678901234567890", '"quoted-secret-of-enough-length-1234"', "true"],
)
def test_text_settings_are_taken_verbatim(tmp_path, monkeypatch, secret):
    """``from_prefixed_env`` parses JSON; a secret that happens to be a number, a quoted
    string or a boolean must still be exactly what the operator set."""
    monkeypatch.setenv("SCHILLER40_SECRET_KEY", secret)
    monkeypatch.setenv("SCHILLER40_STRIPE_SECRET_KEY", "12345")
    app = load(tmp_path, {"ENV_NAME": "development"})
    assert app.config["SECRET_KEY"] == secret
    assert app.config["STRIPE_SECRET_KEY"] == "12345"


def test_numeric_production_secret_is_checked_not_crashed_on(tmp_path, monkeypatch):
    monkeypatch.setenv("SCHILLER40_ENV", "production")
    monkeypatch.setenv("SCHILLER40_DATABASE_URL", PG_URL)
    monkeypatch.setenv("SCHILLER40_SECRET_KEY", "12345")
    with pytest.raises(ConfigError, match="shorter than 32 characters"):
        load(tmp_path)


# --- mail and worker settings --------------------------------------------------------------


def test_mail_goes_to_a_folder_without_an_smtp_host(tmp_path):
    app = load(tmp_path, {"ENV_NAME": "development"})
    assert app.config["MAIL_PROVIDER"] == "folder"
    assert app.config["MAIL_FOLDER"] == str(tmp_path / "mail")


def test_smtp_settings_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SCHILLER40_SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("SCHILLER40_SMTP_PORT", "465")
    monkeypatch.setenv("SCHILLER40_SMTP_SECURITY", "tls")
    monkeypatch.setenv("SCHILLER40_SMTP_PASSWORD", "123456")  # digits stay text
    app = load(tmp_path)
    assert app.config["MAIL_PROVIDER"] == "smtp"
    assert (app.config["SMTP_PORT"], app.config["SMTP_PASSWORD"]) == (465, "123456")


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"MAIL_BACKEND": "pigeon"}, "SCHILLER40_MAIL_BACKEND='pigeon' is unknown"),
        ({"MAIL_BACKEND": "smtp"}, "needs SCHILLER40_SMTP_HOST"),
        ({"SMTP_SECURITY": "ssl"}, "SCHILLER40_SMTP_SECURITY='ssl' is unknown"),
        ({"MAIL_SENDER": "nobody"}, "SCHILLER40_MAIL_SENDER='nobody' is not an address"),
        ({"STAFF_EMAIL": "studio team"}, "SCHILLER40_STAFF_EMAIL='studio team' is not an"),
        ({"SMTP_PORT": 0}, "SCHILLER40_SMTP_PORT=0 must be a whole number from 1 to 65535"),
        ({"OUTBOX_MAX_ATTEMPTS": "8"}, "SCHILLER40_OUTBOX_MAX_ATTEMPTS='8'"),
        ({"CHECKIN_GRACE_MINUTES": True}, "SCHILLER40_CHECKIN_GRACE_MINUTES=True"),
        ({"REMINDER_HOUR": 24}, "SCHILLER40_REMINDER_HOUR=24"),
        ({"OUTBOX_LEASE_SECONDS": 20}, "SCHILLER40_OUTBOX_LEASE_SECONDS=20 must be longer"),
    ],
)
def test_bad_mail_and_worker_settings_are_refused_at_start(tmp_path, changes, problem):
    with pytest.raises(ConfigError) as exc_info:
        load(tmp_path, {"ENV_NAME": "development", **changes})
    assert problem in str(exc_info.value)


def test_the_staff_address_is_optional_and_kept_verbatim(tmp_path, monkeypatch):
    assert load(tmp_path, {"ENV_NAME": "development"}).config["STAFF_EMAIL"] == ""
    monkeypatch.setenv("SCHILLER40_STAFF_EMAIL", '"Studio-Team" <studio@example.org>')
    assert load(tmp_path).config["STAFF_EMAIL"] == '"Studio-Team" <studio@example.org>'


def test_an_smtp_ca_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match=r"SCHILLER40_SMTP_CA_FILE='/no/such/ca\.pem'"):
        load(tmp_path, {"ENV_NAME": "development", "SMTP_CA_FILE": "/no/such/ca.pem"})
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert load(tmp_path, {"ENV_NAME": "development", "SMTP_CA_FILE": str(ca)}).config[
        "SMTP_CA_FILE"] == str(ca)


# --- HSTS --------------------------------------------------------------------------------------


def test_hsts_is_a_year_in_production_and_off_elsewhere(tmp_path):
    """The header itself, on every answer, is checked in tests/security."""
    assert load(tmp_path, GOOD_PRODUCTION).config["HSTS_SECONDS"] == 365 * 24 * 3600
    assert load(tmp_path, {"ENV_NAME": "development"}).config["HSTS_SECONDS"] == 0


@pytest.mark.parametrize("value", [-1, "31536000", True, 2 * 365 * 86400 + 1])
def test_a_bad_hsts_max_age_stops_the_start(tmp_path, value):
    with pytest.raises(ConfigError, match=r"SCHILLER40_HSTS_SECONDS=.* must be a whole number"):
        load(tmp_path, {"ENV_NAME": "development", "HSTS_SECONDS": value})


def test_the_feed_cache_holds_16_megabytes_unless_told_otherwise(tmp_path):
    assert load(tmp_path, {"ENV_NAME": "development"}).config["FEED_CACHE_MB"] == 16
    assert load(tmp_path, {"ENV_NAME": "development", "FEED_CACHE_MB": 0}).config[
        "FEED_CACHE_MB"] == 0


@pytest.mark.parametrize("value", [-1, "16", True, 1025, 1.5])
def test_a_bad_feed_cache_size_stops_the_start(tmp_path, value):
    with pytest.raises(ConfigError, match=r"SCHILLER40_FEED_CACHE_MB=.* must be a whole number"):
        load(tmp_path, {"ENV_NAME": "development", "FEED_CACHE_MB": value})


@pytest.mark.parametrize("seconds", [0, 601, "10", True, None, 2.5])
def test_a_bad_lock_timeout_stops_the_start(tmp_path, seconds):
    with pytest.raises(ConfigError) as exc_info:
        load(tmp_path, {"ENV_NAME": "development", "LOCK_TIMEOUT_SECONDS": seconds,
                        "DATABASE_URL": "postgresql://localhost/unused"})
    assert "SCHILLER40_LOCK_TIMEOUT_SECONDS" in str(exc_info.value)


def test_the_lock_timeout_joins_execution_options_the_operator_set(tmp_path):
    app = load(tmp_path, {
        "ENV_NAME": "development", "DATABASE_URL": "postgres://localhost/unused?options=-c%20search_path%3Ds40",
        "LOCK_TIMEOUT_SECONDS": 3,
        "SQLALCHEMY_ENGINE_OPTIONS": {"execution_options": {"logging_token": "s40"}},
    })
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["execution_options"] == {"logging_token": "s40",
                                            "schiller40_lock_timeout_ms": 3000}
    assert "connect_args" not in options  # the URL's options=... stays the driver's alone


@pytest.mark.parametrize("url", ["booking.schiller40.de", "ftp://x", "https://", "/path"])
def test_public_url_must_be_absolute_http(url):
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        create_app({"ENV_NAME": "testing", "DATABASE_URL": "sqlite://", "PUBLIC_URL": url})


def test_booking_settings_are_built_once_per_app(tmp_path):
    """Every page, job and command hands its use case the one settings object the app built
    at start-up from its checked config; two apps in one process keep their own."""
    from schiller40.booking.settings import current_settings

    url = f"sqlite:///{tmp_path / 'once.db'}"
    seven = create_app({"ENV_NAME": "testing", "DATABASE_URL": url, "VAT_RATE_PERCENT": 7,
                        "CHECKIN_GRACE_MINUTES": 45})
    standard = create_app({"ENV_NAME": "testing", "DATABASE_URL": url})
    with seven.app_context():
        first = current_settings()
        assert current_settings() is first
        assert (first.policy.vat_percent, first.checkin_grace) == (7, timedelta(minutes=45))
    with standard.app_context():
        assert current_settings().policy.vat_percent == 19
        assert current_settings().checkin_grace == timedelta(minutes=90)
