"""Staff pages for resources: list them, create and edit one, take it out of booking.

The views only parse the form and call one service in ``venue/admin.py``; every rule
(what the engine accepts for a desk or a studio, unique slugs, ...) lives there, and its
field errors come back beside the field that caused them.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from ..core.clock import now
from ..core.forms import apply_field_errors, no_nul
from ..errors import InvalidInput, NotFound
from ..extensions import db
from ..membership.service import induction_names
from ..resources.models import BookingUnit, Location, Resource, ResourceKind
from ..venue import admin
from . import bp, section, staff_required

KIND_LABELS = {
    ResourceKind.DESK: _l("Desks"),
    ResourceKind.STUDIO: _l("Studios"),
    ResourceKind.ROOM: _l("Meeting rooms"),
}
UNIT_LABELS = {
    BookingUnit.HALF_DAY: _l("Half or whole days (desks)"),
    BookingUnit.DAY: _l("Whole days only (desks)"),
    BookingUnit.SLOT_30: _l("30-minute steps (studios and rooms)"),
}


def _number(label: Any, description: Any = "") -> IntegerField:
    return IntegerField(
        label, description=description,
        validators=[InputRequired(_l("Please enter a whole number."))],
    )


class ResourceForm(FlaskForm):
    """All settings of a resource. ``slug``, ``kind`` and ``location_id`` are removed on
    edit (they are fixed once created)."""

    location_id = SelectField(_l("Location"), coerce=int)
    slug = StringField(
        _l("Short name for the address"),
        description=_l("Lower-case letters, digits and hyphens, e.g. “meeting-room-2”. "
                       "It cannot be changed later (links and calendars use it)."),
        validators=[Length(max=64), no_nul],
    )
    name = StringField(_l("Name"), validators=[Length(max=200), no_nul])
    kind = SelectField(
        _l("Kind"),
        choices=[SelectChoice(k.value, KIND_LABELS[k]) for k in ResourceKind],
        description=_l("It cannot be changed later."),
    )
    zone = StringField(
        _l("Zone (optional)"),
        description=_l("Where on the floor, e.g. “Open Space A”; members can prefer a zone."),
        validators=[Optional(), Length(max=100), no_nul],
    )
    description = TextAreaField(
        _l("Description (optional)"), validators=[Optional(), Length(max=4000), no_nul]
    )
    booking_unit = SelectField(
        _l("Booked in"), choices=[SelectChoice(u.value, UNIT_LABELS[u]) for u in BookingUnit]
    )
    capacity = _number(_l("Capacity (people)"))
    min_duration_minutes = _number(
        _l("Shortest booking (minutes)"),
        _l("Studios and rooms: a multiple of 30. Desks are booked by half or whole day."),
    )
    max_duration_minutes = _number(_l("Longest booking (minutes)"), _l("At most 1440 (a day)."))
    buffer_before_minutes = _number(
        _l("Buffer before (minutes)"),
        _l("Kept free before each booking, e.g. to set up. Changing a buffer affects new "
           "bookings only: existing bookings keep the range they block."),
    )
    buffer_after_minutes = _number(
        _l("Buffer after (minutes)"),
        _l("Kept free after each booking, e.g. for cleanup. Affects new bookings only. "
           "Desks have no buffers."),
    )
    induction = StringField(
        _l("Induction needed (optional)"),
        description=_l("The training topic a member needs, e.g. “ar-vr-studio”. "
                       "Empty: no induction needed."),
        validators=[Optional(), Length(max=64), no_nul],
    )
    requires_approval = BooleanField(
        _l("Staff approve each paid booking (the card is charged on approval)")
    )
    feed_for_members = BooleanField(
        _l("Members may subscribe to this calendar (studios and rooms; others shown as “booked”)")
    )
    position = _number(_l("Position in lists"), _l("Smaller numbers come first."))

    def data_for_service(self) -> admin.ResourceData:
        # On edit there is no kind field: the service keeps the stored kind.
        kind = ResourceKind(self.kind.data) if "kind" in self._fields else ResourceKind.DESK
        return admin.ResourceData(
            location_id=self.location_id.data if "location_id" in self._fields else None,
            slug=(self.slug.data or "") if "slug" in self._fields else "",
            kind=kind,
            name=self.name.data or "",
            zone=self.zone.data,
            description=self.description.data or "",
            booking_unit=BookingUnit(self.booking_unit.data),
            capacity=self.capacity.data,
            min_duration_minutes=self.min_duration_minutes.data,
            max_duration_minutes=self.max_duration_minutes.data,
            buffer_before_minutes=self.buffer_before_minutes.data,
            buffer_after_minutes=self.buffer_after_minutes.data,
            induction=self.induction.data,
            requires_approval=bool(self.requires_approval.data),
            feed_for_members=bool(self.feed_for_members.data),
            position=self.position.data,
        )


class EmptyForm(FlaskForm):
    """Only the CSRF token: for the activate, deactivate and delete buttons."""


def _resource(resource_id: int) -> Resource:
    resource = db.session.get(Resource, resource_id)
    if resource is None:
        raise NotFound()
    return resource


@bp.get("/resources")
@staff_required
def resources() -> str:
    """All resources by kind, with zone and whether they can be booked; filterable."""
    kind = request.args.get("kind", "")
    status = request.args.get("status", "")
    query = select(Resource).order_by(Resource.kind, Resource.zone, Resource.position,
                                      Resource.name)
    if kind in {k.value for k in ResourceKind}:
        query = query.where(Resource.kind == ResourceKind(kind))
    else:
        kind = ""
    if status == "active":
        query = query.where(Resource.is_active.is_(True))
    elif status == "inactive":
        query = query.where(Resource.is_active.is_(False))
    else:
        status = ""
    groups: dict[ResourceKind, list[Resource]] = {k: [] for k in ResourceKind}
    for resource in db.session.scalars(query):
        groups[resource.kind].append(resource)
    groups = {k: v for k, v in groups.items() if v}  # desks, studios, rooms: floor order
    return render_template(
        "staff/resources.html", groups=groups, kind_labels=KIND_LABELS,
        unit_labels=UNIT_LABELS, kind=kind, status=status, kinds=list(ResourceKind),
        induction_names=induction_names(db.session),
    )


def _render_form(form: ResourceForm, resource: Resource | None, status: int) -> tuple[str, int]:
    return render_template(
        "staff/resource_form.html", form=form, resource=resource,
        kind_labels=KIND_LABELS,
        deletable=resource is not None and not admin.has_bookings(db.session, resource.id),
    ), status


@bp.route("/resources/new", methods=["GET", "POST"])
@staff_required
def resource_new() -> Response | tuple[str, int]:
    form = ResourceForm()
    locations = db.session.scalars(select(Location).order_by(Location.name)).all()
    if len(locations) > 1:
        form.location_id.choices = [(loc.id, loc.name) for loc in locations]
    else:  # one location (the usual case): nothing to choose, the service takes it
        del form["location_id"]
    if request.method == "GET":
        form.capacity.data, form.position.data = 1, 0
        form.min_duration_minutes.data, form.max_duration_minutes.data = 60, 480
        form.buffer_before_minutes.data = form.buffer_after_minutes.data = 0
        form.booking_unit.data = BookingUnit.SLOT_30.value
        form.kind.data = ResourceKind.ROOM.value
    elif form.validate_on_submit():
        try:
            resource = admin.create_resource(
                db.session, data=form.data_for_service(), actor=current_user, now=now()
            )
        except InvalidInput as error:
            apply_field_errors(form, error)
        else:
            flash(_("%(name)s was created.", name=resource.name), "success")
            return redirect(url_for("staff.resources"))
    return _render_form(form, None, 422 if request.method == "POST" else 200)


@bp.route("/resources/<id:resource_id>", methods=["GET", "POST"])
@staff_required
def resource_edit(resource_id: int) -> Response | tuple[str, int]:
    resource = _resource(resource_id)
    form = ResourceForm(obj=resource if request.method == "GET" else None)
    for name in ("slug", "kind", "location_id"):
        del form[name]
    if request.method == "GET":
        form.booking_unit.data = resource.booking_unit.value
    elif form.validate_on_submit():
        try:  # slug and kind are not in the form; the service keeps the stored ones
            resource = admin.update_resource(
                db.session, resource_id=resource.id, data=form.data_for_service(),
                actor=current_user, now=now(),
            )
        except InvalidInput as error:
            apply_field_errors(form, error)
        else:
            flash(_("Changes to %(name)s were saved.", name=resource.name), "success")
            return redirect(url_for("staff.resources"))
    return _render_form(form, resource, 422 if request.method == "POST" else 200)


@bp.post("/resources/<id:resource_id>/active")
@staff_required
def resource_set_active(resource_id: int) -> Response:
    """Deactivate (out of booking) or reactivate; ``active`` is "1" or "0"."""
    form = EmptyForm()
    if not form.validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
        return redirect(url_for("staff.resource_edit", resource_id=resource_id))
    active = request.form.get("active") == "1"
    resource = admin.set_active(
        db.session, resource_id=resource_id, active=active, actor=current_user, now=now()
    )
    if active:
        flash(_("%(name)s can be booked again.", name=resource.name), "success")
    else:
        flash(_("%(name)s is deactivated: it can no longer be booked. Existing bookings "
                "stay; cancel them where needed.", name=resource.name), "success")
    return redirect(url_for("staff.resource_edit", resource_id=resource_id))


@bp.route("/resources/<id:resource_id>/delete", methods=["GET", "POST"])
@staff_required
def resource_delete(resource_id: int) -> Response | str:
    resource = _resource(resource_id)
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            admin.delete_resource(
                db.session, resource_id=resource_id, actor=current_user, now=now()
            )
        except InvalidInput as error:
            flash(error.message, "error")
            return redirect(url_for("staff.resource_edit", resource_id=resource_id))
        flash(_("The resource was deleted."), "success")
        return redirect(url_for("staff.resources"))
    return render_template("staff/resource_delete.html", resource=resource, form=form)


section(
    _l("Spaces and desks"), "staff.resources",
    _l("Create and edit desks, studios and rooms: durations, buffers, inductions, "
       "approval and calendar sharing."),
    order=40,
)
