"""Members sign themselves up: choose a self-service tier, or ask for an on-request one that
staff then confirm or decline.

How a tier may be had is its ``signup_mode`` (see ``Tier``): ``self_service`` without a
monthly fee is chosen here and in force at once (the member pays per booking); with a
monthly fee it is a subscription, which ``billing`` handles; ``on_request`` is asked for here
and confirmed by staff; ``staff_only`` is assigned by staff (``service.assign_tier``).

Each use case owns its transaction, locks the member first (the lock the booking engine takes
before it reads a member's tier), records an audit entry and queues the member's mail through
the outbox. The actor and the clock are arguments. A request is a ``MembershipRequest``, never
a ``Membership``, so nothing that reads memberships can take it for one in force.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..accounts.locks import lock_member
from ..accounts.models import User
from ..core import audit, outbox
from ..core.locking import is_unique_violation, locked_get, write
from ..errors import Conflict, DomainError, InvalidInput, NotFound
from . import service
from .models import (
    Membership,
    MembershipRequest,
    MembershipStatus,
    RequestStatus,
    SignupMode,
    Tier,
)
from .service import OCCUPYING, today

WELCOME_TOPIC = "mail.membership_welcome"
CONFIRMED_TOPIC = "mail.membership_request_confirmed"
DECLINED_TOPIC = "mail.membership_request_declined"
MESSAGE_MAX = 1000

SIGNUP_MODE_LABELS: dict[SignupMode, Any] = {
    SignupMode.SELF_SERVICE: _l("Online: members choose it themselves"),
    SignupMode.ON_REQUEST: _l("On request: members ask, staff confirm"),
    SignupMode.STAFF_ONLY: _l("Only through the team"),
}
# What the price list says about a tier, for people choosing one.
SIGNUP_MODE_PUBLIC: dict[SignupMode, Any] = {
    SignupMode.SELF_SERVICE: _l("Online bookable"),
    SignupMode.ON_REQUEST: _l("on request"),
    SignupMode.STAFF_ONLY: _l("only through the team"),
}


def notice_text(days: int) -> str:
    """The notice period in words: "to the end of a month, 14 days' notice"."""
    if days == 0:
        return str(_l("to the end of any month"))
    return ngettext(
        "to the end of a month, %(num)d day's notice",
        "to the end of a month, %(num)d days' notice", days,
    )


class AlreadyMember(Conflict):
    code = "already_member"
    default_message = _l("You already have a membership. To change your tier, please ask the "
                         "Schiller40 team.")


class NotOffered(DomainError):
    """The tier cannot be had this way (any more): its mode changed, or it was withdrawn."""

    code = "not_offered"
    status = 422
    default_message = _l("This tier cannot be chosen online. Please ask the Schiller40 team.")


class RequestOpen(Conflict):
    code = "request_open"


class RequestDecided(Conflict):
    code = "request_decided"
    default_message = _l("This request has already been answered.")


def _field(name: str, message: Any) -> InvalidInput:
    return InvalidInput(message, fields={name: [str(message)]})


# --- reads ------------------------------------------------------------------------------------


def current_and_planned(session: Session, user_id: int, day: date) -> list[Membership]:
    """The member's memberships in force on ``day`` or planned after it, earliest first."""
    rows = session.scalars(
        select(Membership)
        .where(Membership.user_id == user_id, Membership.status.in_(OCCUPYING))
        .options(selectinload(Membership.tier))
        .order_by(Membership.valid_from, Membership.id)
    )
    return [m for m in rows if m.valid_until is None or m.valid_until >= day]


def open_request(session: Session, user_id: int) -> MembershipRequest | None:
    return session.scalar(
        select(MembershipRequest)
        .where(MembershipRequest.user_id == user_id,
               MembershipRequest.status == RequestStatus.OPEN)
        .options(selectinload(MembershipRequest.tier))
    )


def last_decided(session: Session, user_id: int) -> MembershipRequest | None:
    """The member's latest answered request (the page says how it was answered)."""
    return session.scalar(
        select(MembershipRequest)
        .where(MembershipRequest.user_id == user_id,
               MembershipRequest.status != RequestStatus.OPEN)
        .order_by(MembershipRequest.decided_at.desc(), MembershipRequest.id.desc())
        .limit(1)
    )


