"""Feed URLs (no log-in: the secret is in the URL), single-booking downloads, the account
page that shows a member's feed URLs."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale, format_decimal
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.http import is_resource_modified

from ..accounts import service as account_service
from ..accounts.forms import ProfileForm
from ..booking import queries as booking_queries
from ..core.clock import now
from ..core.forms import apply_field_errors
from ..core.locking import begin_snapshot
from ..core.urls import public_base
from ..errors import DomainError
from ..extensions import db
from ..members.overview import account_overview
from . import cache, queries, render, service, tokens

bp = Blueprint("feeds", __name__)

CACHE_SECONDS = 3600
ICS = "text/calendar; charset=utf-8"


def feed_url(feed) -> str:
    token = tokens.token_for(feed, current_app.config["SECRET_KEY"])
    return f"{public_base()}{url_for('feeds.feed', token=token)}"


def webcal_url(url: str) -> str:
    return "webcal://" + url.split("://", 1)[1]


@bp.get("/feeds/<token>.ics")
def feed(token: str) -> Response:
    """A subscribed calendar. Conditional GET first: an unchanged feed costs no rendering.

    One snapshot for the fingerprint and the events: a change committed between them would
    otherwise be kept under the fingerprint of the state before it."""
    begin_snapshot(db.session)
    found = service.resolve(db.session, token, secret_key=current_app.config["SECRET_KEY"])
    if found is None:
        # Plain and uninformative: no hint whether the token ever existed.
        return Response("Not found\n", status=404, mimetype="text/plain")
    viewer = found.owner
    instant = now()
    with force_locale(viewer.locale):
        etag, last_modified = queries.fingerprint(
            db.session, found, viewer, now=instant, locale=viewer.locale
        )
        if not is_resource_modified(request.environ, etag=etag, last_modified=last_modified):
            response = Response(status=304)
        else:
            base_url = public_base()
            # Staff feeds show other members' names, which the fingerprint does not cover.
            kept = cache.bodies() if not viewer.is_staff else None
            key = (etag, base_url)
            body = kept.get(key) if kept is not None else None
            if body is not None:
                response = Response(body, content_type=ICS)
            else:
                # Loaded and translated here, in the request; rendered while it is sent.
                pieces = render.stream(
                    queries.feed_name(found),
                    queries.events(db.session, found, viewer, now=instant, base_url=base_url),
                )
                if kept is not None:
                    pieces = kept.filling(key, pieces)
                response = Response(pieces, content_type=ICS)
    response.set_etag(etag)
    response.last_modified = last_modified
    response.cache_control.private = True
    response.cache_control.max_age = CACHE_SECONDS
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/bookings/<id:booking_id>.ics")
@login_required
def booking_ics(booking_id: int) -> Response:
    """One booking as a file to import (confirmation page, e-mails)."""
    booking = booking_queries.get_booking(
        db.session, viewer=current_user, booking_id=booking_id
    )
    event = queries.booking_event(booking, current_user, base_url=public_base(), now=now())
    body = render.calendar(event.summary, [event])
    response = Response(body, content_type=ICS)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="schiller40-booking-{booking.id}.ics"'
    )
    response.cache_control.private = True
    response.cache_control.no_store = True
    return response


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> str | tuple[str, int] | Response:
    """The member's account: profile form (POST here), membership and credit left this month,
    company, calendar feeds, and the ways to their data (export, deletion)."""
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        try:
            account_service.update_profile(
                db.session, actor=current_user._get_current_object(),
                user=current_user._get_current_object(), name=form.name.data,
                locale=form.locale.data, now=now(),
            )
        except DomainError as exc:
            apply_field_errors(form, exc)
        else:
            flash(_("Your details have been saved."), "success")
            return redirect(url_for("feeds.account"))
    instant = now()
    feeds = service.feeds_for(db.session, user=current_user, now=instant)
    rows = []
    for f in feeds:
        url = feed_url(f)
        rows.append({"feed": f, "name": queries.feed_name(f), "url": url,
                     "webcal": webcal_url(url)})
    overview = account_overview(db.session, user=current_user, now=instant)
    body = render_template(
        "account/index.html", feeds=rows, overview=overview, form=form,
        format_decimal=format_decimal,
    )
    return (body, 422) if form.errors or form.form_errors else body


@bp.post("/account/feeds/<id:feed_id>/rotate")
@login_required
def rotate(feed_id: int) -> Response:
    service.rotate(db.session, user=current_user, feed_id=feed_id, now=now())
    flash(_("The calendar has a new address. Subscribe again with the new one; the old one "
            "no longer works."), "success")
    return redirect(url_for("feeds.account") + "#feeds")


@bp.post("/account/feeds/<id:feed_id>/revoke")
@login_required
def revoke(feed_id: int) -> Response:
    service.revoke(db.session, user=current_user, feed_id=feed_id, now=now())
    flash(_("The calendar address is switched off."), "success")
    return redirect(url_for("feeds.account") + "#feeds")
