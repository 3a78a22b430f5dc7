"""``/api/v1/tiers``: the public price list (the membership tiers on offer), without a token.

The same facts as the page ``/tarife``, for whoever builds on them (the city's web site, a
comparison table): nothing in it is personal, so it needs no account. Like the OpenAPI
document, the other read without a token, it has no rate limit of its own.
"""

from __future__ import annotations

from flask import Response, jsonify

from ..booking.settings import current_settings
from ..extensions import db
from ..membership.price_list import active_tiers
from .blueprint import bp
from .serializers import tier_json


@bp.get("/tiers")
def list_tiers() -> Response:
    settings = current_settings()
    return jsonify({
        "currency": settings.currency,
        "vat_percent": settings.policy.vat_percent,
        "prices_include_vat": True,
        "tiers": [tier_json(t) for t in active_tiers(db.session)],
    })
