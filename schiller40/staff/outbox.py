"""Staff page: messages the worker could not deliver, and those it is still retrying.

Staff see whom a message was for and why it failed, and either send it again (after the
address or the mail server was fixed) or discard it. Both are audited.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from ..core.clock import now
from ..extensions import db
from ..mail import admin
from . import bp, section, staff_required
from .topic_labels import topic_label

section(
    _l("Outgoing mail"), "staff.outbox",
    _l("Messages that could not be delivered: send them again or discard them."),
    order=65, count=lambda: admin.failed_count(db.session),
)


@bp.get("/outbox")
@staff_required
def outbox() -> str:
    return render_template(
        "staff/outbox.html", overview=admin.overview(db.session), form=FlaskForm(),
        topic_label=topic_label,
    )


def _decide(message_id: int, action: str) -> Response:
    if not FlaskForm().validate_on_submit():
        flash(_("The form had expired. Please try again."), "error")
        return redirect(url_for("staff.outbox"))
    try:
        if action == "retry":
            admin.retry(db.session, actor=current_user, message_id=message_id, now=now())
            flash(_("The message is sent again with the next pass of the worker."), "success")
        else:
            admin.discard(db.session, actor=current_user, message_id=message_id, now=now())
            flash(_("The message was discarded."), "success")
    except admin.NotFailed as error:
        flash(error.message, "error")
    return redirect(url_for("staff.outbox"))


@bp.post("/outbox/<id:message_id>/retry")
@staff_required
def outbox_retry(message_id: int) -> Response:
    return _decide(message_id, "retry")


@bp.post("/outbox/<id:message_id>/discard")
@staff_required
def outbox_discard(message_id: int) -> Response:
    return _decide(message_id, "discard")
