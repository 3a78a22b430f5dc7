"""Members' requests for on-request tiers: staff see the open ones and confirm them (the
membership starts on a date they pick, today by default) or decline them with a reason.

Both answers are also on the member's staff page (``staff/member.html``), which posts to the
same routes and comes back to itself.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm

from ..core.clock import now
from ..core.forms import refusal_beside_fields
from ..core.urls import safe_redirect_target
from ..errors import DomainError
from ..extensions import db
from ..membership import signup
from ..membership.models import MembershipRequest
from ..membership.service import today
from . import bp, section, staff_required
from .request_forms import ConfirmRequestForm, DeclineRequestForm, request_forms


def _page(
    answered: dict[int, tuple[ConfirmRequestForm, DeclineRequestForm]] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    rows = signup.open_requests(db.session)
    forms = dict(answered or {})
    for row in rows:
        if row.id not in forms:
            forms[row.id] = request_forms(row.id, default_start=today(now()))
    return render_template(
        "staff/membership_requests.html", requests=rows, forms=forms,
    ), status


def _back() -> Response:
    return redirect(safe_redirect_target(
        request.form.get("next"), url_for("staff.membership_requests")
    ))


@bp.get("/membership-requests")
@staff_required
def membership_requests() -> tuple[str, int]:
    return _page()


def _answer(
    request_id: int, which: int, answer: Callable[[FlaskForm], MembershipRequest],
    done: Callable[[MembershipRequest], str],
) -> Response | tuple[str, int]:
    """Post one of a request's two answer forms (``which``: 0 confirm, 1 decline)."""
    forms = request_forms(request_id)
    form = forms[which]
    if form.validate_on_submit():
        try:
            answered = answer(form)
        except DomainError as exc:
            if not refusal_beside_fields(form, exc):
                return _back()
        else:
            flash(done(answered), "success")
            return _back()
    return _page({request_id: forms}, 422)


def _confirmed(r: MembershipRequest) -> str:
    if r.awaits_payment:
        return _("The request of %(name)s for %(tier)s is confirmed. We have sent them an "
                 "e-mail with the link to set up the monthly payment; the membership begins "
                 "with it.", name=r.user.name, tier=r.tier.name)
    return _("%(name)s is now a member in %(tier)s. We have sent them an e-mail.",
             name=r.user.name, tier=r.tier.name)


@bp.post("/membership-requests/<id:request_id>/confirm")
@staff_required
def confirm_membership_request(request_id: int) -> Response | tuple[str, int]:
    return _answer(
        request_id, 0,
        lambda form: signup.confirm_request(
            db.session, actor=current_user._get_current_object(), request_id=request_id,
            valid_from=form.valid_from.data, now=now(),
        ),
        _confirmed,
    )


@bp.post("/membership-requests/<id:request_id>/decline")
@staff_required
def decline_membership_request(request_id: int) -> Response | tuple[str, int]:
    return _answer(
        request_id, 1,
        lambda form: signup.decline_request(
            db.session, actor=current_user._get_current_object(), request_id=request_id,
            reason=form.reason.data or "", now=now(),
        ),
        lambda r: _("The request of %(name)s was declined. We have sent them an e-mail.",
                    name=r.user.name),
    )


section(
    _l("Membership requests"), "staff.membership_requests",
    _l("Members who asked for a tier that the team confirms: confirm or decline."),
    order=22, count=lambda: signup.open_request_count(db.session),
)
