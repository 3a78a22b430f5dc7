"""Company accounts: founding a company, its billing data, its team (invitations, removal,
leaving), each member's monthly cap on the shared credit, and its managers.

Who may do what is asked of the models (``User.can_manage``): a company's managers and staff
manage it; anyone else gets ``NotFound`` for a company that is not theirs (a member of A
learns nothing about B), and a member of the company who does not manage it ``NotManager``.
Every change locks the member it is about the way the booking engine does
(``accounts.locks.lock_member``: the member, then their company), so a cap or a company
changes only between two bookings, never under one; the mail of an invitation goes through
the outbox.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..core import audit, outbox
from ..core.emails import normalize_email
from ..core.locking import is_unique_violation, locked_get, write
from ..errors import Conflict, InvalidInput, NotEntitled, NotFound
from . import invitations
from .billing_ids import BadId, normalize_leitweg_id, normalize_vat_id
from .locks import lock_member
from .models import Company, CompanyInvitation, User
from .service import one_line

INVITATION_LIFETIME = timedelta(days=14)
CAP_MAX = 31 * 24  # more hours than a month has: anything above means "no cap"
MAX_OPEN_INVITATIONS = 50
MAX_INVITATIONS_PER_DAY = 50
COUNTRY = re.compile(r"^[A-Z]{2}$")


class NotManager(NotEntitled):
    """A member of the company who does not manage it."""

    code = "not_manager"
    default_message = _l("Only a manager of the company may do this.")


@dataclass(frozen=True)
class CompanyDetails:
    """The company's name and billing data as entered (strings, not yet checked)."""

    name: str
    legal_name: str = ""
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = "DE"
    vat_id: str = ""
    invoice_email: str = ""
    leitweg_id: str = ""


LIMITS = {"name": 200, "legal_name": 200, "street": 200, "postal_code": 16, "city": 100}


def _invalid(field: str, message: object) -> InvalidInput:
    return InvalidInput(str(message), fields={field: [str(message)]})


def checked_details(details: CompanyDetails) -> dict[str, str | None]:
    """The columns to store, normalised, or InvalidInput naming the field."""
    values: dict[str, str | None] = {}
    for field, limit in LIMITS.items():
        text = (getattr(details, field) or "").strip()
        if len(text) > limit or not one_line(text):
            raise _invalid(field, _l("At most %(num)d characters on one line.", num=limit))
        values[field] = text or None
    if not values["name"]:
        raise _invalid("name", _l("Please enter the company's name."))
    values["legal_name"] = values["legal_name"] or values["name"]
    country = (details.country or "").strip().upper()
    if not COUNTRY.fullmatch(country):
        raise _invalid("country", _l("Please enter the two-letter country code (DE)."))
    values["country"] = country
    values["vat_id"] = _checked_id(
        details.vat_id, "vat_id", normalize_vat_id,
        checksum=_l("This VAT ID's check digits are wrong. Please check the number."),
        shape=_l("Please enter a VAT ID with its country code, e.g. DE123456789."),
    )
    values["leitweg_id"] = _checked_id(
        details.leitweg_id, "leitweg_id", normalize_leitweg_id,
        checksum=_l("This Leitweg-ID's check digits are wrong. Please check it."),
        shape=_l("A Leitweg-ID looks like 04011000-1234512345-06: 2 to 12 digits, optionally "
                 "a part of up to 30 letters and digits, two check digits, separated by "
                 "hyphens."),
    )
    values["invoice_email"] = None
    if (details.invoice_email or "").strip():
        values["invoice_email"] = clean_email(details.invoice_email, field="invoice_email")
    return values


def _checked_id(
    text: str, field: str, normalize: Callable[[str], str], *, checksum: object, shape: object,
) -> str | None:
    """An optional id in its normal form (None when empty), or InvalidInput saying whether
    its check digits or its shape are wrong."""
    if not (text or "").strip():
        return None
    try:
        return normalize(text)
    except BadId as exc:
        raise _invalid(field, checksum if exc.reason == "checksum" else shape) from exc


