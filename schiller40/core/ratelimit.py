"""Rate limits (Flask-Limiter) and the log-in lockout.

Flask-Limiter keeps its switch, storage and strategy on the extension object, so the last app
bound would decide for every app in the process (tests build hundreds). ``AppLimiter`` keeps
those and the key prefix per app, in ``app.extensions``; the rest is the same for every app.

Limits are config values (``RATELIMIT_*``), read when a request is checked, and count per
client address (``request.remote_addr``: the proxy's address unless ``TRUSTED_PROXIES`` makes
ProxyFix put the client's there). The log-in also counts per e-mail address.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, current_app, has_app_context, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

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
    return get_remote_address() or "unknown"


def _email_key(email: str) -> str:
    """A stable key for an address, existing or not; the address itself is not stored."""
    from ..accounts.models import normalize_email

    normal = normalize_email(email or "")
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()[:32]


def login_email() -> str:
    """Key of the per-address log-in limit (form field or JSON body)."""
    email = request.form.get("email")
    if email is None:
        body = request.get_json(silent=True)
        email = body.get("email") if isinstance(body, dict) else ""
    return "email:" + _email_key(str(email or ""))


# --- log-in lockout -----------------------------------------------------------------------
# Failed log-ins are counted per normalised address in windows of LOGIN_LOCKOUT_WINDOW_MINUTES
# on the app clock; the LOGIN_LOCKOUT_FAILURES-th failure in one window locks log-in for that
# address for LOGIN_LOCKOUT_MINUTES, whether an account has it or not (so the lock reveals
# nothing). The counters live in the rate-limit storage (Redis in production), so every app
# server sees them; the storage's own expiry only tidies up.


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
            return function(email, now=now) or 0
        except Exception:
            current_app.logger.exception("log-in lockout storage failed; not applied")
            return 0

    return wrapper


@_fail_open
def locked_for(email: str, *, now: datetime) -> int:
    """Seconds the log-in for ``email`` stays locked (0: not locked)."""
    until = _store().get(_key("until", _email_key(email)))
    remaining = int(until) - int(now.timestamp()) if until else 0
    return max(remaining, 0)


@_fail_open
def failed(email: str, *, now: datetime) -> int:
    """Count a failed log-in; the seconds of the lock it started, or 0."""
    cfg = current_app.config
    window = int(cfg["LOGIN_LOCKOUT_WINDOW_MINUTES"]) * 60
    lock = int(cfg["LOGIN_LOCKOUT_MINUTES"]) * 60
    key = _email_key(email)
    stamp = int(now.timestamp())
    bucket = stamp // window
    failures_key = _key("failures", key, str(bucket))
    count = _store().incr(failures_key, window)
    # Exactly the threshold: of several servers counting together, one sets the lock.
    if count != int(cfg["LOGIN_LOCKOUT_FAILURES"]):
        return 0
    until_key = _key("until", key)
    _store().clear(until_key)
    _store().incr(until_key, lock, amount=stamp + lock)
    # Counting starts afresh: after a lock shorter than the window, as many failures again
    # lock again.
    _store().clear(failures_key)
    current_app.logger.warning("log-in locked for %d minutes after %d failures [email key %s]",
                               lock // 60, count, key[:12])
    return lock


@_fail_open
def succeeded(email: str, *, now: datetime) -> None:
    """A correct password outside a lock starts the count afresh."""
    window = int(current_app.config["LOGIN_LOCKOUT_WINDOW_MINUTES"]) * 60
    _store().clear(
        _key("failures", _email_key(email), str(int(now.timestamp()) // window))
    )


def _store() -> Any:
    from ..extensions import limiter

    return limiter.storage


def locked_message(seconds: int) -> str:
    """The same words for every address, known or not: the lock reveals nothing."""
    from flask_babel import ngettext

    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many failed log-ins with this e-mail address. Log-in with it is paused for "
        "%(num)d minute. If you have forgotten your password, you can reset it.",
        "Too many failed log-ins with this e-mail address. Log-in with it is paused for "
        "%(num)d minutes. If you have forgotten your password, you can reset it.",
        minutes,
    )


