"""Staff use cases on a member's memberships and studio inductions.

Each function owns its transaction (one ``write`` block): it takes the write lock, locks the
member row (the same lock the booking engine takes before it checks a member's tier, quota
and inductions, so a booking never runs against a half-changed membership), re-reads what it
needs, checks the rules, writes, records an audit entry and commits. A refusal raised inside
the block rolls everything back. The actor and the clock are arguments.

Dates here are local calendar days (Europe/Berlin); ``valid_until`` is inclusive, as on the
``Membership`` model.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..accounts.locks import load_member
from ..accounts.models import User
from ..core import audit
from ..core.locking import is_unique_violation, write
from ..core.time import local_datetime, to_local
from ..errors import Conflict, InvalidInput, NotFound
from ..resources.models import Resource
from .models import Induction, Membership, MembershipStatus, Tier

# No membership is planned beyond this: it keeps date arithmetic (and typos like 20226) sane.
LAST_DAY = date(2099, 12, 31)
# How far back a training may be recorded (a typo guard, not a business rule).
OLDEST_INDUCTION = date(2000, 1, 1)
NOTE_MAX = 500

# Memberships that occupy their span; a cancelled one never took (or no longer takes) effect.
OCCUPYING = (MembershipStatus.ACTIVE, MembershipStatus.PAUSED)


def _field(name: str, message: Any) -> InvalidInput:
    return InvalidInput(message, fields={name: [str(message)]})


def today(now: datetime) -> date:
    return to_local(now).date()


def induction_topics(session: Session) -> list[str]:
    """The inductions resources require: the only topics worth granting.

    Inactive resources count too, so a studio taken out of service for a while does not make
    its trained members' records look meaningless.
    """
    return list(
        session.scalars(
            select(Resource.induction)
            .where(Resource.induction.is_not(None))
            .distinct()
            .order_by(Resource.induction)
        )
    )


def induction_names(session: Session) -> dict[str, str]:
    """What people call each induction: the names of the spaces that require it
    ("AR/VR-Studio"), not its topic key ("ar-vr-studio"), which only the resource form needs.

    A topic no space requires any more (a member may still hold it) is not here: shown by
    its key (``names.get(topic, topic)``), the only thing left to say about it.
    """
    names: dict[str, list[str]] = {}
    for topic, name in session.execute(
        select(Resource.induction, Resource.name)
        .where(Resource.induction.is_not(None))
        .order_by(Resource.position, Resource.name)
    ):
        names.setdefault(topic, []).append(name)
    return {topic: ", ".join(spaces) for topic, spaces in names.items()}


# --- memberships ------------------------------------------------------------------------------


def _overlaps(m: Membership, first: date, last: date | None) -> bool:
    ends = m.valid_until or LAST_DAY
    return m.valid_from <= (last or LAST_DAY) and first <= ends


def check_start(valid_from: date, now: datetime) -> None:
    """A membership starts today or later, before the year 2100."""
    if valid_from < today(now):
        raise _field("valid_from", _l("A membership cannot start in the past."))
    if valid_from > LAST_DAY:
        raise _field("valid_from", _l("Please choose a date before the year 2100."))


def assign_tier(
    session: Session,
    *,
    actor: User,
    member_id: int,
    tier_id: int,
    valid_from: date,
    valid_until: date | None,
    now: datetime,
) -> Membership:
    """Start a membership in a tier from ``valid_from`` (until ``valid_until``, inclusive).

    A membership that began earlier and would still run on ``valid_from`` ends the day before,
    so a member is never in two tiers on one day (an upgrade from today: the old tier ends
    yesterday). A membership already planned to start on or after ``valid_from`` is refused
    rather than silently cut: staff should look at it and end it first. Bookings made under
    the old tier stay as they are.
    """
    with write(session):
        member = load_member(session, actor, member_id)
        tier = session.get(Tier, tier_id)
        if tier is None:
            raise _field("tier", _l("Please choose a tier."))
        if not tier.is_active:
            raise _field("tier", _l("This tier is no longer offered."))
        check_start(valid_from, now)
        if valid_until is not None:
            if valid_until < valid_from:
                raise _field("valid_until", _l("The end must not be before the start."))
            if valid_until > LAST_DAY:
                raise _field("valid_until", _l("Please choose a date before the year 2100."))

        membership = place_membership(
            session, member=member, tier=tier, valid_from=valid_from,
            valid_until=valid_until, now=now, actor_id=actor.id,
        )
    return membership


def place_membership(
    session: Session, *, member: User, tier: Tier, valid_from: date, valid_until: date | None,
    now: datetime, actor_id: int | None, subscription_id: int | None = None,
    paid_through: date | None = None,
) -> Membership:
    """Add a membership from ``valid_from``, ending the day before any that began earlier
    and would still run then; refuse (``Conflict``) if one is planned to start on or after
    ``valid_from``. Inside the caller's ``write`` block, the member locked. ``subscription_id``
    and ``paid_through``: a membership paid monthly (``billing``)."""
    others = [
        m for m in member.memberships
        if m.status in OCCUPYING and _overlaps(m, valid_from, valid_until)
    ]
    later = [m for m in others if m.valid_from >= valid_from]
    if later:
        planned = min(later, key=lambda m: m.valid_from)
        message = _l(
            "The membership in %(tier)s from %(date)s overlaps this one. End it first, or "
            "start this one later.",
            tier=planned.tier.name, date=format_date(planned.valid_from, "medium"),
        )
        raise Conflict(message, fields={"valid_from": [str(message)]})

    ended: list[dict[str, Any]] = []
    for previous in others:  # began before valid_from: end it the day before
        old_until = previous.valid_until
        previous.valid_until = valid_from - timedelta(days=1)
        ended.append({"membership": previous.id, "tier": previous.tier.slug,
                      "valid_until_was": old_until.isoformat() if old_until else None,
                      "valid_until": previous.valid_until.isoformat()})
        audit.record(
            session, action="membership.ended", now=now, actor_id=actor_id,
            object_type="user", object_id=member.id,
            details={"membership": previous.id, "tier": previous.tier.slug,
                     "valid_until": previous.valid_until.isoformat(),
                     "valid_until_was": old_until.isoformat() if old_until else None,
                     "reason": "superseded"},
        )
    membership = Membership(
        user=member, tier=tier, valid_from=valid_from, valid_until=valid_until,
        status=MembershipStatus.ACTIVE, created_at=now,
        subscription_id=subscription_id, paid_through=paid_through,
    )
    session.add(membership)
    session.flush()
    audit.record(
        session, action="membership.assigned", now=now, actor_id=actor_id,
        object_type="user", object_id=member.id,
        details={"membership": membership.id, "tier": tier.slug,
                 "valid_from": valid_from.isoformat(),
                 "valid_until": valid_until.isoformat() if valid_until else None,
                 "subscription": subscription_id, "ended": ended},
    )
    return membership


def _own_membership(member: User, membership_id: int) -> Membership:
    membership = next((m for m in member.memberships if m.id == membership_id), None)
    if membership is None:
        raise NotFound()
    return membership


def end_membership(
    session: Session,
    *,
    actor: User,
    member_id: int,
    membership_id: int,
    last_day: date,
    now: datetime,
) -> Membership:
    """Set a membership's last day (inclusive).

    The last day may be today (the member may still book today's desk) but not in the past:
    bookings and credit already counted against those days would no longer match. Moving the
    end later is allowed too (to correct a mistake), as long as it does not run into another
    membership.
    """
    with write(session):
        member = load_member(session, actor, member_id)
        membership = _own_membership(member, membership_id)
        if membership.status is MembershipStatus.CANCELLED:
            raise _field("last_day", _l("This membership was withdrawn; it cannot be ended."))
        if membership.valid_until is not None and membership.valid_until < today(now):
            raise _field("last_day", _l("This membership has already ended."))
        if last_day < today(now):
            raise _field("last_day", _l("The last day cannot be in the past."))
        if last_day < membership.valid_from:
            raise _field(
                "last_day",
                _l("The last day cannot be before the membership starts (%(date)s).",
                   date=format_date(membership.valid_from, "medium")),
            )
        if last_day > LAST_DAY:
            raise _field("last_day", _l("Please choose a date before the year 2100."))
        clash = next(
            (m for m in member.memberships
             if m.id != membership.id and m.status in OCCUPYING
             and _overlaps(m, membership.valid_from, last_day)),
            None,
        )
        if clash is not None:
            message = _l(
                "Until then the membership in %(tier)s from %(date)s would overlap this one.",
                tier=clash.tier.name, date=format_date(clash.valid_from, "medium"),
            )
            raise Conflict(message, fields={"last_day": [str(message)]})
        old_until = membership.valid_until
        membership.valid_until = last_day
        audit.record(
            session, action="membership.ended", now=now, actor_id=actor.id,
            object_type="user", object_id=member.id,
            details={"membership": membership.id, "tier": membership.tier.slug,
                     "valid_until": last_day.isoformat(),
                     "valid_until_was": old_until.isoformat() if old_until else None},
        )
    return membership


def withdraw_membership(
    session: Session, *, actor: User, member_id: int, membership_id: int, now: datetime
) -> Membership:
    """Withdraw a membership that has not started yet (it never takes effect).

    One that has started is ended instead, so the history keeps the days it was in force.
    """
    with write(session):
        member = load_member(session, actor, member_id)
        membership = _own_membership(member, membership_id)
        if membership.status is MembershipStatus.CANCELLED:
            raise InvalidInput(_l("This membership was already withdrawn."))
        if membership.valid_from <= today(now):
            raise InvalidInput(
                _l("This membership has already started; set its last day instead.")
            )
        membership.status = MembershipStatus.CANCELLED
        audit.record(
            session, action="membership.withdrawn", now=now, actor_id=actor.id,
            object_type="user", object_id=member.id,
            details={"membership": membership.id, "tier": membership.tier.slug,
                     "valid_from": membership.valid_from.isoformat()},
        )
    return membership


# --- inductions -------------------------------------------------------------------------------


def _already_trained() -> Conflict:
    message = _l("This member already has this induction.")
    return Conflict(message, fields={"topic": [str(message)]})


def grant_induction(
    session: Session,
    *,
    actor: User,
    member_id: int,
    topic: str,
    trained_on: date,
    note: str = "",
    now: datetime,
) -> Induction:
    """Record that the member was trained for a studio, which lets them book it.

    The model keeps no note; the note (who trained them, anything to remember) goes into the
    audit entry, where the member page reads it from.
    """
    try:
        with write(session):
            member = load_member(session, actor, member_id)
            topic = topic.strip()
            note = note.strip()
            if topic not in induction_topics(session):
                raise _field("topic", _l("Please choose an induction a studio requires."))
            first_day = today(now)
            if trained_on > first_day:
                raise _field("trained_on", _l("The training date cannot be in the future."))
            if trained_on < OLDEST_INDUCTION:
                raise _field("trained_on", _l("Please check the year of the training date."))
            if len(note) > NOTE_MAX or "\x00" in note:
                raise _field("note", _l("The note may have at most 500 characters."))
            if any(i.topic == topic for i in member.inductions):
                raise _already_trained()
            # Today's grant keeps its exact time; an earlier training is dated at local noon,
            # which reads as the same calendar day in any European time zone.
            granted_at = (
                now if trained_on == first_day else local_datetime(trained_on, time(12))
            )
            induction = Induction(
                user=member, topic=topic, granted_by_id=actor.id, granted_at=granted_at
            )
            session.add(induction)
            session.flush()
            audit.record(
                session, action="induction.granted", now=now, actor_id=actor.id,
                object_type="user", object_id=member.id,
                details={"induction": induction.id, "topic": topic,
                         "trained_on": trained_on.isoformat(), "note": note},
            )
    except IntegrityError as exc:
        if not is_unique_violation(exc, "induction", "user_id", "topic"):
            raise
        raise _already_trained() from exc  # a concurrent grant of the same topic won
    return induction


def revoke_induction(
    session: Session, *, actor: User, member_id: int, induction_id: int, now: datetime
) -> str:
    """Withdraw an induction: the member can no longer book studios that require it.

    Bookings already made stay; staff decide about those one by one (the member page lists
    them). Returns the topic that was revoked.
    """
    with write(session):
        member = load_member(session, actor, member_id)
        induction = next((i for i in member.inductions if i.id == induction_id), None)
        if induction is None:
            raise NotFound()
        topic = induction.topic
        details = {"induction": induction.id, "topic": topic,
                   "granted_at": induction.granted_at.isoformat()}
        member.inductions.remove(induction)
        session.delete(induction)
        audit.record(
            session, action="induction.revoked", now=now, actor_id=actor.id,
            object_type="user", object_id=member.id, details=details,
        )
    return topic
