"""Signed, time-limited links in account e-mails: confirm the address, reset the password.

Nothing is stored: the worker makes the token when it composes the mail, signed with the
app's SECRET_KEY (itsdangerous), so neither the outbox (it holds only the user id) nor a
database dump gives anyone a usable link.

- Address confirmation: user id + a short digest of the address the mail went to (the
  address itself would end up in web server logs with the URL). It stops working when the
  address changed since (the link proved the old one) and after ``VERIFY_MAX_AGE``.
- Password reset: user id + a short fingerprint of the current password hash. Setting a new
  password changes the hash, so a link works once; and for ``RESET_MAX_AGE`` at most.

Time comes from the caller (``now``), never from ``time.time``: tokens carry the instant they
were made and are checked against the app's clock, so tests can move time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from .models import User

VERIFY_SALT = "schiller40.accounts.verify-email"
RESET_SALT = "schiller40.accounts.password-reset"
VERIFY_MAX_AGE = timedelta(days=7)
RESET_MAX_AGE = timedelta(hours=1)
# Longer than any token we make (ids, an address of at most 254 characters, a signature),
# short enough that garbage is refused before any work.
MAX_TOKEN_LENGTH = 600


class LinkProblem(Exception):
    """Why a link does not work. ``reason``: "invalid", "expired" or "used"."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _serializer(secret_key: str, salt: str, now: datetime) -> URLSafeTimedSerializer:
    """A serializer whose idea of the present is ``now`` (signing and checking alike)."""
    instant = int(now.timestamp())

    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return instant

    return URLSafeTimedSerializer(secret_key, salt=salt, signer=ClockSigner)


def _load(token: str, *, secret_key: str, salt: str, max_age: timedelta,
          now: datetime) -> dict[str, Any]:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkProblem("invalid")
    try:
        data = _serializer(secret_key, salt, now).loads(
            token, max_age=int(max_age.total_seconds())
        )
    except SignatureExpired as exc:
        # A token from the future (the clock went back) is as useless as an old one.
        raise LinkProblem("expired") from exc
    except (BadSignature, UnicodeError, ValueError) as exc:
        raise LinkProblem("invalid") from exc
    user_id = data.get("u") if isinstance(data, dict) else None
    # type() and not isinstance: JSON's true is no account number.
    if type(user_id) is not int or not 0 < user_id < 2**31:
        raise LinkProblem("invalid")
    return data


def password_fingerprint(user: User, secret_key: str) -> str:
    """A short keyed digest of the password hash: changes whenever the password does."""
    return _keyed(secret_key, "password", user.password_hash)


def email_fingerprint(email: str, secret_key: str) -> str:
    """A short keyed digest of an address: tells whether it changed, without naming it. Keyed
    (HMAC with the secret key), because links end up in logs and a plain hash of an address
    can be matched against a list of addresses."""
    return _keyed(secret_key, "email", email)


def _keyed(secret_key: str, purpose: str, value: str) -> str:
    return hmac.new(secret_key.encode(), f"{purpose}:{value}".encode(),
                    hashlib.sha256).hexdigest()[:16]


def verify_token(user: User, *, secret_key: str, now: datetime) -> str:
    return str(_serializer(secret_key, VERIFY_SALT, now).dumps(
        {"u": user.id, "e": email_fingerprint(user.email, secret_key)}
    ))


def reset_token(user: User, *, secret_key: str, now: datetime) -> str:
    return str(_serializer(secret_key, RESET_SALT, now).dumps(
        {"u": user.id, "p": password_fingerprint(user, secret_key)}
    ))


@dataclass(frozen=True)
class VerifyClaim:
    user_id: int
    email_digest: str
    secret_key: str

    def matches(self, email: str) -> bool:
        return hmac.compare_digest(self.email_digest, email_fingerprint(email, self.secret_key))


def read_verify(token: str, *, secret_key: str, now: datetime) -> VerifyClaim:
    data = _load(token, secret_key=secret_key, salt=VERIFY_SALT, max_age=VERIFY_MAX_AGE, now=now)
    if not isinstance(data.get("e"), str):
        raise LinkProblem("invalid")
    return VerifyClaim(user_id=data["u"], email_digest=data["e"], secret_key=secret_key)


def reset_user(session: Session, token: str, *, secret_key: str, now: datetime) -> User:
    """The account a reset link is for, while it still works; LinkProblem otherwise."""
    data = _load(token, secret_key=secret_key, salt=RESET_SALT, max_age=RESET_MAX_AGE, now=now)
    fingerprint = data.get("p")
    if not isinstance(fingerprint, str):
        raise LinkProblem("invalid")
    user = session.get(User, data["u"])
    if user is None or user.is_deleted or not user.is_active:
        raise LinkProblem("invalid")
    if not hmac.compare_digest(fingerprint, password_fingerprint(user, secret_key)):
        raise LinkProblem("used")
    return user
