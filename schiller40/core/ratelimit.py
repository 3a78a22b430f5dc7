"""Rate limits (Flask-Limiter) and the log-in lockout.

Flask-Limiter keeps its switch, storage and strategy on the extension object, so the last app
bound would decide for every app in the process (tests build hundreds). ``AppLimiter`` keeps
those and the key prefix per app, in ``app.extensions``; the rest is the same for every app.

Limits are config values (``RATELIMIT_*``), read when a request is checked. What they count
per (``request_key``): the account, when the request has one (a session or an API token);
otherwise the client address (``request.remote_addr``: the proxy's address unless
``TRUSTED_PROXIES`` makes ProxyFix put the client's there). Members share the space's one
public address, so counting them by it would refuse a full house; an account of its own
cannot be shared, so it is the fair key for whoever has one.

The log-in lockout (below) counts per e-mail address *and* client address, so failures from
elsewhere never lock the owner out at their usual address.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, current_app, g, has_app_context
from flask_babel import ngettext
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user

from .emails import normalize_email

_STATE = "schiller40.limiter"


def _per_app(name: str) -> property:
    def get(self: AppLimiter) -> Any:
        app = self._binding or (current_app._get_current_object() if has_app_context() else None)
        state = app.extensions.get(_STATE) if app is not None else None
        if state is not None and name in state:
            return state[name]
        return self.__dict__.get(name)

    def set_(self: AppLimiter, value: Any) -> None:
        if self._binding is not None:
            self._binding.extensions.setdefault(_STATE, {})[name] = value
        else:
            self.__dict__[name] = value

    return property(get, set_)


class AppLimiter(Limiter):
    _binding: Flask | None = None
    enabled = _per_app("enabled")
    _storage = _per_app("_storage")
    _limiter = _per_app("_limiter")
    _key_prefix = _per_app("_key_prefix")

    def init_app(self, app: Flask) -> None:
        self._binding = app
        try:
            app.extensions[_STATE] = {"enabled": False, "_storage": None, "_limiter": None}
            super().init_app(app)
        finally:
            self._binding = None


def configured(name: str) -> Callable[[], str]:
    """The limit in config value ``name``, read per request (tests change it)."""
    return lambda: str(current_app.config[name])


def client_address() -> str:
    """The client address as counted: an IPv6 address by its /64 network, which one
    household or phone holds whole (counting single addresses would let it change address
    for every request)."""
    address = get_remote_address() or "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False).network_address) + "/64"
    return str(parsed)


def request_key() -> str:
    """Whom a limit counts: the account of an API token or a session, else the address.

    API routes check the token before their limit (``token_required`` sets ``g.api_user``)."""
    user = g.get("api_user")
    if user is None and current_user.is_authenticated:
        user = current_user
    if user is not None:
        return f"account:{user.id}"
    return "address:" + client_address()


# --- log-in lockout -----------------------------------------------------------------------
# Failed log-ins are counted per normalised e-mail address, whether an account has it or not
# (so the lock reveals nothing), in windows of LOGIN_LOCKOUT_WINDOW_MINUTES on the app clock:
#
# - per pair (e-mail address, client address): the LOGIN_LOCKOUT_FAILURES-th failure locks
#   that pair for LOGIN_LOCKOUT_MINUTES. Someone guessing elsewhere locks only themselves.
# - per e-mail address from all client addresses together: the LOGIN_LOCKOUT_ACCOUNT_FAILURES-th
#   failure locks the address, as long, for every client address that has not logged in to
#   it within LOGIN_KNOWN_ADDRESS_DAYS. Guessing spread over many addresses is slowed, and the
#   owner at a usual address is still not locked out.
#
# A completed password reset lifts every lock of its address (``cleared``): the keys carry an
# epoch, which the reset moves on, so the old counts and locks are never read again.
# The counters live in the rate-limit storage (Redis in production), so every app server sees
# them; the storage's own expiry only tidies up. E-mail and client addresses are stored only
# as keyed digests.


# How long the epoch a reset starts is kept (far longer than any window or lock).
EPOCH_SECONDS = 366 * 86400


def _digest(kind: str, value: str) -> str:
    """A stable, keyed digest: the store never holds an address, and a copy of it cannot be
    turned back into addresses by hashing every IPv4 address or a list of e-mails."""
    secret = str(current_app.config.get("SECRET_KEY") or "").encode("utf-8")
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def _email_key(email: str) -> str:
    return _digest("email", normalize_email(email or ""))


def _key(*parts: str) -> str:
    prefix = str(current_app.config.get("RATELIMIT_KEY_PREFIX") or "")
    return ":".join((prefix, "lockout", *parts))


def _lockout_on() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED")) and int(
        current_app.config.get("LOGIN_LOCKOUT_FAILURES") or 0
    ) > 0


def _fail_open(function: Callable[..., int | None]) -> Callable[..., int]:
    """A storage that cannot be reached is logged, and log-in goes on without the lockout,
    as the rate limits do (RATELIMIT_SWALLOW_ERRORS)."""

    @functools.wraps(function)
    def wrapper(email: str, *, now: datetime) -> int:
        if not _lockout_on():
            return 0
        try:
            return function(_Subject(email), now=now) or 0
        except Exception:
            current_app.logger.exception("log-in lockout storage failed; not applied")
            return 0

    return wrapper


class _Subject:
    """The keys of one log-in attempt: its e-mail address (with the address's current
    epoch) and the client address it comes from."""

    def __init__(self, email: str) -> None:
        cfg = current_app.config
        self.email = _email_key(email)
        self.address = _digest("address", client_address())
        self.store = _store()
        self.window = int(cfg["LOGIN_LOCKOUT_WINDOW_MINUTES"]) * 60
        self.lock = int(cfg["LOGIN_LOCKOUT_MINUTES"]) * 60
        self.pair_limit = int(cfg["LOGIN_LOCKOUT_FAILURES"])
        self.account_limit = int(cfg.get("LOGIN_LOCKOUT_ACCOUNT_FAILURES") or 0)
        self.known_ttl = int(cfg.get("LOGIN_KNOWN_ADDRESS_DAYS") or 0) * 86400
        self.epoch = str(self.store.get(_key("epoch", self.email)))

    def pair(self, kind: str, *rest: str) -> str:
        return _key(kind, self.epoch, self.email, self.address, *rest)

    def account(self, kind: str, *rest: str) -> str:
        return _key(kind, self.epoch, self.email, *rest)

    def known(self) -> str:
        # Not in an epoch: a reset does not make the owner's usual address a stranger.
        return _key("known", self.email, self.address)

    def knows_address(self, now: datetime) -> bool:
        """True if the account was logged in to from this client within the known days
        (the mark holds the time of the last success, on the app clock)."""
        last = self.store.get(self.known())
        return bool(last) and int(now.timestamp()) - int(last) < self.known_ttl

    def remaining(self, until_key: str, now: datetime) -> int:
        until = self.store.get(until_key)
        return max(int(until) - int(now.timestamp()), 0) if until else 0

    def count(self, failures_key: str, limit: int, until_key: str, now: datetime) -> bool:
        """Count a failure; True if it was the one that reached ``limit`` (and locked).
        Exactly the limit: of several servers counting together, one sets the lock."""
        if self.store.incr(failures_key, self.window) != limit:
            return False
        stamp = int(now.timestamp())
        self.store.clear(until_key)
        self.store.incr(until_key, self.lock, amount=stamp + self.lock)
        # Counting starts afresh: after a lock shorter than the window, as many failures
        # again lock again.
        self.store.clear(failures_key)
        return True


def _bucket(subject: _Subject, now: datetime) -> str:
    return str(int(now.timestamp()) // subject.window)


@_fail_open
def locked_for(subject: _Subject, *, now: datetime) -> int:
    """Seconds the log-in for this e-mail address from this client stays locked (0: not)."""
    seconds = subject.remaining(subject.pair("until"), now)
    if subject.account_limit and not subject.knows_address(now):
        seconds = max(seconds, subject.remaining(subject.account("until"), now))
    return seconds


@_fail_open
def failed(subject: _Subject, *, now: datetime) -> int:
    """Count a failed log-in; the seconds this client is locked out now, or 0."""
    bucket = _bucket(subject, now)
    if subject.count(subject.pair("failures", bucket), subject.pair_limit,
                     subject.pair("until"), now):
        current_app.logger.warning(
            "log-in locked for %d minutes after %d failures from one client address "
            "[email key %s]", subject.lock // 60, subject.pair_limit, subject.email[:12])
    if subject.account_limit and subject.count(
        subject.account("failures", bucket), subject.account_limit, subject.account("until"),
        now,
    ):
        current_app.logger.warning(
            "log-in locked for %d minutes for unknown client addresses after %d failures "
            "from all addresses [email key %s]", subject.lock // 60, subject.account_limit,
            subject.email[:12])
    return locked_for.__wrapped__(subject, now=now)


@_fail_open
def succeeded(subject: _Subject, *, now: datetime) -> None:
    """A correct password outside a lock starts this client's count afresh and makes its
    address one the account knows (not locked by failures from all addresses together)."""
    subject.store.clear(subject.pair("failures", _bucket(subject, now)))
    if subject.known_ttl:
        subject.store.clear(subject.known())
        subject.store.incr(subject.known(), subject.known_ttl, amount=int(now.timestamp()))


@_fail_open
def cleared(subject: _Subject, *, now: datetime) -> None:
    """A completed password reset: every lock and count of this e-mail address is lifted,
    whichever client address it came from, by moving on to a new epoch. The epoch is kept
    for a year: the counts and locks made after the reset carry it, and an epoch that ran
    out before them would orphan them (a lock set late would end early)."""
    key = _key("epoch", subject.email)
    subject.store.clear(key)
    subject.store.incr(key, EPOCH_SECONDS, amount=int(now.timestamp()))


def _store() -> Any:
    # At call time: extensions imports this module to build the limiter.
    from ..extensions import limiter

    return limiter.storage


def locked_message(seconds: int) -> str:
    """The same words for every address, known or not: the lock reveals nothing."""
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many failed log-ins with this e-mail address. Log-in with it is paused for "
        "%(num)d minute. If you have forgotten your password, you can reset it.",
        "Too many failed log-ins with this e-mail address. Log-in with it is paused for "
        "%(num)d minutes. If you have forgotten your password, you can reset it.",
        minutes,
    )