def awaiting_payment(
    session: Session, user_id: int, tier_id: int | None = None
) -> MembershipRequest | None:
    """The member's confirmed, not yet used request for a tier with a monthly fee (for
    ``tier_id`` if given): it lets them subscribe to that tier although it is on request."""
    query = (
        select(MembershipRequest)
        .join(Tier, Tier.id == MembershipRequest.tier_id)
        .where(MembershipRequest.user_id == user_id,
               MembershipRequest.status == RequestStatus.CONFIRMED,
               MembershipRequest.membership_id.is_(None),
               Tier.monthly_price_cents > 0)
        .options(selectinload(MembershipRequest.tier))
        .order_by(MembershipRequest.decided_at.desc(), MembershipRequest.id.desc())
        .limit(1)
    )
    if tier_id is not None:
        query = query.where(MembershipRequest.tier_id == tier_id)
    return session.scalar(query)


def open_requests(session: Session) -> list[MembershipRequest]:
    """Every open request, oldest first (the order staff answer them in)."""
    return list(session.scalars(
        select(MembershipRequest)
        .where(MembershipRequest.status == RequestStatus.OPEN)
        .options(selectinload(MembershipRequest.tier), selectinload(MembershipRequest.user))
        .order_by(MembershipRequest.created_at, MembershipRequest.id)
    ))


def open_request_count(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(MembershipRequest)
        .where(MembershipRequest.status == RequestStatus.OPEN)
    ) or 0


# --- the member -------------------------------------------------------------------------------


def _lock_self(session: Session, member: User) -> User:
    lock_member(session, member)
    session.refresh(member)  # anything read before the lock may be stale
    if member.is_deleted:
        raise NotFound()
    return member


def _offered(session: Session, tier_id: int) -> Tier:
    tier = session.get(Tier, tier_id)
    if tier is None or not tier.is_active:
        raise NotFound()
    return tier


def choose_tier(session: Session, *, member: User, tier_id: int, now: datetime) -> Membership:
    """The member takes a self-service tier without a monthly fee: a membership from today,
    open-ended, in force at once. Refused if the member already has a membership in force or
    planned (a change of tier goes through the team)."""
    with write(session):
        member = _lock_self(session, member)
        tier = _offered(session, tier_id)
        if not tier.chosen_online:
            raise NotOffered()
        first_day = today(now)
        if current_and_planned(session, member.id, first_day):
            raise AlreadyMember()
        membership = Membership(
            user=member, tier=tier, valid_from=first_day, valid_until=None,
            status=MembershipStatus.ACTIVE, created_at=now,
        )
        session.add(membership)
        session.flush()
        audit.record(
            session, action="membership.chosen", now=now, actor_id=member.id,
            object_type="user", object_id=member.id,
            details={"membership": membership.id, "tier": tier.slug,
                     "valid_from": first_day.isoformat()},
        )
        outbox.enqueue(session, topic=WELCOME_TOPIC, now=now, user_id=member.id,
                       payload={"membership_id": membership.id})
    return membership


def _already_asked(existing: MembershipRequest) -> RequestOpen:
    return RequestOpen(_l(
        "You have already asked for %(tier)s. Please wait for the team's answer.",
        tier=existing.tier.name,
    ))


