"""Proving the e-mail address and resetting a forgotten password, both by a link in a mail;
and telling the owner of an address that someone tried to register it again.

The mails go through the outbox (``mail.verify_email``, ``mail.password_reset``,
``mail.already_registered``, payload ``{"user_id"}``); the worker makes the signed link when
it composes them (see ``links``).
Like every service, these take the clock (``now``) and the signing key as arguments.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..core import audit, outbox
from ..core.emails import normalize_email
from ..core.locking import lock_rows, write
from ..core.outbox import OutboxMessage, OutboxStatus
from ..errors import DomainError, InvalidInput
from . import links
from .models import ApiToken, User, hash_password
from .passwords import weakness

VERIFY_TOPIC = "mail.verify_email"
RESET_TOPIC = "mail.password_reset"
ALREADY_REGISTERED_TOPIC = "mail.already_registered"
# A member asks for the confirmation link again at most this often: mail boxes are slow,
# and a button pressed five times should not send five mails.
RESEND_INTERVAL = timedelta(minutes=10)
# Reset mails to one address at most this often, however often the form is sent (nobody
# can flood a stranger's mailbox through us). The form's answer is the same either way.
RESET_INTERVAL = timedelta(minutes=2)
# "Someone tried to register with your address" at most this often, for the same reason.
ALREADY_REGISTERED_INTERVAL = timedelta(minutes=10)


class InvalidLink(DomainError):
    """A link from a mail that does not (or no longer) work. ``reason`` says why."""

    code = "invalid_link"
    status = 400
    default_message = _l("This link does not work.")

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(extra={"reason": reason})


class AlreadyVerified(DomainError):
    code = "already_verified"
    status = 409
    default_message = _l("Your e-mail address is already confirmed.")


class TooSoon(DomainError):
    code = "too_soon"
    status = 429
    default_message = _l(
        "We sent you a link only a few minutes ago. Please check your inbox and spam folder "
        "first; you can ask for another one in a few minutes."
    )


def queue_verification(session: Session, *, user: User, now: datetime) -> None:
    """Queue the confirmation mail in the caller's transaction (registration, new address)."""
    outbox.enqueue(
        session, topic=VERIFY_TOPIC, now=now, payload={"user_id": user.id}, user_id=user.id
    )


def queue_already_registered(session: Session, *, user: User, now: datetime) -> None:
    """Someone registered with ``user``'s address: tell the owner (how to log in, how to
    reset the password) instead of telling the visitor, in the caller's transaction. Not
    again within ALREADY_REGISTERED_INTERVAL, and never to a deleted or deactivated account
    (the mail handler checks that when it composes)."""
    if _recent_mail(session, topic=ALREADY_REGISTERED_TOPIC, user_id=user.id,
                    since=now - ALREADY_REGISTERED_INTERVAL):
        return
    outbox.enqueue(session, topic=ALREADY_REGISTERED_TOPIC, now=now,
                   payload={"user_id": user.id}, user_id=user.id)
    audit.record(
        session, action="user.registration_repeated", now=now, actor_id=None,
        object_type="user", object_id=user.id,
    )


def _recent_mail(session: Session, *, topic: str, user_id: int, since: datetime) -> bool:
    """True if a mail of this topic for this user was queued since then and is not failed."""
    return session.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.topic == topic,
            OutboxMessage.user_id == user_id,
            OutboxMessage.created_at > since,
            OutboxMessage.status != OutboxStatus.FAILED,
        ).limit(1)
    ) is not None


def resend_verification(session: Session, *, actor: User, now: datetime) -> None:
    """The member asks for the confirmation link again (refused if one went out just now)."""
    with write(session):
        lock_rows(session, User, [actor.id])
        user = session.get(User, actor.id, populate_existing=True)
        if user is None or user.is_deleted:
            raise InvalidLink("invalid")
        if user.email_verified_at is not None:
            raise AlreadyVerified()
        if _recent_mail(session, topic=VERIFY_TOPIC, user_id=user.id,
                        since=now - RESEND_INTERVAL):
            raise TooSoon()
        queue_verification(session, user=user, now=now)
        audit.record(
            session, action="user.verification_requested", now=now, actor_id=user.id,
            object_type="user", object_id=user.id,
        )