def clean_email(text: str, *, field: str = "email") -> str:
    try:
        return normalize_email(
            validate_email(text.strip(), check_deliverability=False).normalized
        )
    except EmailNotValidError as exc:
        raise _invalid(field, _l("Please enter a valid e-mail address.")) from exc


def _name_taken(exc: IntegrityError) -> Conflict:
    if not is_unique_violation(exc, "company", "name"):
        raise exc
    message = _l("A company with this name exists already. Please choose another name.")
    return Conflict(message, fields={"name": [str(message)]})


def _company_named(session: Session, name: str, *, other_than: int | None = None) -> bool:
    query = select(Company.id).where(func.lower(Company.name) == name.lower())
    if other_than is not None:
        query = query.where(Company.id != other_than)
    return session.scalar(query) is not None


# --- the company itself -------------------------------------------------------------------


def create_company(
    session: Session, *, actor: User, details: CompanyDetails, now: datetime,
) -> Company:
    """A new company. A member founding it from their account becomes its first manager (and
    must not belong to one yet); staff make one without joining it."""
    values = checked_details(details)
    try:
        with write(session):
            if not actor.is_staff:
                lock_member(session, actor)
                session.refresh(actor)
                if actor.company_id is not None:
                    message = _l("You belong to a company already. Leave it first.")
                    raise Conflict(message, fields={"name": [str(message)]})
            if _company_named(session, str(values["name"])):
                raise _name_taken_message()
            company = Company(created_at=now, **values)
            session.add(company)
            session.flush()
            if not actor.is_staff:
                actor.join_company(company, manager=True)
            audit.record(
                session, action="company.created", now=now, actor_id=actor.id,
                object_type="company", object_id=company.id,
                details={"name": company.name, "manager": None if actor.is_staff else actor.id},
            )
    except IntegrityError as exc:
        raise _name_taken(exc) from exc
    return company


def _name_taken_message() -> Conflict:
    message = _l("A company with this name exists already. Please choose another name.")
    return Conflict(message, fields={"name": [str(message)]})


def managed_company(session: Session, actor: User, company_id: int) -> Company:
    """The company, if the actor may manage it: NotFound for someone else's, NotManager for
    a member of it who does not manage it."""
    company = session.get(Company, company_id)
    if company is None or not (actor.is_staff or actor.company_id == company.id):
        raise NotFound()
    if not actor.can_manage(company):
        raise NotManager()
    return company


def update_company(
    session: Session, *, actor: User, company_id: int, details: CompanyDetails, now: datetime,
) -> Company:
    """Change the name and billing data (a manager or staff)."""
    values = checked_details(details)
    try:
        with write(session):
            managed_company(session, actor, company_id)
            company = locked_get(session, Company, company_id)
            if _company_named(session, str(values["name"]), other_than=company.id):
                raise _name_taken_message()
            changed = {k: v for k, v in values.items() if getattr(company, k) != v}
            for key, value in changed.items():
                setattr(company, key, value)
            if changed:
                audit.record(
                    session, action="company.updated", now=now, actor_id=actor.id,
                    object_type="company", object_id=company.id,
                    details={"changed": sorted(changed)},
                )
    except IntegrityError as exc:
        raise _name_taken(exc) from exc
    return company


# --- the team -----------------------------------------------------------------------------


def _team_member(session: Session, actor: User, company_id: int, member_id: int) -> User:
    """The member of the managed company, locked (member, then company) and fresh."""
    managed_company(session, actor, company_id)
    member = session.get(User, member_id)
    if member is None or member.company_id != company_id:
        raise NotFound()
    lock_member(session, member)
    session.refresh(member)
    if member.company_id != company_id:  # left meanwhile
        raise NotFound()
    session.refresh(actor)
    if not actor.can_manage(member.company):  # no longer a manager, meanwhile
        raise NotManager()
    return member


