"""Staff page: upcoming blocks of studios, rooms and the whole house, and removing one.
Blocks are made from the calendar (``calendar.py``)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from ..booking.settings import current_settings
from ..core.clock import now
from ..extensions import db
from ..venue import blocks as block_service
from . import bp, section, staff_required
from .calendar_grid import iso_week

section(_l("Blocks"), "staff.blocks",
        _l("Upcoming blocks of studios, rooms and the whole house; remove one that is no "
           "longer needed."), order=15)


@bp.get("/blocks")
@staff_required
def blocks() -> str:
    return render_template(
        "staff/blocks.html", blocks=block_service.upcoming_blocks(db.session, now=now()),
        week_of=lambda block: iso_week(block.starts_at.astimezone(block.location.tz).date()),
    )


@bp.post("/blocks/<id:block_id>/delete")
@staff_required
def block_delete(block_id: int) -> Response:
    if not FlaskForm().validate_on_submit():
        flash(_("The form had expired. Please try again."), "error")
        return redirect(url_for("staff.blocks"))
    block_service.delete_block(
        db.session, actor=current_user, block_id=block_id, now=now(),
        settings=current_settings(),
    )
    flash(_("The block is removed; the time can be booked again."), "success")
    target = request.form.get("next", "")
    if target.startswith("/staff/calendar/") and "//" not in target and "\\" not in target:
        return redirect(target)
    return redirect(url_for("staff.blocks"))
