"""Staff pages for membership tiers: everyone on staff sees the terms, only admins change
them (prices are a decision of the office's management, not of the front desk).

Staff who are not admins get 403 on the editing pages: they already know the staff area
exists, so a 404 would only confuse; members still get the staff area's 404.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from ..core.clock import now
from ..core.forms import MoneyField, apply_field_errors, no_nul
from ..errors import InvalidInput, NotFound
from ..extensions import db
from ..membership import tiers as service
from ..membership.models import Membership, SignupMode, Tier
from ..membership.signup import SIGNUP_MODE_LABELS
from ..resources.models import ResourceKind
from . import bp, section, staff_required

F = TypeVar("F", bound=Callable[..., Any])

def _count(label: Any, description: Any = "") -> IntegerField:
    return IntegerField(
        label, description=description,
        validators=[InputRequired(_l("Please enter a whole number."))],
    )


KIND_LABELS = {
    ResourceKind.DESK: _l("Desks"),
    ResourceKind.STUDIO: _l("Studios"),
    ResourceKind.ROOM: _l("Meeting rooms"),
}
# The prices the engine charges per kind (rules.quote): form field name, unit, label.
PRICE_FIELDS: dict[ResourceKind, tuple[tuple[str, str], ...]] = {
    ResourceKind.DESK: (("half_day", "desk_half_day_cents"), ("day", "desk_day_cents")),
    ResourceKind.STUDIO: (("hour", "studio_hour_cents"),),
    ResourceKind.ROOM: (("hour", "room_hour_cents"),),
}


class TierForm(FlaskForm):
    slug = StringField(
        _l("Short name"),
        description=_l("Lower-case letters, digits and hyphens, e.g. “flex”. "
                       "It cannot be changed later."),
        validators=[Length(max=64), no_nul],
    )
    name = StringField(_l("Name"), validators=[Length(max=100), no_nul])
    description = TextAreaField(
        _l("Description (optional)"), validators=[Optional(), Length(max=4000), no_nul]
    )
    monthly_price_cents = MoneyField(
        _l("Monthly fee in euros (gross, incl. VAT)"),
        description=_l("For example 89,00."),
        validators=[InputRequired(_l("Please enter an amount in euros, e.g. 12,50."))],
    )
    booking_horizon_days = _count(
        _l("Book how many days ahead"), _l("Members of this tier book at most this far ahead.")
    )
    max_future_bookings = _count(_l("Upcoming bookings at most"))
    included_desk_days = _count(
        _l("Desk days included per month"), _l("A booked half day uses half a day of them.")
    )
    included_studio_hours = _count(_l("Studio hours included per month"))
    desk_allowed = BooleanField(_l("Desks may be booked"))
    desk_half_day_cents = MoneyField(_l("Price per half day (€)"), validators=[Optional()])
    desk_day_cents = MoneyField(
        _l("Price per day (€)"),
        description=_l("Empty: two half days. Beyond the included days."),
        validators=[Optional()],
    )
    studio_allowed = BooleanField(_l("Studios may be booked"))
    studio_hour_cents = MoneyField(
        _l("Studio price per hour (€)"), description=_l("Beyond the included hours."),
        validators=[Optional()],
    )
    room_allowed = BooleanField(_l("Meeting rooms may be booked"))
    room_hour_cents = MoneyField(_l("Room price per hour (€)"), validators=[Optional()])
    is_active = BooleanField(
        _l("Active: offered for new memberships"), default=True,
    )
    position = _count(_l("Position in lists"), _l("Smaller numbers come first."))
    signup_mode = SelectField(
        _l("How members get this tier"),
        choices=[(mode.value, label) for mode, label in SIGNUP_MODE_LABELS.items()],
        default=SignupMode.STAFF_ONLY.value,
        description=_l("“Online” for a tier with a monthly fee means a subscription paid by "
                       "card; without a fee the member pays per booking."),
    )
    notice_days = _count(
        _l("Notice period in days"),
        _l("Members cancel to the end of a calendar month with this many days' notice "
           "(0: to the end of the month)."),
    )

    def data_for_service(self) -> service.TierData:
        prices: dict[ResourceKind, service.KindTerms] = {}
        for kind in ResourceKind:
            if not self[f"{kind.value}_allowed"].data:
                continue
            values = {unit: self[name].data for unit, name in PRICE_FIELDS[kind]}
            prices[kind] = service.KindTerms(
                hour_cents=values.get("hour"), half_day_cents=values.get("half_day"),
                day_cents=values.get("day"),
            )
        return service.TierData(
            slug=(self.slug.data or "") if "slug" in self._fields else "",
            name=self.name.data or "",
            description=self.description.data or "",
            monthly_price_cents=self.monthly_price_cents.data,
            booking_horizon_days=self.booking_horizon_days.data,
            max_future_bookings=self.max_future_bookings.data,
            included_desk_days=self.included_desk_days.data,
            included_studio_hours=self.included_studio_hours.data,
            is_active=bool(self.is_active.data),
            position=self.position.data,
            signup_mode=SignupMode(self.signup_mode.data),
            notice_days=self.notice_days.data,
            prices=prices,
        )

    def fill(self, tier: Tier) -> None:
        for name in service.SCALARS:
            self[name].data = getattr(tier, name)
        self.signup_mode.data = tier.signup_mode.value
        for kind in ResourceKind:
            terms = tier.price_for(kind)
            self[f"{kind.value}_allowed"].data = terms is not None
            for unit, name in PRICE_FIELDS[kind]:
                self[name].data = getattr(terms, f"price_{unit}_cents") if terms else None


class EmptyForm(FlaskForm):
    """Only the CSRF token (delete confirmation)."""


def admin_required(view: F) -> F:
    """Staff area first (404 for members, log-in for strangers), then 403 for non-admins."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return staff_required(wrapped)  # type: ignore[return-value]