def request_tier(
    session: Session, *, member: User, tier_id: int, message: str, now: datetime
) -> MembershipRequest:
    """The member asks for an on-request tier, with an optional message for the team.

    One open request per member: the same request sent twice (a double click, a reload) is
    the same request; the database's partial unique index backs that up should two
    transactions ever get past the member lock together.
    """
    message = (message or "").strip()
    if len(message) > MESSAGE_MAX or "\x00" in message:
        raise _field("message", _l("At most %(n)d characters.", n=MESSAGE_MAX))
    member_id = member.id
    try:
        with write(session):
            member = _lock_self(session, member)
            tier = _offered(session, tier_id)
            if not tier.requested_online:
                raise NotOffered()
            existing = open_request(session, member.id)
            if existing is not None:
                # The same request sent twice (a double click, a reload) is the first one;
                # another tier is refused: one open request at a time.
                if existing.tier_id == tier.id:
                    return existing
                raise _already_asked(existing)
            held = current_and_planned(session, member.id, today(now))
            if any(m.tier_id == tier.id for m in held):
                raise AlreadyMember(_l("You already have this tier."))
            request = MembershipRequest(
                user=member, tier=tier, message=message, status=RequestStatus.OPEN,
                created_at=now, decline_reason="",
            )
            session.add(request)
            session.flush()
            audit.record(
                session, action="membership.requested", now=now, actor_id=member.id,
                object_type="user", object_id=member.id,
                details={"request": request.id, "tier": tier.slug, "note": message},
            )
    except IntegrityError as exc:
        if not is_unique_violation(exc, "membership_request", "user_id"):
            raise
        existing = open_request(session, member_id)  # the other submit won
        if existing is None:
            raise
        if existing.tier_id == tier_id:
            return existing
        raise _already_asked(existing) from exc
    return request


# --- staff ------------------------------------------------------------------------------------


def _open_for_staff(session: Session, actor: User, request_id: int) -> MembershipRequest:
    if not actor.is_staff:
        raise NotFound()
    request = session.get(MembershipRequest, request_id)
    if request is None:
        raise NotFound()
    lock_member(session, request.user)
    request = locked_get(session, MembershipRequest, request_id)
    session.refresh(request)
    if not request.is_open:
        raise RequestDecided()
    return request


def confirm_request(
    session: Session, *, actor: User, request_id: int, valid_from: date, now: datetime
) -> MembershipRequest:
    """Staff confirm a request from ``valid_from`` (today or later). The member gets a mail.

    A fee-less tier: the membership starts on ``valid_from``, open-ended, exactly as if staff
    had assigned the tier (``service.assign_tier``: one that runs then ends the day before).
    A tier with a monthly fee: no membership yet; the member sets up the monthly payment
    (``billing``), whose first activation starts the membership and uses the confirmation.
    """
    with write(session):
        request = _open_for_staff(session, actor, request_id)
        membership: Membership | None = None
        if request.tier.monthly_price_cents > 0:
            if not request.tier.is_active:
                raise _field("tier", _l("This tier is no longer offered."))
            service.check_start(valid_from, now)
            request.confirm_for_payment(by=actor, starts_on=valid_from, now=now)
        else:
            membership = service.assign_tier(
                session, actor=actor, member_id=request.user_id, tier_id=request.tier_id,
                valid_from=valid_from, valid_until=None, now=now,
            )
            request.confirm(by=actor, membership=membership, now=now)
        audit.record(
            session, action="membership.request_confirmed", now=now, actor_id=actor.id,
            object_type="user", object_id=request.user_id,
            details={"request": request.id, "tier": request.tier.slug,
                     "membership": membership.id if membership else None,
                     "monthly_payment": membership is None,
                     "valid_from": valid_from.isoformat()},
        )
        outbox.enqueue(session, topic=CONFIRMED_TOPIC, now=now, user_id=request.user_id,
                       payload={"request_id": request.id})
    return request


def decline_request(
    session: Session, *, actor: User, request_id: int, reason: str, now: datetime
) -> MembershipRequest:
    """Staff decline a request with a reason, which the member reads in the mail."""
    reason = (reason or "").strip()
    if not reason:
        raise _field("reason", _l("Please tell the member why."))
    if len(reason) > MESSAGE_MAX or "\x00" in reason:
        raise _field("reason", _l("At most %(n)d characters.", n=MESSAGE_MAX))
    with write(session):
        request = _open_for_staff(session, actor, request_id)
        request.decline(by=actor, reason=reason, now=now)
        audit.record(
            session, action="membership.request_declined", now=now, actor_id=actor.id,
            object_type="user", object_id=request.user_id,
            details={"request": request.id, "tier": request.tier.slug, "reason": reason},
        )
        outbox.enqueue(session, topic=DECLINED_TOPIC, now=now, user_id=request.user_id,
                       payload={"request_id": request.id})
    return request

