"""Turning configuration classes and the environment into a checked app config."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.engine import make_url

from config import CONFIGS, Config

from .core.locking import LOCK_TIMEOUT_OPTION
from .core.sqlite import MIN_BUSY_SECONDS
from .payments.states import parse_policy


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the message lists every problem found."""


def load(app: Flask, config: type[Config] | Mapping[str, Any] | None) -> None:
    """Fill ``app.config``: class defaults, then ``SCHILLER40_*`` variables, then ``config``."""
    overrides: Mapping[str, Any] = {}
    if isinstance(config, type):
        base = config
    else:
        overrides = config or {}
        env_name = str(
            overrides.get("ENV_NAME") or os.environ.get("SCHILLER40_ENV") or "development"
        )
        if env_name not in CONFIGS:
            raise ConfigError(
                f"SCHILLER40_ENV={env_name!r} is unknown; use one of {', '.join(CONFIGS)}"
            )
        base = CONFIGS[env_name]
    app.config.from_object(base)
    if not app.config.get("TESTING"):
        app.config.from_prefixed_env("SCHILLER40")
        _keep_strings_verbatim(app)
    app.config.update(overrides)
    _resolve(app)
    if app.config["ENV_NAME"] == "production":
        check_production(app.config)


# Settings that are text whatever they look like. ``from_prefixed_env`` reads every value as
# JSON when it can, so a secret of digits became an int (and the production check crashed on
# len()), and one in double quotes silently lost them.
STRING_SETTINGS = (
    "SECRET_KEY",
    "DATABASE_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_PUBLISHABLE_KEY",
    "SEPA_CREDITOR_ID",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "PUBLIC_URL",
    "SMTP_HOST",
    "SMTP_USER",
    "SMTP_PASSWORD",
    "MAIL_SENDER",
    "STAFF_EMAIL",
    "MAIL_FOLDER",
    "SMTP_CA_FILE",
    "LOG_FORMAT",
    "RATELIMIT_STORAGE_URI",
)


def _keep_strings_verbatim(app: Flask) -> None:
    for key in STRING_SETTINGS:
        raw = os.environ.get(f"SCHILLER40_{key}")
        if raw is not None:
            app.config[key] = raw


def _resolve(app: Flask) -> None:
    cfg = app.config
    public = str(cfg.get("PUBLIC_URL") or "")
    if public and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", public):
        raise ConfigError(
            f"SCHILLER40_PUBLIC_URL={public!r} must be an absolute http(s) URL, "
            "e.g. https://booking.schiller40.de"
        )
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)

    url = str(cfg.get("DATABASE_URL") or "")
    if not url:
        url = f"sqlite:///{instance / 'schiller40.db'}"
    # Heroku-style URLs and bare "postgresql://" would pick psycopg2, which we do not ship.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    cfg["DATABASE_URL"] = url
    cfg["SQLALCHEMY_DATABASE_URI"] = url
    if url.startswith("sqlite"):
        _sqlite_waits(cfg, url)
    elif url.startswith("postgresql"):
        _postgresql_waits(cfg)

    _resolve_payments(cfg)
    _resolve_booking(cfg)
    _resolve_billing(cfg)
    _resolve_mail(cfg, instance)
    _resolve_operations(cfg)

    if not cfg.get("SECRET_KEY") and cfg["ENV_NAME"] != "production":
        cfg["SECRET_KEY"] = _instance_secret(instance / "secret_key")