def verify_email(session: Session, *, token: str, secret_key: str, now: datetime) -> User:
    """Mark the address confirmed by the link's token. Works logged in or not: the token is
    the proof. A second click on a good link just says so (no second audit entry)."""
    try:
        claim = links.read_verify(token, secret_key=secret_key, now=now)
    except links.LinkProblem as exc:
        raise InvalidLink(exc.reason) from exc
    with write(session):
        lock_rows(session, User, [claim.user_id])
        user = session.get(User, claim.user_id, populate_existing=True)
        if user is None or user.is_deleted:
            raise InvalidLink("invalid")
        if not claim.matches(user.email):  # the address changed after this mail went out
            raise InvalidLink("changed")
        if user.email_verified_at is None:
            user.email_verified_at = now
            audit.record(
                session, action="user.email_verified", now=now, actor_id=user.id,
                object_type="user", object_id=user.id,
            )
    return user


def request_password_reset(session: Session, *, email: str, now: datetime) -> None:
    """Queue a reset link if an account with this address can receive mail; else nothing.

    The caller answers the same either way. Both paths open and commit one write transaction
    and run the same lookup, so the answer takes about as long whether the address is known.
    """
    address = normalize_email(email or "")
    with write(session):
        user = None
        if address and "\x00" not in address and len(address) <= 254:
            user = session.scalar(select(User).where(User.email == address))
        if (
            user is not None and user.is_active and not user.is_deleted
            and not _recent_mail(session, topic=RESET_TOPIC, user_id=user.id,
                                 since=now - RESET_INTERVAL)
        ):
            outbox.enqueue(
                session, topic=RESET_TOPIC, now=now, payload={"user_id": user.id},
                user_id=user.id,
            )
            audit.record(
                session, action="user.password_reset_requested", now=now, actor_id=None,
                object_type="user", object_id=user.id,
            )


def check_reset_link(session: Session, *, token: str, secret_key: str, now: datetime) -> User:
    """The account of a reset link that still works (for showing the form); InvalidLink
    otherwise. Reads only."""
    try:
        return links.reset_user(session, token, secret_key=secret_key, now=now)
    except links.LinkProblem as exc:
        raise InvalidLink(exc.reason) from exc


def reset_password(
    session: Session, *, token: str, new: str, secret_key: str, now: datetime
) -> User:
    """Set a new password through a reset link.

    The link works once: it names a fingerprint of the old password hash, checked again under
    the lock, so of two submissions racing only the first wins. The reset also confirms the
    address (the link reached it) and revokes the account's API tokens: whoever knew the old
    password may have made one, and a reset is what a member does when that worries them.
    """
    user = check_reset_link(session, token=token, secret_key=secret_key, now=now)
    reason = weakness(new, email=user.email, name=user.name)
    if reason:
        raise InvalidInput(reason, fields={"new_password": [reason]})
    new_hash = hash_password(new)  # slow on purpose: outside the lock
    user_id = user.id
    with write(session):
        lock_rows(session, User, [user_id])
        session.expire_all()
        try:
            user = links.reset_user(session, token, secret_key=secret_key, now=now)
        except links.LinkProblem as exc:  # used by a faster submission meanwhile
            raise InvalidLink(exc.reason) from exc
        if user.id != user_id:  # cannot happen: the token names one account
            raise InvalidLink("invalid")
        user.password_hash = new_hash
        if user.email_verified_at is None:
            user.email_verified_at = now
        revoked = session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None),
                   ApiToken.expires_at > now)
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        audit.record(
            session, action="user.password_reset", now=now, actor_id=user.id,
            object_type="user", object_id=user.id,
            details={"api_tokens_revoked": int(revoked or 0)},
        )
    return user
