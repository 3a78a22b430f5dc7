"""Account use cases. Each function owns its transaction (one ``write`` block): it validates,
writes, audits, commits.

The actor and the clock are arguments; nothing here touches the request or ``current_user``.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from ..core import audit
from ..core.emails import normalize_email
from ..core.locking import write
from ..core.time import to_local
from ..errors import DomainError, InvalidInput, NotFound
from ..membership.models import Membership, MembershipStatus, Tier
from . import models as account_models
from .models import Role, User, hash_password
from .passwords import weakness
from .verification import queue_already_registered, queue_verification


class EmailTaken(DomainError):
    code = "email_taken"
    status = 409
    default_message = _l("An account with this e-mail address already exists.")


class WrongPassword(DomainError):
    code = "wrong_password"
    status = 422
    default_message = _l("The current password is not correct.")


# Compared against when no user matches, so a log-in takes as long for an unknown address
# as for a known one and does not reveal which addresses have accounts.
_DUMMY_HASHES: dict[str, str] = {}


def _dummy_hash() -> str:
    """A hash made like real ones (same method, same cost), made once per method."""
    method = account_models.PASSWORD_HASH_METHOD
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = hash_password("schiller40-timing-equaliser")
    return _DUMMY_HASHES[method]


def _clean_email(email: str) -> str:
    # Strip first: email_validator refuses surrounding spaces, and a trailing space from
    # autocomplete or a copied address is not the member's mistake (normalize_email strips
    # too, but only after validation, which was too late).
    try:
        return normalize_email(
            validate_email(email.strip(), check_deliverability=False).normalized
        )
    except EmailNotValidError as exc:
        raise InvalidInput(
            _l("Please enter a valid e-mail address."),
            fields={"email": [str(_l("Please enter a valid e-mail address."))]},
        ) from exc


def one_line(text: str) -> bool:
    """No control characters and no line or paragraph separators (a name, a subject)."""
    return not any(
        unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text
    )


def _checked(email: str, name: str, password: str) -> tuple[str, str, str]:
    """The cleaned address and name and the password's hash, or InvalidInput. Nothing here
    depends on whether the address has an account, so the answer reveals nothing."""
    email = _clean_email(email)
    name = name.strip()
    # PostgreSQL refuses NUL in text (a 500); no real name or password contains one. A line
    # break in a name would make every mail to it unaddressable (the To header).
    if not one_line(name):
        raise InvalidInput(fields={"name": [str(_l("Please enter your name."))]})
    if "\x00" in password:
        raise InvalidInput(fields={"password": [str(_l("Please choose a password."))]})
    if not name or len(name) > 200:
        raise InvalidInput(fields={"name": [str(_l("Please enter your name."))]})
    reason = weakness(password, email=email, name=name)
    if reason:
        raise InvalidInput(reason, fields={"password": [reason]})
    return email, name, hash_password(password)  # slow on purpose: outside the lock


def _add_user(
    session: Session, *, email: str, name: str, password_hash: str, now: datetime, role: Role,
    tier: Tier | None, actor_id: int | None, locale: str,
) -> User:
    """Insert the account in the caller's ``write`` block; EmailTaken if the address has one.
    A concurrent registration that won the unique index surfaces as ``IntegrityError``, which
    the caller catches outside its block (``_taken``)."""
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise _taken()
    user = User(
        email=email, name=name, role=role, locale=locale, created_at=now,
        password_hash=password_hash,
    )
    session.add(user)
    if tier is not None:
        session.add(
            Membership(
                user=user,
                tier=tier,
                valid_from=to_local(now).date(),
                status=MembershipStatus.ACTIVE,
                created_at=now,
            )
        )
    session.flush()
    audit.record(
        session,
        action="user.created" if actor_id else "user.registered",
        now=now,
        actor_id=actor_id or user.id,
        object_type="user",
        object_id=user.id,
        details={"role": role.value, "tier": tier.slug if tier is not None else None},
    )
    # The address is not proven yet: the confirmation link goes out with the welcome.
    queue_verification(session, user=user, now=now)
    return user


def _taken() -> EmailTaken:
    return EmailTaken(fields={"email": [str(EmailTaken.default_message)]})


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    password: str,
    now: datetime,
    role: Role = Role.MEMBER,
    tier_slug: str | None = None,
    actor_id: int | None = None,
    locale: str = "de",
) -> User:
    """Create an account (and, with ``tier_slug``, a membership starting today), for staff
    and the command line: an address that has an account already is an EmailTaken error
    (they may know). Visitors register through ``register``, which never says so."""
    email, name, password_hash = _checked(email, name, password)
    try:
        with write(session):
            tier = None
            if tier_slug is not None:
                tier = session.scalar(select(Tier).where(Tier.slug == tier_slug))
                if tier is None:
                    raise NotFound(
                        _l("There is no tier %(slug)s.", slug=tier_slug),
                        fields={"tier": [str(_l("Unknown tier."))]},
                    )
            user = _add_user(session, email=email, name=name, password_hash=password_hash,
                             now=now, role=role, tier=tier, actor_id=actor_id, locale=locale)
    except IntegrityError as exc:  # a concurrent registration won the unique index
        raise _taken() from exc
    return user


def register(
    session: Session, *, email: str, name: str, password: str, now: datetime,
    locale: str = "de",
) -> None:
    """A visitor registers. Whether the address has an account is never the visitor's to
    learn: a new address gets an account and the confirmation mail; an address that has an
    account gets a mail to its owner instead (``mail.already_registered``: someone tried,
    here is how to log in or reset the password), and nothing else changes. Either way one
    write transaction, the same checks and the same password hashing, and the caller gives
    the same answer."""
    email, name, password_hash = _checked(email, name, password)
    for _attempt in range(2):
        try:
            with write(session):
                owner = session.scalar(select(User).where(User.email == email))
                if owner is not None:
                    queue_already_registered(session, user=owner, now=now)
                    return
                _add_user(session, email=email, name=name, password_hash=password_hash,
                          now=now, role=Role.MEMBER, tier=None, actor_id=None, locale=locale)
        except (EmailTaken, IntegrityError):
            continue  # a concurrent registration won: its owner is told, next round
        return


def authenticate(session: Session, *, email: str, password: str, now: datetime) -> User | None:
    """The active user with these credentials, or None. Records the log-in time on success.

    The password is checked (slowly, by design) before the write transaction starts, so a
    log-in never holds SQLite's write lock for the length of a hash computation.
    """
    if "\x00" in email:  # PostgreSQL refuses NUL in text; no address contains one
        check_password_hash(_dummy_hash(), password)
        return None
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not user.check_password(password) or not user.is_active:
        return None
    user_id = user.id
    with write(session):
        user = session.get(User, user_id)
        if user is None or not user.is_active:  # deleted or deactivated meanwhile
            return None
        user.last_login_at = now
        audit.record(
            session, action="user.logged_in", now=now, actor_id=user.id,
            object_type="user", object_id=user.id,
        )
    return user


def change_password(
    session: Session, *, user: User, current: str, new: str, now: datetime
) -> None:
    if not user.check_password(current):
        raise WrongPassword(fields={"current_password": [str(WrongPassword.default_message)]})
    reason = weakness(new, email=user.email, name=user.name)
    if reason:
        raise InvalidInput(reason, fields={"new_password": [reason]})
    new_hash = hash_password(new)
    with write(session):
        user = session.merge(user)
        user.password_hash = new_hash
        audit.record(
            session, action="user.password_changed", now=now, actor_id=user.id,
            object_type="user", object_id=user.id,
        )


def set_locale(session: Session, *, user: User, locale: str) -> None:
    """Remember the member's language for pages and, later, e-mails."""
    if locale not in ("de", "en"):
        raise InvalidInput(fields={"lang": [str(_l("Unknown language."))]})
    with write(session):
        user = session.merge(user)
        user.locale = locale


LOCALES = ("de", "en")


def update_profile(
    session: Session, *, actor: User, user: User, name: str, locale: str, now: datetime
) -> User:
    """Change the name and preferred language (pages now, e-mails and feeds later).

    Only the member themselves; staff edit members elsewhere. The audit entry names the
    changed fields, not their values: the log must not become a second copy of personal data.
    """
    if actor.id != user.id:
        raise NotFound()
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name or not one_line(name):
        errors["name"] = [str(_l("Please enter your name."))]
    elif len(name) > 200:
        errors["name"] = [str(_l("Use at most %(n)d characters.", n=200))]
    if locale not in LOCALES:
        errors["locale"] = [str(_l("Unknown language."))]
    if errors:
        raise InvalidInput(fields=errors)
    with write(session):
        user = session.merge(user)
        changed = [
            field
            for field, old, new in (("name", user.name, name), ("locale", user.locale, locale))
            if old != new
        ]
        user.name = name
        user.locale = locale
        if changed:
            audit.record(
                session, action="user.profile_updated", now=now, actor_id=actor.id,
                object_type="user", object_id=user.id, details={"fields": changed},
            )
    return user
