"""Bearer-token authentication for the API, and the API's channel in the audit log."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request
from flask_babel import gettext as _

from ..accounts import tokens
from ..core import audit
from ..core.clock import now
from ..extensions import db
from .parsing import ApiError

F = TypeVar("F", bound=Callable[..., Any])


def api_channel() -> None:
    """Before every request of the API blueprint: what it changes is recorded as coming
    through the API, whether it carries a bearer token or asks for one (POST /tokens). The
    app's request hooks have set "web" and reset the channel at teardown (create_app)."""
    audit.set_channel(audit.Channel.API)


def token_required(view: F) -> F:
    """Let the view run only for a valid token; its user is ``g.api_user``."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        # Not "scheme, _, token": that bound _ to the separator, so _("...") below called a
        # str and every request without a valid token was a 500 instead of a 401.
        scheme, _sep, token = header.partition(" ")
        found = None
        if scheme.lower() == "bearer" and token.strip():
            found = tokens.user_for(db.session, token.strip(), now=now())
        if found is None:
            raise ApiError(401, "unauthorized", _("A valid bearer token is required."))
        g.api_user, g.api_token = found
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