def _sqlite_waits(cfg: dict[str, Any], url: str) -> None:
    """Waiting for the write lock (or a pooled connection) beats failing at once when many
    requests write together: both waits last ``SQLITE_BUSY_TIMEOUT_SECONDS``. The driver's
    ``timeout`` is SQLite's busy timeout (core/sqlite.py never lowers it)."""
    seconds = cfg.get("SQLITE_BUSY_TIMEOUT_SECONDS")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not (
        MIN_BUSY_SECONDS <= seconds <= 3600
    ):
        raise ConfigError(
            f"SCHILLER40_SQLITE_BUSY_TIMEOUT_SECONDS={seconds!r} must be a number of seconds "
            f"from {MIN_BUSY_SECONDS} to 3600"
        )
    options = dict(cfg.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    options["connect_args"] = {
        "timeout": float(seconds), "check_same_thread": False,
        **(options.get("connect_args") or {}),
    }
    database = make_url(url).database or ""
    if database and database != ":memory:" and "mode=memory" not in url:
        # A file database gets a queue pool (an in-memory one a single connection, which has
        # no timeout to set).
        options.setdefault("pool_timeout", float(seconds))
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _postgresql_waits(cfg: dict[str, Any]) -> None:
    """How long a PostgreSQL write transaction waits for a row lock: an engine execution
    option that ``core.locking`` turns into ``SET LOCAL lock_timeout`` at the start of each
    write transaction (see there why not a connection parameter)."""
    seconds = cfg.get("LOCK_TIMEOUT_SECONDS")
    if not _whole(seconds, 1, 600):
        raise ConfigError(
            f"SCHILLER40_LOCK_TIMEOUT_SECONDS={seconds!r} must be a whole number of seconds "
            "from 1 to 600"
        )
    options = dict(cfg.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    options["execution_options"] = {
        **(options.get("execution_options") or {}), LOCK_TIMEOUT_OPTION: int(seconds) * 1000,
    }
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _resolve_payments(cfg: dict[str, Any]) -> None:
    """Pick the gateway (``PAYMENT_PROVIDER``) and check the refund policy at start-up, so
    a typo is a clear error now rather than a 500 on the first cancellation."""
    choice = str(cfg.get("PAYMENT_GATEWAY") or "auto")
    if choice == "auto":
        provider = "stripe" if cfg.get("STRIPE_SECRET_KEY") else "simulated"
    elif choice in ("stripe", "simulated"):
        provider = choice
    else:
        raise ConfigError(
            f"SCHILLER40_PAYMENT_GATEWAY={choice!r} is unknown; use auto, stripe or simulated"
        )
    if provider == "stripe" and not cfg.get("STRIPE_SECRET_KEY"):
        raise ConfigError("SCHILLER40_PAYMENT_GATEWAY=stripe needs SCHILLER40_STRIPE_SECRET_KEY")
    cfg["PAYMENT_PROVIDER"] = provider
    # Stripe keeps a checkout open for 24 hours at most, so a longer hold could never be
    # paid; a waitlist offer beyond a day would block the slot longer than a hold may.
    for key in ("BOOKING_HOLD_MINUTES", "WAITLIST_OFFER_MINUTES"):
        minutes = cfg.get(key)
        if not _whole(minutes, 1, 24 * 60):
            raise ConfigError(
                f"SCHILLER40_{key}={minutes!r} must be a whole number from 1 to 1440"
            )
    # A member booked for by staff pays from the mail; the checkout it opens must still fit
    # in Stripe's 24 hours, so the hold is whole hours from 1 to 24.
    hours = cfg.get("STAFF_HOLD_HOURS")
    if not _whole(hours, 1, 24):
        raise ConfigError(
            f"SCHILLER40_STAFF_HOLD_HOURS={hours!r} must be a whole number from 1 to 24"
        )
    # Every amount is taken, shown and charged in this currency. Only euros are supported: the
    # forms read amounts in euros and the prices are set in them; any other value would be
    # ignored in places, so it stops the start instead.
    if cfg.get("CURRENCY") != "EUR":
        raise ConfigError(
            f"SCHILLER40_CURRENCY={cfg.get('CURRENCY')!r} is not supported; use EUR"
        )
    try:
        parse_policy(cfg.get("REFUND_POLICY"))
    except ValueError as exc:
        raise ConfigError(f"SCHILLER40_{exc}") from None


def _whole(value: Any, low: int, high: int | None = None) -> bool:
    """A whole number from ``low`` to ``high`` (inclusive; no upper bound without one). A bool
    is an int in Python, but ``true`` is no number of minutes: refused."""
    return (
        isinstance(value, int) and not isinstance(value, bool)
        and value >= low and (high is None or value <= high)
    )


def _resolve_booking(cfg: dict[str, Any]) -> None:
    """Check the booking rules' settings at start-up (the rules trust them)."""
    desks = cfg.get("MAX_CONCURRENT_DESKS")
    if not _whole(desks, 1):
        raise ConfigError(
            f"SCHILLER40_MAX_CONCURRENT_DESKS={desks!r} must be a whole number of at least 1"
        )
    # Prices are gross; every net/tax split, page, mail and checkout line uses this one rate.
    vat = cfg.get("VAT_RATE_PERCENT")
    if not _whole(vat, 0, 100):
        raise ConfigError(
            f"SCHILLER40_VAT_RATE_PERCENT={vat!r} must be a whole number from 0 to 100"
        )


def _resolve_billing(cfg: dict[str, Any]) -> None:
    """Check the monthly fees' settings: the dunning timeline (retries on days 3, 5 and 7
    must fall within the grace) and the SEPA creditor identifier."""
    grace = cfg.get("DUNNING_GRACE_DAYS")
    if not _whole(grace, 8, 90):
        raise ConfigError(
            f"SCHILLER40_DUNNING_GRACE_DAYS={grace!r} must be a whole number from 8 to 90"
        )
    end = cfg.get("DUNNING_END_DAYS")
    if not _whole(end, 1, 365):
        raise ConfigError(
            f"SCHILLER40_DUNNING_END_DAYS={end!r} must be a whole number from 1 to 365"
        )
    notice = cfg.get("BILLING_NOTICE_DAYS")
    if not _whole(notice, 1, 14):
        raise ConfigError(
            f"SCHILLER40_BILLING_NOTICE_DAYS={notice!r} must be a whole number from 1 to 14"
        )
    creditor = cfg.get("SEPA_CREDITOR_ID")
    if creditor:
        from stdnum.eu import at_02

        if not isinstance(creditor, str) or not at_02.is_valid(creditor):
            raise ConfigError(
                f"SCHILLER40_SEPA_CREDITOR_ID={creditor!r} is not a valid SEPA creditor "
                "identifier (e.g. DE98ZZZ09999999999)"
            )
        cfg["SEPA_CREDITOR_ID"] = at_02.compact(creditor)


def _resolve_mail(cfg: dict[str, Any], instance: Path) -> None:
    """Pick the mail backend and check the SMTP and worker settings at start-up."""
    choice = str(cfg.get("MAIL_BACKEND") or "auto")
    if choice == "auto":
        provider = "smtp" if cfg.get("SMTP_HOST") else "folder"
    elif choice in ("smtp", "folder"):
        provider = choice
    else:
        raise ConfigError(
            f"SCHILLER40_MAIL_BACKEND={choice!r} is unknown; use auto, smtp or folder"
        )
    if provider == "smtp" and not cfg.get("SMTP_HOST"):
        raise ConfigError("SCHILLER40_MAIL_BACKEND=smtp needs SCHILLER40_SMTP_HOST")
    cfg["MAIL_PROVIDER"] = provider
    if str(cfg.get("SMTP_SECURITY")) not in ("starttls", "tls", "none"):
        raise ConfigError(
            f"SCHILLER40_SMTP_SECURITY={cfg.get('SMTP_SECURITY')!r} is unknown; "
            "use starttls, tls or none"
        )

    def is_address(value: object) -> bool:
        _name, address = parseaddr(str(value or ""))
        try:
            Address(addr_spec=address)
        except (ValueError, IndexError):
            return False
        return "@" in address

    if not is_address(cfg.get("MAIL_SENDER")):
        raise ConfigError(
            f"SCHILLER40_MAIL_SENDER={cfg.get('MAIL_SENDER')!r} is not an address like "
            "'Schiller40 <buchung@example.org>'"
        )
    # Empty: no mail to staff. Anything else must be an address, or the mail meant for
    # staff would fail at every try and nobody would notice.
    if str(cfg.get("STAFF_EMAIL") or "").strip() and not is_address(cfg.get("STAFF_EMAIL")):
        raise ConfigError(
            f"SCHILLER40_STAFF_EMAIL={cfg.get('STAFF_EMAIL')!r} is not an address like "
            "'Studio-Team <studio@example.org>'"
        )
    for key, low, high in (
        ("SMTP_PORT", 1, 65535),
        ("SMTP_TIMEOUT_SECONDS", 1, 300),
        ("WORKER_INTERVAL_SECONDS", 1, 3600),
        ("OUTBOX_LEASE_SECONDS", 1, 24 * 3600),
        ("OUTBOX_MAX_ATTEMPTS", 1, 50),
        ("OUTBOX_KEEP_DAYS", 1, 3650),
        ("REMINDER_HOUR", 0, 23),
        ("CHECKIN_GRACE_MINUTES", 1, 12 * 60),
        ("MEMBERSHIP_ENDING_NOTICE_DAYS", 1, 90),
    ):
        value = cfg.get(key)
        if not _whole(value, low, high):
            raise ConfigError(
                f"SCHILLER40_{key}={value!r} must be a whole number from {low} to {high}"
            )
    if cfg["OUTBOX_LEASE_SECONDS"] <= cfg["SMTP_TIMEOUT_SECONDS"]:
        # A claim that can run out while the server still answers lets a second worker send
        # the same message.
        raise ConfigError(
            f"SCHILLER40_OUTBOX_LEASE_SECONDS={cfg['OUTBOX_LEASE_SECONDS']} must be longer than "
            f"SCHILLER40_SMTP_TIMEOUT_SECONDS={cfg['SMTP_TIMEOUT_SECONDS']}"
        )
    ca_file = str(cfg.get("SMTP_CA_FILE") or "")
    if ca_file and not Path(ca_file).is_file():
        raise ConfigError(f"SCHILLER40_SMTP_CA_FILE={ca_file!r} is not a readable file")
    cfg["MAIL_FOLDER"] = str(cfg.get("MAIL_FOLDER") or instance / "mail")


def _resolve_operations(cfg: dict[str, Any]) -> None:
    """Check the log format, the retention period, the HSTS max-age and the caches'
    sizes at start-up."""
    hsts = cfg.get("HSTS_SECONDS")
    if not _whole(hsts, 0, 2 * 365 * 86400):
        raise ConfigError(
            f"SCHILLER40_HSTS_SECONDS={hsts!r} must be a whole number from 0 to 63072000 "
            "(0: no Strict-Transport-Security header)"
        )
    if cfg.get("LOG_FORMAT") not in ("json", "text"):
        raise ConfigError(
            f"SCHILLER40_LOG_FORMAT={cfg.get('LOG_FORMAT')!r} is unknown; use json or text"
        )
    days = cfg.get("AUDIT_DETAILS_RETENTION_DAYS")
    # At least 30 days: staff need the details of recent changes to answer questions.
    if not _whole(days, 30, 3650):
        raise ConfigError(
            f"SCHILLER40_AUDIT_DETAILS_RETENTION_DAYS={days!r} must be a whole number "
            "from 30 to 3650"
        )
    for key in ("FEED_CACHE_MB", "AVAILABILITY_CACHE_MB"):
        megabytes = cfg.get(key)
        if not _whole(megabytes, 0, 1024):
            raise ConfigError(
                f"SCHILLER40_{key}={megabytes!r} must be a whole number from 0 to 1024 "
                "(0: nothing kept)"
            )


def _instance_secret(path: Path) -> str:
    """A development secret generated once and kept, so sessions survive restarts.

    Several processes may start at once (gunicorn workers each call ``create_app``). The key
    is written under a temporary name and hard-linked into place, so the file appears
    complete or not at all, and whoever links first wins while the others read that key.
    (Creating the file itself with O_EXCL crashed the loser with FileExistsError, and a reader
    could catch it still empty.)
    """
    key = _read_secret(path)
    if key:
        return key
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(48))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process was first: use its key
    except OSError:
        os.replace(tmp, path)  # a filesystem without hard links: the last writer wins
    finally:
        tmp.unlink(missing_ok=True)
    key = _read_secret(path)
    if not key:
        # Never run with an empty key (Flask would sign sessions with ""), nor guess.
        raise ConfigError(f"{path} is empty; delete it to have a new secret generated")
    return key


def _read_secret(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def check_production(cfg: Mapping[str, Any]) -> None:
    """Refuse to run a public service with settings that would put members at risk."""
    problems: list[str] = []
    key = cfg.get("SECRET_KEY") or ""
    if not key:
        problems.append("SCHILLER40_SECRET_KEY is not set (use 32+ random characters)")
    elif len(key) < 32:
        problems.append("SCHILLER40_SECRET_KEY is shorter than 32 characters")
    if str(cfg.get("DATABASE_URL", "")).startswith("sqlite"):
        problems.append(
            "SCHILLER40_DATABASE_URL points to SQLite; production needs PostgreSQL "
            "(postgresql+psycopg://...) so several app servers share one source of truth"
        )
    if not cfg.get("SESSION_COOKIE_SECURE"):
        problems.append("SCHILLER40_SESSION_COOKIE_SECURE must stay true (HTTPS only cookies)")
    if cfg.get("PUBLIC_URL") and not str(cfg["PUBLIC_URL"]).startswith("https://"):
        problems.append("SCHILLER40_PUBLIC_URL must start with https:// in production")
    if not cfg.get("WTF_CSRF_ENABLED"):
        problems.append("SCHILLER40_WTF_CSRF_ENABLED must stay true")
    if cfg.get("AUTO_MIGRATE"):
        problems.append(
            "SCHILLER40_AUTO_MIGRATE must be false; run `flask db upgrade` as a deploy step"
        )
    stripe_keys = ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")
    present = [k for k in stripe_keys if cfg.get(k)]
    if present and len(present) != len(stripe_keys):
        missing = ", ".join(f"SCHILLER40_{k}" for k in stripe_keys if not cfg.get(k))
        problems.append(f"Stripe is half configured: {missing} missing")
    elif cfg.get("PAYMENT_PROVIDER") == "simulated":
        problems.append(
            "payments would be simulated (anyone could \"pay\" without money); "
            "set SCHILLER40_STRIPE_SECRET_KEY, _PUBLISHABLE_KEY and _WEBHOOK_SECRET"
        )
    if cfg.get("MAIL_PROVIDER") != "smtp":
        problems.append(
            "mail would only be written to a folder; set SCHILLER40_SMTP_HOST (and _PORT, "
            "_SECURITY, _USER, _PASSWORD, SCHILLER40_MAIL_SENDER)"
        )
    if not cfg.get("PUBLIC_URL"):
        problems.append(
            "SCHILLER40_PUBLIC_URL is not set; links in e-mails need the site's address"
        )
    if cfg.get("RATELIMIT_ENABLED") and str(cfg.get("RATELIMIT_STORAGE_URI", "")).startswith(
        "memory://"
    ):
        problems.append(
            "SCHILLER40_RATELIMIT_STORAGE_URI is memory://: every worker process would count "
            "on its own (limits multiplied, the log-in lockout leaky); use a shared store, "
            "e.g. redis://127.0.0.1:6379/0"
        )
    if problems:
        raise ConfigError(
            "Refusing to start in production:\n" + "\n".join(f"  - {p}" for p in problems)
        )
