"""Start page, resource list, price list and the language switch."""

from __future__ import annotations

from itertools import groupby

from flask import Blueprint, abort, redirect, render_template, request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from ..accounts.service import set_locale
from ..booking.settings import current_settings
from ..core.clock import now
from ..core.urls import safe_redirect_target
from ..extensions import db
from ..i18n import remember_language
from ..membership.price_list import active_tiers, kind_prices
from ..resources.models import Location, Resource

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> str:
    membership = None
    if current_user.is_authenticated:
        membership = current_user.active_membership(now())
    location = db.session.scalar(
        select(Location).options(selectinload(Location.opening_hours)).order_by(Location.id)
    )
    return render_template("main/index.html", membership=membership, location=location)


@bp.get("/resources")
def resources() -> str:
    rows = db.session.scalars(
        select(Resource)
        .where(Resource.is_active.is_(True))
        .options(selectinload(Resource.location))
        .order_by(Resource.kind, Resource.zone, Resource.position, Resource.name)
    ).all()
    by_kind = []
    for kind, items in groupby(rows, key=lambda r: r.kind):
        members = list(items)
        # Grouped here, not in the template: Jinja's groupby sorts by zone and a resource
        # without one (None) cannot be compared with a named zone.
        ordered = sorted(members, key=lambda r: (r.zone or "", r.position, r.name))
        zones = [(z, list(g)) for z, g in groupby(ordered, key=lambda r: r.zone or "")]
        by_kind.append((kind, members, zones))
    return render_template("main/resources.html", by_kind=by_kind)


@bp.post("/language")
def set_language() -> Response:
    """Remember the chosen language in a cookie (and on the account, when logged in)."""
    lang = request.form.get("lang", "")
    if lang not in ("de", "en"):
        abort(400)
    response = remember_language(
        redirect(safe_redirect_target(request.form.get("next"), "/")), lang
    )
    if current_user.is_authenticated and current_user.locale != lang:
        set_locale(db.session, user=current_user._get_current_object(), locale=lang)
    return response


@bp.get("/tarife")
def price_list() -> str:
    """The membership tiers and their prices, for everyone (no log-in)."""
    return render_template(
        "main/price_list.html",
        tiers=active_tiers(db.session),
        kind_prices=kind_prices,
        vat_percent=current_settings().policy.vat_percent,
    )