def _tier(tier_id: int) -> Tier:
    tier = db.session.get(Tier, tier_id)
    if tier is None:
        raise NotFound()
    return tier


@bp.get("/tiers")
@staff_required
def tiers() -> str:
    rows = db.session.scalars(select(Tier).order_by(Tier.position, Tier.name)).all()
    counts = dict(db.session.execute(
        select(Membership.tier_id, func.count()).group_by(Membership.tier_id)
    ).all())
    return render_template(
        "staff/tiers.html", tiers=rows, counts=counts, kind_labels=KIND_LABELS,
        can_edit=current_user.is_admin,
    )


def _render(form: TierForm, tier: Tier | None, status: int) -> tuple[str, int]:
    return render_template(
        "staff/tier_form.html", form=form, tier=tier, kind_labels=KIND_LABELS,
        price_fields=PRICE_FIELDS, kinds=list(ResourceKind),
        deletable=tier is not None and not service.in_use(db.session, tier.id),
    ), status


@bp.route("/tiers/new", methods=["GET", "POST"])
@admin_required
def tier_new() -> Response | tuple[str, int]:
    form = TierForm()
    if request.method == "GET":
        form.monthly_price_cents.data = 0
        form.booking_horizon_days.data, form.max_future_bookings.data = 14, 10
        form.included_desk_days.data = form.included_studio_hours.data = 0
        form.position.data = form.notice_days.data = 0
        form.is_active.data = True
    elif form.validate_on_submit():
        try:
            tier = service.create_tier(
                db.session, data=form.data_for_service(), actor=current_user, now=now()
            )
        except InvalidInput as error:
            apply_field_errors(form, error)
        else:
            flash(_("The tier %(name)s was created.", name=tier.name), "success")
            return redirect(url_for("staff.tiers"))
    return _render(form, None, 422 if request.method == "POST" else 200)


@bp.route("/tiers/<id:tier_id>", methods=["GET", "POST"])
@admin_required
def tier_edit(tier_id: int) -> Response | tuple[str, int]:
    tier = _tier(tier_id)
    form = TierForm()
    del form["slug"]
    if request.method == "GET":
        form.fill(tier)
    elif form.validate_on_submit():
        try:
            tier = service.update_tier(
                db.session, tier_id=tier.id, data=form.data_for_service(),
                actor=current_user, now=now(),
            )
        except InvalidInput as error:
            apply_field_errors(form, error)
        else:
            flash(_("The tier %(name)s was saved. The new terms apply to bookings made from "
                    "now on.", name=tier.name), "success")
            return redirect(url_for("staff.tiers"))
    return _render(form, tier, 422 if request.method == "POST" else 200)


@bp.route("/tiers/<id:tier_id>/delete", methods=["GET", "POST"])
@admin_required
def tier_delete(tier_id: int) -> Response | str:
    tier = _tier(tier_id)
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            service.delete_tier(db.session, tier_id=tier_id, actor=current_user, now=now())
        except InvalidInput as error:
            flash(error.message, "error")
            return redirect(url_for("staff.tier_edit", tier_id=tier_id))
        flash(_("The tier was deleted."), "success")
        return redirect(url_for("staff.tiers"))
    return render_template("staff/tier_delete.html", tier=tier, form=form)


section(
    _l("Tiers"), "staff.tiers",
    _l("Membership tiers: monthly fee, what may be booked, how far ahead, what is included "
       "and what the rest costs. Only administrators change them."),
    order=50,
)
