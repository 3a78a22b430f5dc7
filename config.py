"""Configuration classes.

Nothing here reads the environment at import time: `create_app` picks a class and then
overlays every ``SCHILLER40_*`` variable through Flask's ``from_prefixed_env``, so tests can
build as many differently configured apps as they like in one process.
"""

from __future__ import annotations


class Config:
    """Settings shared by every environment; the embedded default works with none set."""

    ENV_NAME = "development"
    # Empty means "SQLite file in the instance folder" (resolved in create_app).
    DATABASE_URL = ""
    SECRET_KEY: str | None = None
    # Create/upgrade the schema on start. Convenient for the embedded default; in production
    # `flask db upgrade` is an explicit deployment step.
    AUTO_MIGRATE = True

    # hide_parameters: an error logged with its SQL must not carry the values (password
    # hashes, names, e-mail addresses) into the logs.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True, "hide_parameters": True}
    # SQLite only (development, the embedded default, tests; production needs PostgreSQL):
    # how long a request waits for the database-wide write lock, and for a free pooled
    # connection, before it is answered 503. Writers hold the lock for milliseconds, but on
    # a loaded machine dozens queued behind each other took longer than the 30 s this used
    # to be (issue 17). Under gunicorn keep SCHILLER40_TIMEOUT above it.
    SQLITE_BUSY_TIMEOUT_SECONDS = 60
    # PostgreSQL only: how long a statement waits for a row lock (another booking of the same
    # resource, a payment being confirmed) before it gives up and the request is answered 503
    # with Retry-After. Locks are held for milliseconds; the wait must stay well below
    # gunicorn's SCHILLER40_TIMEOUT (30 s), which would kill the worker instead.
    LOCK_TIMEOUT_SECONDS = 10
    SQLALCHEMY_TRACK_MODIFICATIONS = False

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Strict-Transport-Security max-age in seconds; 0 sends no header. Production sends a
    # year (the site is https only: Secure cookies, an https PUBLIC_URL); not for subdomains,
    # which other offices of the city may still serve over http. Set 0 if the proxy sends it.
    HSTS_SECONDS = 0

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    BABEL_DEFAULT_LOCALE = "de"
    BABEL_DEFAULT_TIMEZONE = "Europe/Berlin"
    LANGUAGES = ("de", "en")

    # Bodies larger than this are refused with 413 before any view runs.
    MAX_CONTENT_LENGTH = 1024 * 1024

    VAT_RATE_PERCENT = 19
    # How long an unpaid booking keeps its slot while the member pays. Stripe's checkout
    # lives at least 30 minutes; the hold is stretched to match the checkout it opens.
    BOOKING_HOLD_MINUTES = 30
    # How long a paid booking that staff made for a member with "online payment" keeps its
    # slot while the member pays from the mail (whole hours, at most 24: Stripe's checkout).
    STAFF_HOLD_HOURS = 24
    # How long a waitlist offer reserves a freed slot for the member it is offered to.
    WAITLIST_OFFER_MINUTES = 30
    # How many desk bookings one member account may hold at any moment (staff may override
    # it for a booking). A company books for its people through their own accounts.
    MAX_CONCURRENT_DESKS = 1
    CURRENCY = "EUR"

    # "auto": Stripe when STRIPE_SECRET_KEY is set, else the simulated gateway (a local
    # checkout page, no money moves). "stripe" or "simulated" to insist on one.
    PAYMENT_GATEWAY = "auto"
    STRIPE_SECRET_KEY = ""
    STRIPE_PUBLISHABLE_KEY = ""
    STRIPE_WEBHOOK_SECRET = ""
    # Another Stripe API address (tests run a local Stripe-compatible server).
    STRIPE_API_BASE = ""
    STRIPE_TIMEOUT_SECONDS = 10
    # Network failures are retried this often by the SDK, with the same idempotency key.
    STRIPE_MAX_RETRIES = 2
    # Refund on cancellation, by resource kind: [[hours before the start, percent], ...];
    # the first step whose notice is met applies, none means no refund. Kinds left out keep
    # the defaults: desks 100 % up to 24 h; studios and rooms 100 % up to 48 h, 50 % up to 24 h.
    REFUND_POLICY: dict = {}

    # Monthly fees (issue 19): after a failed charge, retries on days 3, 5 and 7; from this
    # many days after the failure the membership is suspended (booking on the fee-less
    # tier's terms), and DUNNING_END_DAYS after that the subscription ends.
    DUNNING_GRACE_DAYS = 14
    DUNNING_END_DAYS = 30
    # How many days before a charge the member is told (for SEPA: the pre-notification).
    BILLING_NOTICE_DAYS = 5
    # The SEPA creditor identifier printed in pre-notifications (Gläubiger-ID); empty: none.
    SEPA_CREDITOR_ID = ""

    # Where links in mails and feeds point to; empty means "derive from the request".
    PUBLIC_URL = ""
    # Number of reverse proxies in front of the app whose X-Forwarded-* headers to trust
    # (0 = none). Set to 1 behind one nginx/Caddy, so URLs and client addresses are right.
    TRUSTED_PROXIES = 0

    # --- E-mail (docs/operations.md) -------------------------------------------------------
    # "auto": SMTP when SMTP_HOST is set, else the folder instance/mail/ (readable at
    # /dev/mail on the embedded default); "smtp" or "folder" to insist on one.
    MAIL_BACKEND = "auto"
    MAIL_FOLDER = ""  # empty: instance/mail
    MAIL_SENDER = "Schiller40 <buchung@schiller40.example>"
    # Where mail for staff goes (a studio booking waiting for approval), e.g.
    # "Studio-Team <studio@schiller40.example>"; empty: no mail to staff.
    STAFF_EMAIL = ""
    SMTP_HOST = ""
    SMTP_PORT = 587
    # "starttls" (port 587), "tls" (implicit TLS, port 465) or "none" (a relay on localhost).
    SMTP_SECURITY = "starttls"
    SMTP_USER = ""
    SMTP_PASSWORD = ""
    SMTP_TIMEOUT_SECONDS = 20
    # Trust this CA file (PEM) for the mail server's certificate instead of the system's, for
    # a server with a certificate from an in-house CA. Certificates are always verified.
    SMTP_CA_FILE = ""

    # --- The worker: outbox delivery and periodic jobs -------------------------------------
    # Run the periodic pass in a thread of the web process (the embedded default), so holds
    # expire and mail goes out with no second process. Production runs `flask worker`.
    WORKER_EMBEDDED = False
    WORKER_INTERVAL_SECONDS = 30
    # A delivery claimed by a worker that died is taken over after this long.
    OUTBOX_LEASE_SECONDS = 300
    # A message the server refuses for the moment (4xx: greylisting, a full mailbox) is
    # retried with growing pauses (1, 2, 4, ... minutes, at most 6 h apart; 12 tries span about
    # 26 hours); after the last try it is shown to staff at /staff/outbox. A server that cannot
    # be reached at all costs no try: the messages simply wait for it.
    OUTBOX_MAX_ATTEMPTS = 12
    # Delivered messages are deleted after this many days (failed ones stay until staff act).
    OUTBOX_KEEP_DAYS = 30
    # Reminders go out the day before, at this local hour or later.
    REMINDER_HOUR = 17
    # A desk booked for a day or half day must be checked in this many minutes after its
    # start (09:00 + 90 = 10:30), or it is released for others as a no-show.
    CHECKIN_GRACE_MINUTES = 90
    # Members are told this many days before their membership ends.
    MEMBERSHIP_ENDING_NOTICE_DAYS = 14

    # --- Logs and retention (docs/security.md) ---------------------------------------------
    # "json": one JSON object per line (for a log collector); "text": for people.
    LOG_FORMAT = "text"
    # Audit entries keep who did what to which object and when for good; what they say in
    # detail (old and new values, reasons) is emptied after this many days.
    AUDIT_DETAILS_RETENTION_DAYS = 730

    # --- Performance (docs/performance.md) -------------------------------------------------
    # Rendered member feeds kept in each worker's memory, keyed by the feed's ETag, so that a
    # calendar fetching an unchanged feed in full costs no rendering. 0 turns the cache off.
    FEED_CACHE_MB = 16
    # Availability answers kept in each worker's memory under a digest of everything they
    # are made of (bookings, holds, offers, blocks, hours, resources), so asking again for an
    # unchanged day costs one statement. 0 turns the cache off.
    AVAILABILITY_CACHE_MB = 8

    # --- Rate limits and the log-in lockout (docs/security.md) -----------------------------
    # A signed-in member (session or API token) is counted per account, anyone else per client
    # address (set TRUSTED_PROXIES behind a proxy, or every visitor shares the proxy's
    # address). The per-address limits are generous on purpose: a full house (some 60 people)
    # shares the space's one public address.
    RATELIMIT_ENABLED = True
    # "memory://" counts in each process (fine for the embedded default, one process);
    # production needs a shared store: redis://127.0.0.1:6379/0.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_STRATEGY = "fixed-window"
    # Off: Flask-Limiter would put its Retry-After on every answer of a limited route (a 201
    # too, and over a 503's own). The 429 handler sets Retry-After itself (errors.py).
    RATELIMIT_HEADERS_ENABLED = False
    RATELIMIT_KEY_PREFIX = "schiller40"
    # A storage that cannot be reached is logged and the request let through (fail open):
    # an outage of Redis must not lock every member out.
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_LOGIN = "120 per minute;1200 per hour"  # per client address
    RATELIMIT_REGISTER = "60 per hour"  # per client address
    RATELIMIT_PASSWORD_RESET = "60 per hour"  # noqa: S105  (a limit, not a password)
    RATELIMIT_RESEND_VERIFICATION = "10 per hour"  # per account
    RATELIMIT_API_TOKEN = "120 per minute;1200 per hour"  # noqa: S105  (per client address)
    RATELIMIT_BOOKING = "30 per minute;300 per hour"  # per account
    # Log-in lockout, for known and unknown e-mail addresses alike (0 failures: no lockout;
    # off together with RATELIMIT_ENABLED). The LOGIN_LOCKOUT_FAILURES-th failed log-in for one
    # e-mail address from one client address within LOGIN_LOCKOUT_WINDOW_MINUTES locks that
    # pair for LOGIN_LOCKOUT_MINUTES; failures from elsewhere never lock the owner's address.
    LOGIN_LOCKOUT_FAILURES = 10
    LOGIN_LOCKOUT_WINDOW_MINUTES = 15
    LOGIN_LOCKOUT_MINUTES = 15
    # The LOGIN_LOCKOUT_ACCOUNT_FAILURES-th failure for one e-mail address from all client
    # addresses together in a window locks it, for as long, for every client address that has
    # not logged in to it within LOGIN_KNOWN_ADDRESS_DAYS (0: no such ceiling).
    LOGIN_LOCKOUT_ACCOUNT_FAILURES = 100
    LOGIN_KNOWN_ADDRESS_DAYS = 90


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    WORKER_EMBEDDED = True


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    AUTO_MIGRATE = False  # the test fixtures migrate once per database
    SECRET_KEY = "testing-only-not-secret"  # noqa: S105
    WTF_CSRF_ENABLED = False
    # Other tests log in hundreds of times from one address in one process; the rate-limit
    # tests (tests/security) switch limits on with small values of their own.
    RATELIMIT_ENABLED = False


class ProductionConfig(Config):
    ENV_NAME = "production"
    AUTO_MIGRATE = False
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    HSTS_SECONDS = 365 * 24 * 3600
    PREFERRED_URL_SCHEME = "https"
    LOG_FORMAT = "json"


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
