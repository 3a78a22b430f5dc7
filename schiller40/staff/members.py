"""Staff member management: search members, see one member's record, change their tier,
memberships, studio inductions, company and (admins only) role.

Views parse the form, call one service and render; the rules (overlaps, dates in the past,
the last admin) live in ``membership.service`` and ``accounts.admin``. A refused change comes
back as a ``DomainError`` whose field messages are put beside the form's fields.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from ..accounts import admin
from ..accounts.models import Role, User
from ..booking import checkin, queries
from ..core.clock import now
from ..core.forms import apply_field_errors, no_nul
from ..errors import DomainError, NotFound
from ..extensions import db
from ..members import directory
from ..membership import service, signup
from ..membership.models import Membership, MembershipStatus
from ..payments import desk
from . import bp, section, staff_required
from .billing_text import member_billing_context
from .payment_labels import METHOD_LABELS, payment_state
from .request_forms import request_forms

section(
    _l("Members"),
    "staff.members",
    _l("Search members; assign tiers and memberships, grant studio inductions, set their "
       "company and see their bookings."),
    order=20,
)

ROLE_LABELS = {
    Role.MEMBER: _l("Member"),
    Role.STAFF: _l("Staff"),
    Role.ADMIN: _l("Administrator"),
}


def strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


# --- forms ------------------------------------------------------------------------------------


class SearchForm(FlaskForm):
    """The search is a GET form: its result is a page one can bookmark and share."""

    class Meta:
        csrf = False

    q = StringField(
        _l("Name, e-mail or company"), filters=[strip],
        validators=[Optional(), Length(max=200), no_nul],
    )
    tier = SelectField(_l("Current tier"), default="", validators=[Optional()])
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice("", _l("Any role"))]
        + [SelectChoice(r.value, label) for r, label in ROLE_LABELS.items()],
        default="",
        validators=[Optional()],
    )
    no_shows = BooleanField(_l("Only members with repeated no-shows (2 or more in 90 days)"))


class MembershipForm(FlaskForm):
    tier = SelectField(_l("Tier"), validators=[DataRequired(_l("Please choose a tier."))])
    valid_from = DateField(
        _l("Valid from"), validators=[InputRequired(_l("Please enter a date."))],
        description=_l("Today or later. A membership running on that day ends the day before."),
    )
    valid_until = DateField(
        _l("Valid until (optional)"), validators=[Optional()],
        description=_l("The last day, inclusive. Leave empty for a membership without end."),
    )

    def validate_valid_until(self, field: DateField) -> None:
        if field.data and self.valid_from.data and field.data < self.valid_from.data:
            raise ValidationError(_l("The end must not be before the start."))


class EndMembershipForm(FlaskForm):
    last_day = DateField(
        _l("Last day"), validators=[InputRequired(_l("Please enter a date."))],
        description=_l("The membership is in force up to and including this day."),
    )


class InductionForm(FlaskForm):
    topic = SelectField(
        _l("Induction"), validators=[DataRequired(_l("Please choose an induction."))]
    )
    trained_on = DateField(
        _l("Date of the training"), validators=[InputRequired(_l("Please enter a date."))]
    )
    note = StringField(
        _l("Note (optional)"), filters=[strip],
        validators=[Optional(), Length(max=service.NOTE_MAX), no_nul],
        description=_l("For example who gave the training. Kept in the audit log."),
    )


class CompanyForm(FlaskForm):
    company = SelectField(_l("Company"), validators=[Optional()])
    new_name = StringField(
        _l("Or a new company"), filters=[strip],
        validators=[Optional(), Length(max=admin.COMPANY_NAME_MAX), no_nul],
        description=_l("Creates the company, unless one of that name exists already."),
    )

    def validate_new_name(self, field: StringField) -> None:
        if field.data and self.company.data:
            raise ValidationError(_l("Choose a company or enter a new name, not both."))


class RoleForm(FlaskForm):
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice(r.value, label) for r, label in ROLE_LABELS.items()],
        validators=[DataRequired(_l("Please choose a role."))],
        description=_l("Staff can see and change all members and bookings; administrators "
                       "can also change roles."),
    )


class ConfirmForm(FlaskForm):
    """Only the CSRF token: a confirmation step for revoking and withdrawing."""


# --- helpers ----------------------------------------------------------------------------------


def _member(member_id: int) -> User:
    member = directory.get_member(db.session, member_id)
    if member is None:
        raise NotFound()
    return member


def _status(error: DomainError) -> int:
    return error.status if error.status in (409, 422) else 422


def membership_state(m: Membership, day: date) -> str:
    """What staff need to know of a membership today, in words (never by colour alone)."""
    if m.status is MembershipStatus.CANCELLED:
        return _("withdrawn")
    if m.status is MembershipStatus.PAUSED:
        return _("paused")
    if m.valid_from > day:
        return _("planned")
    if m.valid_until is not None and m.valid_until < day:
        return _("ended")
    return _("current")


def _induction_name(topic: str) -> str:
    """An induction as people call it (the spaces that need it), not its topic key."""
    return service.induction_names(db.session).get(topic, topic)


def _topic_choices() -> list[SelectChoice]:
    names = service.induction_names(db.session)
    choices = [SelectChoice(topic, names.get(topic, topic))
               for topic in service.induction_topics(db.session)]
    return [SelectChoice("", _l("Please choose")),
            *sorted(choices, key=lambda choice: str(choice.label).casefold())]


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and len(raw) < 7 else 1


# --- search -----------------------------------------------------------------------------------


@bp.get("/members")
@staff_required
def members() -> tuple[str, int]:
    form = SearchForm(request.args)
    tiers = directory.tiers(db.session)
    form.tier.choices = [
        SelectChoice("", _l("Any tier")), SelectChoice(directory.NO_TIER, _l("No current tier"))
    ] + [SelectChoice(str(t.id), t.name) for t in tiers]
    result = None
    status = 200
    no_shows: dict[int, int] = {}
    instant = now()
    if form.validate():
        result = directory.search_members(
            db.session,
            text=form.q.data or "",
            tier=form.tier.data or None,
            role=Role(form.role.data) if form.role.data else None,
            page=_page_number(),
            day=service.today(instant),
            among=checkin.repeated_no_show_users(instant) if form.no_shows.data else None,
        )
        no_shows = checkin.no_show_counts(
            db.session, [row.user.id for row in result.rows], now=instant)
    else:
        status = 422
    args = {k: v for k, v in request.args.items()
            if k in ("q", "tier", "role", "no_shows") and v}
    return render_template(
        "staff/members.html", form=form, result=result, args=args, role_labels=ROLE_LABELS,
        no_shows=no_shows, repeated=checkin.REPEATED_NO_SHOWS,
    ), status


# --- one member -------------------------------------------------------------------------------


@bp.get("/members/<id:member_id>")
@staff_required
def member(member_id: int) -> str:
    person = _member(member_id)
    instant = now()
    pending = signup.open_request(db.session, person.id)
    return render_template(
        "staff/member.html",
        member=person,
        today=service.today(instant),
        now=instant,
        current=person.active_membership(instant),
        upcoming=queries.list_bookings(
            db.session, viewer=current_user, now=instant, user_id=person.id, limit=200
        ),
        past=directory.past_bookings(db.session, person.id, now=instant),
        entries=directory.waitlist_entries(db.session, person.id, now=instant),
        notes=directory.induction_notes(db.session, person.id),
        induction_names=service.induction_names(db.session),
        no_shows=checkin.recent_no_shows(db.session, person.id, now=instant),
        no_show_days=checkin.NO_SHOW_WINDOW.days,
        role_labels=ROLE_LABELS,
        state=membership_state,
        pending=pending,
        pending_forms=request_forms(pending.id, default_start=service.today(instant))
        if pending else None,
        **member_billing_context(person.id),
        payments=desk.member_payments(db.session, person.id),
        method_labels=METHOD_LABELS,
        payment_state=payment_state,
    )


def _form_page(
    person: User, form: FlaskForm, *, title: str, fields: list[str], submit: str,
    status: int = 200, intro: str | None = None, extra: dict[str, Any] | None = None,
) -> tuple[str, int]:
    return render_template(
        "staff/member_form.html", member=person, form=form, title=title, fields=fields,
        submit=submit, intro=intro, **(extra or {}),
    ), status


@bp.route("/members/<id:member_id>/memberships/new", methods=["GET", "POST"])
@staff_required
def assign_tier(member_id: int) -> Response | tuple[str, int]:
    person = _member(member_id)
    form = MembershipForm()
    form.tier.choices = [SelectChoice("", _l("Please choose"))] + [
        SelectChoice(str(t.id), t.name) for t in directory.tiers(db.session) if t.is_active
    ]
    if request.method == "GET":
        form.valid_from.data = service.today(now())
    status = 200
    if form.validate_on_submit():
        try:
            membership = service.assign_tier(
                db.session, actor=current_user, member_id=person.id, tier_id=int(form.tier.data),
                valid_from=form.valid_from.data, valid_until=form.valid_until.data, now=now(),
            )
        except DomainError as error:
            if error.status == 404:
                raise
            apply_field_errors(form, error)
            status = _status(error)
        else:
            flash(_("%(name)s is in the tier %(tier)s from %(date)s.", name=person.name,
                    tier=membership.tier.name,
                    date=format_date(membership.valid_from, "medium")), "success")
            return redirect(url_for("staff.member", member_id=person.id) + "#memberships")
    elif request.method == "POST":
        status = 422
    return _form_page(
        person, form, title=_("Assign a tier"), fields=["tier", "valid_from", "valid_until"],
        submit=_("Assign tier"), status=status,
    )


def _membership(person: User, membership_id: int) -> Membership:
    found = next((m for m in person.memberships if m.id == membership_id), None)
    if found is None:
        raise NotFound()
    return found


@bp.route(
    "/members/<id:member_id>/memberships/<id:membership_id>/end", methods=["GET", "POST"]
)
@staff_required
def end_membership(member_id: int, membership_id: int) -> Response | tuple[str, int]:
    person = _member(member_id)
    membership = _membership(person, membership_id)
    form = EndMembershipForm()
    day = service.today(now())
    if request.method == "GET":
        form.last_day.data = max(day, membership.valid_from)
    status = 200
    if form.validate_on_submit():
        try:
            service.end_membership(
                db.session, actor=current_user, member_id=person.id,
                membership_id=membership.id, last_day=form.last_day.data, now=now(),
            )
        except DomainError as error:
            if error.status == 404:
                raise
            apply_field_errors(form, error)
            status = _status(error)
        else:
            flash(_("The membership ends on %(date)s.",
                    date=format_date(form.last_day.data, "medium")), "success")
            return redirect(url_for("staff.member", member_id=person.id) + "#memberships")
    elif request.method == "POST":
        status = 422
    return _form_page(
        person, form, title=_("End a membership"), fields=["last_day"],
        submit=_("Set last day"), status=status,
        extra={"membership": membership, "withdrawable": membership.valid_from > day
               and membership.status is not MembershipStatus.CANCELLED,
               "withdraw_form": ConfirmForm()},
    )


@bp.post("/members/<id:member_id>/memberships/<id:membership_id>/withdraw")
@staff_required
def withdraw_membership(member_id: int, membership_id: int) -> Response:
    person = _member(member_id)
    membership = _membership(person, membership_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash(_("The form had expired. Please try again."), "error")
        return redirect(url_for("staff.end_membership", member_id=person.id,
                                membership_id=membership.id))
    try:
        service.withdraw_membership(db.session, actor=current_user, member_id=person.id,
                                    membership_id=membership.id, now=now())
    except DomainError as error:
        if error.status == 404:
            raise
        flash(error.message, "error")
    else:
        flash(_("The planned membership was withdrawn."), "success")
    return redirect(url_for("staff.member", member_id=person.id) + "#memberships")


@bp.route("/members/<id:member_id>/inductions/new", methods=["GET", "POST"])
@staff_required
def grant_induction(member_id: int) -> Response | tuple[str, int]:
    person = _member(member_id)
    form = InductionForm()
    form.topic.choices = _topic_choices()
    if request.method == "GET":
        form.trained_on.data = service.today(now())
    status = 200
    if form.validate_on_submit():
        try:
            induction = service.grant_induction(
                db.session, actor=current_user, member_id=person.id, topic=form.topic.data,
                trained_on=form.trained_on.data, note=form.note.data or "", now=now(),
            )
        except DomainError as error:
            if error.status == 404:
                raise
            apply_field_errors(form, error)
            status = _status(error)
        else:
            flash(_("%(name)s may now book what needs the induction “%(topic)s”.",
                    name=person.name, topic=_induction_name(induction.topic)), "success")
            return redirect(url_for("staff.member", member_id=person.id) + "#inductions")
    elif request.method == "POST":
        status = 422
    return _form_page(
        person, form, title=_("Grant an induction"), fields=["topic", "trained_on", "note"],
        submit=_("Grant induction"), status=status,
        intro=_("Only trained members may book a studio that requires an induction."),
    )


@bp.route(
    "/members/<id:member_id>/inductions/<id:induction_id>/revoke", methods=["GET", "POST"]
)
@staff_required
def revoke_induction(member_id: int, induction_id: int) -> Response | tuple[str, int]:
    person = _member(member_id)
    induction = next((i for i in person.inductions if i.id == induction_id), None)
    if induction is None:
        raise NotFound()
    form = ConfirmForm()
    if form.validate_on_submit():
        topic = service.revoke_induction(
            db.session, actor=current_user, member_id=person.id, induction_id=induction.id,
            now=now(),
        )
        flash(_("The induction “%(topic)s” was revoked.", topic=_induction_name(topic)), "success")
        return redirect(url_for("staff.member", member_id=person.id) + "#inductions")
    affected = [
        b for b in queries.list_bookings(
            db.session, viewer=current_user, now=now(), user_id=person.id, limit=200
        )
        if b.is_active and b.resource.induction == induction.topic
    ]
    return render_template(
        "staff/member_confirm.html", member=person, form=form, induction=induction,
        affected=affected, induction_name=_induction_name(induction.topic),
    ), 422 if request.method == "POST" else 200


@bp.route("/members/<id:member_id>/company", methods=["GET", "POST"])
@staff_required
def set_company(member_id: int) -> Response | tuple[str, int]:
    person = _member(member_id)
    form = CompanyForm()
    form.company.choices = [SelectChoice("", _l("No company"))] + [
        SelectChoice(str(c.id), c.name) for c in directory.companies(db.session)
    ]
    if request.method == "GET":
        form.company.data = str(person.company_id) if person.company_id else ""
    status = 200
    if form.validate_on_submit():
        try:
            updated = admin.set_company(
                db.session, actor=current_user, member_id=person.id, now=now(),
                company_id=int(form.company.data) if form.company.data else None,
                new_name=form.new_name.data or None,
            )
        except DomainError as error:
            if error.status == 404:
                raise
            apply_field_errors(form, error)
            status = _status(error)
        else:
            if updated.company is None:
                flash(_("%(name)s belongs to no company now.", name=updated.name), "success")
            else:
                flash(_("%(name)s belongs to %(company)s now.", name=updated.name,
                        company=updated.company.name), "success")
            return redirect(url_for("staff.member", member_id=person.id))
    elif request.method == "POST":
        status = 422
    return _form_page(
        person, form, title=_("Set the company"), fields=["company", "new_name"],
        submit=_("Save company"), status=status,
        intro=_("Members of a company share the included credit of all their memberships."),
    )


@bp.route("/members/<id:member_id>/role", methods=["GET", "POST"])
@staff_required
def set_role(member_id: int) -> Response | tuple[str, int]:
    if not current_user.is_admin:
        raise NotFound()
    person = _member(member_id)
    form = RoleForm()
    if request.method == "GET":
        form.role.data = person.role.value
    status = 200
    if form.validate_on_submit():
        try:
            updated = admin.set_role(
                db.session, actor=current_user, member_id=person.id,
                role=Role(form.role.data), now=now(),
            )
        except DomainError as error:
            if error.status == 404:
                raise
            apply_field_errors(form, error)
            status = _status(error)
        else:
            flash(_("%(name)s is now: %(role)s.", name=updated.name,
                    role=ROLE_LABELS[updated.role]), "success")
            return redirect(url_for("staff.member", member_id=person.id))
    elif request.method == "POST":
        status = 422
    return _form_page(
        person, form, title=_("Change the role"), fields=["role"], submit=_("Save role"),
        status=status,
    )
