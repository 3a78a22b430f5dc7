"""``/api/v1/tokens``: a bearer token for an e-mail address and password, and giving the
current one back."""

from __future__ import annotations

from flask import Response, g
from flask_babel import gettext as _

from ..accounts import tokens
from ..core import ratelimit
from ..core.clock import now
from ..core.ratelimit import configured
from ..core.time import to_local
from ..extensions import db, limiter
from . import schemas
from .auth import token_required
from .blueprint import bp
from .parsing import ApiError, json_body
from .serializers import created


@bp.post("/tokens")
@limiter.limit(configured("RATELIMIT_API_TOKEN"))
def create_token() -> tuple[Response, int]:
    body = json_body(schemas.TokenCreate)
    moment = now()
    issued = None
    # The same lockout as the log-in form (per e-mail and client address): the API is no
    # way around it.
    locked = ratelimit.locked_for(body.email, now=moment)
    if not locked:
        issued = tokens.issue(db.session, email=body.email, password=body.password, now=moment)
        if issued is not None:
            ratelimit.succeeded(body.email, now=moment)
        else:
            locked = ratelimit.failed(body.email, now=moment)
    if locked:
        error = ApiError(429, "rate_limited", ratelimit.locked_message(locked))
        error.headers = {"Retry-After": str(locked)}
        raise error
    if issued is None:
        raise ApiError(401, "unauthorized", _("E-mail address or password is not correct."))
    token, row = issued
    # Local time with offset, like every other instant the API answers with.
    return created({"token": token, "expires_at": to_local(row.expires_at).isoformat()})


@bp.delete("/tokens/current")
@token_required
def delete_current_token() -> tuple[str, int]:
    tokens.revoke(db.session, token_row=g.api_token, actor=g.api_user, now=now())
    return "", 204