def _check_cap(value: int | None, field: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= CAP_MAX:
        raise _invalid(field, _l("Please enter a whole number from 0 to %(max)d, or nothing.",
                                 max=CAP_MAX))
    return value


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()  # a cap argument that leaves the cap as it is (a PATCH without it)


def set_member_caps(
    session: Session, *, actor: User, company_id: int, member_id: int,
    cap_desk_days: int | None = KEEP, cap_studio_hours: int | None = KEEP, now: datetime,
) -> User:
    """Set one member's monthly caps on the shared credit (None: the company's default;
    ``KEEP``: unchanged).

    The member row is locked first, so two managers changing one member's caps at once
    take turns: each change is audited with the value it replaced, and the last one stands.
    """
    desk = cap_desk_days if cap_desk_days is KEEP else _check_cap(cap_desk_days,
                                                                   "cap_desk_days")
    studio = (cap_studio_hours if cap_studio_hours is KEEP
              else _check_cap(cap_studio_hours, "cap_studio_hours"))
    with write(session):
        member = _team_member(session, actor, company_id, member_id)
        before = (member.company_cap_desk_days, member.company_cap_studio_hours)
        after = (before[0] if desk is KEEP else desk, before[1] if studio is KEEP else studio)
        if before == after:
            return member
        member.company_cap_desk_days, member.company_cap_studio_hours = after
        audit.record(
            session, action="company.member_caps_set", now=now, actor_id=actor.id,
            object_type="user", object_id=member.id,
            details={"company": company_id, "cap_desk_days": after[0],
                     "cap_studio_hours": after[1], "cap_desk_days_was": before[0],
                     "cap_studio_hours_was": before[1]},
        )
    return member


def _refuse_last_manager(member: User) -> None:
    """A company with other members keeps a manager: the last one hands over first."""
    company = member.company
    if company is None or not member.is_company_manager:
        return
    others = [m for m in company.members if m.id != member.id]
    if others and not any(m.is_company_manager for m in others):
        message = _l("You are the company's last manager. Make someone else a manager first.")
        raise Conflict(message)


def remove_member(
    session: Session, *, actor: User, company_id: int, member_id: int, now: datetime,
) -> User:
    """Take a member out of the company. Their bookings stay theirs; from now on they book
    on their own memberships' credit."""
    with write(session):
        member = _team_member(session, actor, company_id, member_id)
        _refuse_last_manager(member)
        member.leave_company()
        audit.record(
            session, action="company.member_removed", now=now, actor_id=actor.id,
            object_type="user", object_id=member.id, details={"company": company_id},
        )
    return member


def leave_company(session: Session, *, actor: User, now: datetime) -> None:
    """The member leaves their company (their bookings stay theirs)."""
    with write(session):
        lock_member(session, actor)
        session.refresh(actor)
        company_id = actor.company_id
        if company_id is None:
            raise NotFound()
        _refuse_last_manager(actor)
        actor.leave_company()
        audit.record(
            session, action="company.left", now=now, actor_id=actor.id,
            object_type="user", object_id=actor.id, details={"company": company_id},
        )


def set_manager(
    session: Session, *, actor: User, company_id: int, member_id: int, manager: bool,
    now: datetime,
) -> User:
    """Make a member a manager of their company, or not (staff only)."""
    if not actor.is_staff:
        raise NotFound()
    with write(session):
        member = _team_member(session, actor, company_id, member_id)
        if member.company_manager == manager:
            return member
        if not manager:
            _refuse_last_manager(member)
        member.company_manager = manager
        audit.record(
            session, action="company.manager_set", now=now, actor_id=actor.id,
            object_type="user", object_id=member.id,
            details={"company": company_id, "manager": manager},
        )
    return member


# --- invitations --------------------------------------------------------------------------


def invite(
    session: Session, *, actor: User, company_id: int, email: str, now: datetime,
    secret_key: str,
) -> CompanyInvitation:
    """Invite an address to the company: a mail with a link that works once, for 14 days.
    Inviting an address again withdraws its open invitation (the new mail's link replaces
    the old one)."""
    address = clean_email(email)
    with write(session):
        managed_company(session, actor, company_id)
        company = locked_get(session, Company, company_id)
        existing = session.scalar(select(User).where(User.email == address))
        if existing is not None and existing.company_id == company.id:
            message = _l("%(email)s belongs to the company already.", email=address)
            raise Conflict(message, fields={"email": [str(message)]})
        open_now = company.open_invitations(now)
        for old in open_now:
            if old.email == address:
                old.withdraw(now)
        sent_today = session.scalar(
            select(func.count()).select_from(CompanyInvitation).where(
                CompanyInvitation.company_id == company.id,
                CompanyInvitation.created_at > now - timedelta(days=1),
            )
        ) or 0
        if len(open_now) >= MAX_OPEN_INVITATIONS or sent_today >= MAX_INVITATIONS_PER_DAY:
            # No one is to be sent mail after mail: a bound per company, not per address.
            message = _l("Too many invitations. Please try again tomorrow, or withdraw some.")
            raise Conflict(message, fields={"email": [str(message)]})
        nonce = invitations.new_nonce()
        invitation = CompanyInvitation(
            company=company, email=address, nonce=nonce,
            digest=invitations.digest(invitations.token_for(nonce, secret_key)),
            invited_by_id=actor.id, created_at=now, expires_at=now + INVITATION_LIFETIME,
        )
        session.add(invitation)
        session.flush()
        audit.record(
            session, action="company.member_invited", now=now, actor_id=actor.id,
            object_type="company", object_id=company.id,
            details={"invitation": invitation.id, "email": address},
        )
        outbox.enqueue(session, topic="mail.company_invitation", now=now,
                       payload={"invitation_id": invitation.id},
                       user_id=existing.id if existing is not None else None)
    return invitation


def withdraw_invitation(
    session: Session, *, actor: User, company_id: int, invitation_id: int, now: datetime,
) -> None:
    with write(session):
        managed_company(session, actor, company_id)
        company = locked_get(session, Company, company_id)
        invitation = session.get(CompanyInvitation, invitation_id)
        if invitation is None or invitation.company_id != company.id:
            raise NotFound()
        if not invitation.is_open(now):
            return
        invitation.withdraw(now)
        audit.record(
            session, action="company.invitation_withdrawn", now=now, actor_id=actor.id,
            object_type="company", object_id=company.id,
            details={"invitation": invitation.id, "email": invitation.email},
        )


class InvitationProblem(Exception):
    """Why an invitation link does not work: "invalid", "used", "withdrawn" or "expired"."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def invitation_for(session: Session, token: str, *, now: datetime) -> CompanyInvitation:
    """The open invitation a link's token is for, or InvitationProblem."""
    if not invitations.plausible(token):
        raise InvitationProblem("invalid")
    invitation = session.scalar(
        select(CompanyInvitation).where(CompanyInvitation.digest == invitations.digest(token))
    )
    if invitation is None:
        raise InvitationProblem("invalid")
    state = invitation.state(now)
    if state != "open":
        raise InvitationProblem({"accepted": "used"}.get(state, state))
    return invitation


def accept_invitation(session: Session, *, actor: User, token: str, now: datetime) -> Company:
    """Join the company the link invites to. Only the account with the invited address may,
    and only while it belongs to no company."""
    with write(session):
        lock_member(session, actor)
        session.refresh(actor)
        invitation = invitation_for(session, token, now=now)
        company = locked_get(session, Company, invitation.company_id)
        session.refresh(invitation)
        if not invitation.is_open(now):  # accepted or withdrawn meanwhile
            raise InvitationProblem("used")
        if actor.email != invitation.email:
            raise NotEntitled(_l("This invitation is for another e-mail address. Please log "
                                 "in with the account of the address it was sent to."))
        if actor.company_id not in (None, company.id):
            raise Conflict(_l("You belong to another company. Leave it first, then open "
                              "the invitation again."))
        invitation.accept(actor, now)
        if actor.company_id != company.id:
            actor.join_company(company)
        audit.record(
            session, action="company.member_joined", now=now, actor_id=actor.id,
            object_type="user", object_id=actor.id,
            details={"company": company.id, "invitation": invitation.id},
        )
    return company
