"""Staff page: the audit log, who did what and when, filterable and paginated.

A GET form like the utilisation filters: reading only, bookmarkable, no CSRF token in URLs.
Bad filters (a date that is no date, a negative id) show a message beside the field and no
list, never an error page.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from functools import partial
from urllib.parse import urlencode

from flask import current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, Regexp, ValidationError

from ..core.audit import Channel
from ..core.forms import no_nul
from ..core.time import local_datetime
from ..extensions import db
from ..membership.service import induction_names
from ..reports.audit_log import AuditFilters, AuditPage, object_types, search
from . import bp, section, staff_required
from .audit_text import (
    CHANNEL_LABELS,
    action_label,
    channel_label,
    object_label,
    raw_details,
    readable_details,
)
from .topic_labels import TOPIC_LABELS

FIRST_YEAR, LAST_YEAR = 2000, 2100
MAX_ID = 2**31 - 1

# Where an object can be looked at, if that page exists in this app (endpoint, argument).
OBJECT_PAGES: dict[str, tuple[str, str]] = {
    "booking": ("bookings.booking_detail", "booking_id"),
}


def object_url(object_type: str, object_id: int | None) -> str | None:
    page = OBJECT_PAGES.get(object_type)
    if page is None or object_id is None or page[0] not in current_app.view_functions:
        return None
    return url_for(page[0], **{page[1]: object_id})


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter: reading only, and a token does not belong in URLs

    action = StringField(
        _l("Action"), validators=[Optional(), Length(max=64), no_nul,
                                  Regexp(r"^[A-Za-z0-9_.]+$", message=_l(
                                      "Letters, digits, dots and underscores only."))],
        description=_l("The start of an action name, e.g. booking. or booking.cancelled"),
    )
    actor = StringField(
        _l("Who"), validators=[Optional(), Length(max=100), no_nul],
        description=_l("Part of a name or an e-mail address."),
    )
    channel = SelectField(_l("Channel"), validators=[Optional()], validate_choice=False)
    object_type = SelectField(_l("Object"), validators=[Optional()], validate_choice=False)
    object_id = StringField(
        _l("Object number"), validators=[Optional(), Length(max=12), no_nul],
    )
    since = DateField(_l("From day"), validators=[Optional()])
    until = DateField(_l("Until day (inclusive)"), validators=[Optional()])

    def validate_channel(self, field: SelectField) -> None:
        if field.data and field.data not in {str(c.value) for c in field.choices}:
            raise ValidationError(_l("Please choose a channel from the list."))

    def validate_object_type(self, field: SelectField) -> None:
        if field.data and field.data not in {str(c.value) for c in field.choices}:
            raise ValidationError(_l("Please choose an object from the list."))

    def validate_object_id(self, field: StringField) -> None:
        text = (field.data or "").strip()
        if not re.fullmatch(r"\d+", text) or not 1 <= int(text) <= MAX_ID:
            raise ValidationError(_l("Please enter a whole number greater than zero."))

    def validate_since(self, field: DateField) -> None:
        if field.data and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
            raise ValidationError(_l("Please choose a day between 2000 and 2100."))

    def validate_until(self, field: DateField) -> None:
        if field.data and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
            raise ValidationError(_l("Please choose a day between 2000 and 2100."))
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("The last day must not be before the first day."))


def _filters(form: AuditFilterForm) -> AuditFilters:
    since: date | None = form.since.data
    until: date | None = form.until.data
    return AuditFilters(
        action_prefix=(form.action.data or "").strip() or None,
        actor=(form.actor.data or "").strip() or None,
        channel=Channel(form.channel.data) if form.channel.data else None,
        object_type=form.object_type.data or None,
        object_id=int(form.object_id.data) if (form.object_id.data or "").strip() else None,
        since=local_datetime(since, time(0)) if since else None,
        until=local_datetime(until + timedelta(days=1), time(0)) if until else None,
    )


def page_window(page: int, pages: int, around: int = 2) -> list[int | None]:
    """Page numbers to link: the first, the last and a few around the current; None marks
    a gap ("…")."""
    wanted = {1, pages, *range(page - around, page + around + 1)}
    numbers = sorted(n for n in wanted if 1 <= n <= pages)
    window: list[int | None] = []
    for n in numbers:
        if window and window[-1] is not None and n - window[-1] > 1:  # type: ignore[operator]
            window.append(None)
        window.append(n)
    return window


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and len(raw) < 7 else 1


def _topic_names() -> dict[str, str]:
    """What the keys in a "topic" detail mean: an induction's spaces, a message's kind."""
    return {**{t: str(label) for t, label in TOPIC_LABELS.items()},
            **induction_names(db.session)}


@bp.get("/audit")
@staff_required
def audit_log() -> str:
    form = AuditFilterForm(formdata=request.args or None)
    types = object_types(db.session)
    form.object_type.choices = [SelectChoice("", _("All objects"))] + [
        SelectChoice(t, object_label(t)) for t in types
    ]
    form.channel.choices = [SelectChoice("", _("All channels"))] + [
        SelectChoice(c.value, str(label)) for c, label in CHANNEL_LABELS.items()
    ]
    result: AuditPage | None = None
    if form.validate() if request.args else True:
        result = search(db.session, _filters(form), page=_page_number())
    kept = {k: v for k, v in request.args.items() if k != "page" and v}

    def page_url(number: int) -> str:
        return url_for("staff.audit_log") + "?" + urlencode({**kept, "page": number})

    return render_template(
        "staff/audit.html", form=form, result=result, page_url=page_url,
        action_label=action_label, object_label=object_label, object_url=object_url,
        channel_label=channel_label,
        raw_details=raw_details, filtered=bool(kept),
        readable_details=partial(readable_details, topics=_topic_names()),
        window=page_window(result.page, result.pages) if result else [],
        history_url=lambda t, i: url_for("staff.audit_log") + "?" + urlencode(
            {"object_type": t, "object_id": i}),
    )


section(
    _l("Audit log"), "staff.audit_log",
    _l("Who did what and when: bookings, payments, accounts and settings, filterable."),
    order=70,
)
