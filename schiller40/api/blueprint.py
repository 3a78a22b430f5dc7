"""The ``api_v1`` blueprint under ``/api/v1``: one route module per resource (tokens,
tiers, resources, availability, bookings, waitlist, feeds, membership, and the OpenAPI
document). Input is parsed in ``parsing.py``, answers are shaped in ``serializers.py``."""

from __future__ import annotations

from flask import Blueprint

from ..extensions import csrf
from .auth import api_channel

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer tokens, not cookies: no cross-site request can carry one
bp.before_request(api_channel)  # its audit entries say "api"

# The route modules add their routes to ``bp`` on import.
from . import (  # noqa: E402,F401
    availability,
    bookings,
    companies,
    feeds,
    membership,
    resources,
    spec,
    tiers,
    tokens,
    waitlist,
)
