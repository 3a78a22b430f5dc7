"""API bearer tokens: issue on log-in, look up per request, revoke.

The token itself is shown once; the database keeps only its SHA-256 digest (see ApiToken).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from ..core import audit
from ..core.locking import write
from .models import ApiToken, User
from .service import authenticate

TOKEN_LIFETIME = timedelta(days=30)
# Writing last_used_at on every request would turn each read into a write; once a minute
# is enough to see which tokens are in use.
TOUCH_EVERY = timedelta(minutes=1)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    session: Session, *, email: str, password: str, now: datetime
) -> tuple[str, ApiToken] | None:
    """A new token for valid credentials, or None (the caller answers 401)."""
    user = authenticate(session, email=email, password=password, now=now)
    if user is None:
        return None
    token = secrets.token_urlsafe(32)
    with write(session):
        row = ApiToken(
            user_id=user.id, digest=digest(token), created_at=now,
            expires_at=now + TOKEN_LIFETIME,
        )
        session.add(row)
        session.flush()
        audit.record(
            session, action="api_token.created", now=now, actor_id=user.id,
            object_type="api_token", object_id=row.id,
        )
    return token, row


# Built once: every API request runs it, and building the statement cost a third of its time.
_BY_DIGEST = (
    select(ApiToken).where(ApiToken.digest == bindparam("digest"))
    .options(joinedload(ApiToken.user))
)


def user_for(session: Session, token: str, *, now: datetime) -> tuple[User, ApiToken] | None:
    """The active user a valid, unexpired, unrevoked token belongs to."""
    if not token or len(token) > 200:
        return None
    # Looking up by digest is safe against timing attacks: the attacker does not control
    # the digest's prefix, so comparison time reveals nothing about stored tokens.
    # The user comes in the same statement: every API request needs both (one round trip).
    row = session.scalar(_BY_DIGEST, {"digest": digest(token)})
    if row is None or not row.is_valid(now) or not row.user.is_active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        row_id = row.id
        with write(session):
            row = session.get(ApiToken, row_id)
            if row is None or not row.is_valid(now):  # revoked meanwhile
                return None
            row.last_used_at = now
    return row.user, row


def revoke(session: Session, *, token_row: ApiToken, actor: User, now: datetime) -> None:
    with write(session):
        token_row = session.merge(token_row)
        if token_row.revoked_at is None:
            token_row.revoked_at = now
            audit.record(
                session, action="api_token.revoked", now=now, actor_id=actor.id,
                object_type="api_token", object_id=token_row.id,
            )
