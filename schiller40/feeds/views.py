"""Feed URLs (no log-in: the secret is in the URL). A single booking's download is on its
page (``members/booking_pages.py``); the account page shows a member's feed URLs
(``members/account_pages.py``, with ``urls.py``)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from flask_babel import force_locale
from werkzeug.http import is_resource_modified

from ..core.clock import now
from ..core.locking import begin_snapshot
from ..core.urls import public_base
from ..extensions import db
from . import cache, queries, render, service

bp = Blueprint("feeds", __name__)

CACHE_SECONDS = 3600
ICS = render.CONTENT_TYPE


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
