"""Everything under ``/company``: the member's company page (the team, its use of the shared
credit per month, inviting and removing members, each member's caps; the billing data),
founding a company from the account, leaving it, and the link of an invitation.

Managers see and change the team; every other member sees the company and may leave it.
A member of no company is offered to found one. The use per month reaches the bookings, so
these pages live in ``members``, above ``accounts`` and ``booking``.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask import current_app as app
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from ..accounts import companies
from ..accounts.company_forms import CapsForm, CompanyDetailsForm, InviteForm
from ..core.clock import now
from ..core.forms import apply_field_errors
from ..errors import DomainError, NotFound
from ..extensions import db
from .team import team_use

bp = Blueprint("company", __name__)


def _me():  # the logged-in user's row, not the proxy
    return current_user._get_current_object()


def _month() -> date | None:
    """``?month=2026-11``; anything else is this month."""
    text = request.args.get("month", "")
    try:
        year, month = (int(p) for p in text.split("-"))
        return date(year, month, 1) if 2000 <= year <= 2099 else None
    except ValueError:
        return None


def _page(*, invite_form: InviteForm | None = None, status: int = 200) -> tuple[str, int]:
    me = _me()
    company = me.company
    team = None
    caps_forms = {}
    if company is not None and me.is_company_manager:
        team = team_use(db.session, actor=me, company_id=company.id, now=now(), month=_month())
        for row in team.rows:
            form = CapsForm(prefix=f"m{row.member.id}", formdata=None)
            form.cap_desk_days.data = row.member.company_cap_desk_days
            form.cap_studio_hours.data = row.member.company_cap_studio_hours
            caps_forms[row.member.id] = form
    return render_template(
        "company/index.html", company=company, team=team, caps_forms=caps_forms,
        invite_form=invite_form or InviteForm(), now=now(),
        format_decimal=format_decimal,
    ), status


@bp.get("/company")
@login_required
def index() -> tuple[str, int]:
    return _page()


@bp.route("/company/new", methods=["GET", "POST"])
@login_required
def new() -> str | tuple[str, int] | Response:
    """Found a company: the member becomes its first manager."""
    if current_user.company_id is not None:
        return redirect(url_for("company.index"))
    form = CompanyDetailsForm()
    if form.validate_on_submit():
        try:
            companies.create_company(db.session, actor=_me(), details=form.details(), now=now())
        except DomainError as exc:
            apply_field_errors(form, exc)
        else:
            flash(_("Your company is set up. You manage it: invite your team below."),
                  "success")
            return redirect(url_for("company.index"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("company/details.html", form=form, founding=True), status


def _managed():
    me = _me()
    if me.company is None:
        raise NotFound()
    return me, companies.managed_company(db.session, me, me.company_id)


@bp.route("/company/details", methods=["GET", "POST"])
@login_required
def details() -> str | tuple[str, int] | Response:
    me, company = _managed()
    form = CompanyDetailsForm(obj=company if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            companies.update_company(db.session, actor=me, company_id=company.id,
                                     details=form.details(), now=now())
        except DomainError as exc:
            apply_field_errors(form, exc)
        else:
            flash(_("The company's details have been saved."), "success")
            return redirect(url_for("company.index"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("company/details.html", form=form, founding=False), status


@bp.post("/company/invite")
@login_required
def invite() -> tuple[str, int] | Response:
    me, company = _managed()
    form = InviteForm()
    if form.validate_on_submit():
        try:
            companies.invite(db.session, actor=me, company_id=company.id,
                             email=form.email.data, now=now(),
                             secret_key=app.config["SECRET_KEY"])
        except DomainError as exc:
            apply_field_errors(form, exc)
        else:
            flash(_("We have sent an invitation to %(email)s.", email=form.email.data),
                  "success")
            return redirect(url_for("company.index") + "#invitations")
    return _page(invite_form=form, status=422)


@bp.post("/company/invitations/<id:invitation_id>/withdraw")
@login_required
def withdraw_invitation(invitation_id: int) -> Response:
    me, company = _managed()
    companies.withdraw_invitation(db.session, actor=me, company_id=company.id,
                                  invitation_id=invitation_id, now=now())
    flash(_("The invitation is withdrawn; its link no longer works."), "success")
    return redirect(url_for("company.index") + "#invitations")


@bp.post("/company/members/<id:member_id>/caps")
@login_required
def set_caps(member_id: int) -> tuple[str, int] | Response:
    me, company = _managed()
    form = CapsForm(prefix=f"m{member_id}")
    if form.validate_on_submit():
        try:
            member = companies.set_member_caps(
                db.session, actor=me, company_id=company.id, member_id=member_id,
                cap_desk_days=form.cap_desk_days.data,
                cap_studio_hours=form.cap_studio_hours.data, now=now(),
            )
        except DomainError as exc:
            if exc.status == 404:
                raise
            flash(exc.message, "error")
        else:
            flash(_("The caps of %(name)s have been saved.", name=member.name), "success")
            return redirect(url_for("company.index") + "#team")
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
    return redirect(url_for("company.index") + "#team")


@bp.post("/company/members/<id:member_id>/remove")
@login_required
def remove_member(member_id: int) -> Response:
    me, company = _managed()
    try:
        member = companies.remove_member(db.session, actor=me, company_id=company.id,
                                         member_id=member_id, now=now())
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "error")
        return redirect(url_for("company.index") + "#team")
    if member.id == me.id:
        flash(_("You have left the company."), "success")
    else:
        flash(_("%(name)s is no longer a member of the company.", name=member.name), "success")
    return redirect(url_for("company.index"))


@bp.post("/company/leave")
@login_required
def leave() -> Response:
    try:
        companies.leave_company(db.session, actor=_me(), now=now())
    except DomainError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "error")
    else:
        flash(_("You have left the company. Your bookings stay yours."), "success")
    return redirect(url_for("company.index"))


def _private(body: str, status: int) -> Response:
    """Opened by a secret link: never cached, the link never sent on as a referrer."""
    response = Response(body, status=status, mimetype="text/html")
    response.cache_control.no_store = True
    response.cache_control.private = True
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/company/join/<token>", methods=["GET", "POST"])
def invitation(token: str) -> Response:
    """The link in the invitation mail: who invites to what, and how to accept (log in, or
    register first, with the invited address)."""
    try:
        found = companies.invitation_for(db.session, token, now=now())
    except companies.InvitationProblem as exc:
        return _private(render_template("company/invitation_problem.html",
                                        reason=exc.reason), 400)
    if request.method == "POST":
        if not current_user.is_authenticated:
            return redirect(url_for("accounts.login", next=request.path))
        try:
            joined = companies.accept_invitation(db.session, actor=_me(), token=token,
                                                 now=now())
        except companies.InvitationProblem as exc:
            return _private(render_template("company/invitation_problem.html",
                                            reason=exc.reason), 400)
        except DomainError as exc:
            flash(exc.message, "error")
            return redirect(request.path)
        flash(_("Welcome to %(company)s.", company=joined.name), "success")
        return redirect(url_for("company.index"))
    return _private(render_template("company/invitation.html", invitation=found), 200)
