"""Staff use cases on someone else's account: their company and their role.

Kept apart from ``service.py`` (what members do to their own account) because the permission
model differs: here the actor is staff (for the company) or an admin (for roles), and the
member row is locked like the booking engine locks it, since a company decides which credit
pool the member's bookings draw on.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..core import audit
from ..core.locking import is_unique_violation, lock_rows, write
from ..errors import Conflict, InvalidInput, NotFound
from .locks import load_member
from .models import Company, Role, User

COMPANY_NAME_MAX = 200


def find_company(session: Session, name: str) -> Company | None:
    """A company by name, ignoring case and surrounding spaces ("acme gmbh" is "ACME GmbH")."""
    return session.scalar(
        select(Company).where(func.lower(Company.name) == name.strip().lower())
    )


def set_company(
    session: Session,
    *,
    actor: User,
    member_id: int,
    now: datetime,
    company_id: int | None = None,
    new_name: str | None = None,
) -> User:
    """Put the member in an existing company, in a new one made by name, or in none.

    A new name that matches an existing company (ignoring case) joins that company rather
    than making a near-duplicate.
    """
    try:
        with write(session):
            member = load_member(session, actor, member_id)
            company, created = _chosen_company(
                session, actor=actor, company_id=company_id, new_name=new_name, now=now
            )
            if company is not None:
                lock_rows(session, Company, [company.id])
            before = member.company.name if member.company else None
            if company is None:
                member.leave_company()
            elif company.id != member.company_id:
                member.join_company(company)  # as a member; staff may make them a manager
            audit.record(
                session, action="user.company_set", now=now, actor_id=actor.id,
                object_type="user", object_id=member.id,
                details={"company": company.name if company else None, "company_was": before,
                         "created": created},
            )
    except IntegrityError as exc:
        if not is_unique_violation(exc, "company", "name"):
            raise
        # The new company was created concurrently under its name.
        message = _l("A company with this name was just created. Please choose it.")
        raise Conflict(message, fields={"new_name": [str(message)]}) from exc
    return member


def _chosen_company(
    session: Session, *, actor: User, company_id: int | None, new_name: str | None,
    now: datetime,
) -> tuple[Company | None, bool]:
    """The company the form names (made, and audited, if the new name is new), and whether
    it was made. Inside the caller's ``write`` block."""
    name = (new_name or "").strip()
    if company_id is not None and name:
        raise InvalidInput(
            _l("Choose a company or enter a new name, not both."),
            fields={"new_name": [str(_l("Choose a company or enter a new name, not both."))]},
        )
    if company_id is not None:
        company = session.get(Company, company_id)
        if company is None:
            message = _l("Please choose a company from the list.")
            raise InvalidInput(message, fields={"company": [str(message)]})
        return company, False
    if not name:
        return None, False
    if len(name) > COMPANY_NAME_MAX or "\x00" in name:
        message = _l("The name may have at most 200 characters.")
        raise InvalidInput(message, fields={"new_name": [str(message)]})
    company = find_company(session, name)
    if company is not None:
        return company, False
    company = Company(name=name, created_at=now)
    session.add(company)
    session.flush()
    audit.record(
        session, action="company.created", now=now, actor_id=actor.id,
        object_type="company", object_id=company.id, details={"name": name},
    )
    return company, True


def set_role(
    session: Session, *, actor: User, member_id: int, role: Role, now: datetime
) -> User:
    """Change a user's role. Only admins may; the last admin cannot be demoted.

    Every admin row is locked (on PostgreSQL) before counting, so two admins demoting each
    other at once cannot leave the system without one.
    """
    if not actor.is_admin:  # staff learn nothing about this action (404, like members)
        raise NotFound()
    with write(session):
        # The member and every admin in one id-ordered lock: two admins demoting each other
        # lock the same rows in the same order, so one waits for the other, not a deadlock.
        admin_ids = list(session.scalars(select(User.id).where(User.role == Role.ADMIN)))
        lock_rows(session, User, [*admin_ids, member_id])
        session.refresh(actor)
        if not actor.is_admin:  # demoted by someone else a moment ago
            raise NotFound()
        member = session.get(User, member_id)
        if member is None:
            raise NotFound()
        session.refresh(member)
        admins = session.scalar(
            select(func.count()).select_from(User).where(
                User.role == Role.ADMIN, User.is_active_account.is_(True)
            )
        ) or 0
        before = member.role
        if before is Role.ADMIN and role is not Role.ADMIN and member.is_active and admins <= 1:
            message = _l(
                "This is the last administrator. Make someone else an administrator first."
            )
            raise Conflict(message, fields={"role": [str(message)]})
        if before is role:
            return member  # nothing to change (the block commits nothing)
        member.role = role
        audit.record(
            session, action="user.role_changed", now=now, actor_id=actor.id,
            object_type="user", object_id=member.id,
            details={"role": role.value, "role_was": before.value},
        )
    return member


def set_invoice_permission(
    session: Session,
    *,
    actor: User,
    member_id: int,
    member_allowed: bool,
    company_allowed: bool | None,
    now: datetime,
) -> User:
    """Whether staff may book for the member (and bill charges) "on invoice", to be paid by
    bank transfer: for the member alone, and for their company (``company_allowed`` None:
    leave the company as it is, as for a member without one). Each change is audited."""
    with write(session):
        member = load_member(session, actor, member_id)
        if member.may_pay_on_invoice != member_allowed:
            member.may_pay_on_invoice = member_allowed
            audit.record(
                session, action="user.invoice_permission_set", now=now, actor_id=actor.id,
                object_type="user", object_id=member.id,
                details={"allowed": member_allowed},
            )
        company = member.company
        if (
            company is not None and company_allowed is not None
            and company.may_pay_on_invoice != company_allowed
        ):
            company.may_pay_on_invoice = company_allowed
            audit.record(
                session, action="company.invoice_permission_set", now=now, actor_id=actor.id,
                object_type="company", object_id=company.id,
                details={"allowed": company_allowed, "company": company.name,
                         "via_member": member.id},
            )
    return member
