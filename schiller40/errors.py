"""Domain errors and the one place that turns any error into a response.

Services raise ``DomainError`` subclasses with a stable ``code``; views do not catch them.
HTML requests get a friendly page (or a flash and redirect), JSON requests get
``{"error": {"code", "message", "fields"}}`` with the matching status. A 500 is logged with the
request id, which the page shows so a member can quote it to staff. A database that cannot be
reached (``core/dbfaults.py`` says which errors mean that) is a 503 with ``Retry-After``, logged
as one warning line, and its page is rendered without the database.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_limiter import RateLimitExceeded
from markupsafe import escape
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from .core import dbfaults
from .core.logs import redact_path
from .core.urls import safe_redirect_target
from .extensions import db, limiter, login_manager

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A rule of the domain said no. ``code`` is stable API; ``message`` is for people."""

    code = "domain_error"
    status = 422
    default_message: Any = _l("The request could not be carried out.")
    headers: dict[str, str] = {}

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = str(message or self.default_message)
        self.fields = fields or {}
        self.extra = extra or {}
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "fields": self.fields}
        body.update(self.extra)
        return body


class InvalidInput(DomainError):
    code = "invalid"
    status = 422
    default_message = _l("Some fields are invalid.")


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = _l("Not found.")


class Conflict(DomainError):
    code = "conflict"
    status = 409
    default_message = _l("That is already taken.")


class NotEntitled(DomainError):
    code = "not_entitled"
    status = 403
    default_message = _l("Your membership does not allow this.")


def wants_json() -> bool:
    if request.path.startswith(("/api/", "/webhooks/")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes["text/html"]


def json_error(status: int, code: str, message: str, **extra: Any) -> Response:
    body: dict[str, Any] = {"code": code, "message": message, "fields": {}}
    body.update(extra)
    response = jsonify({"error": body})
    response.status_code = status
    return response


_HTTP_CODES: dict[int, tuple[str, Any]] = {
    400: ("bad_request", _l("The request was not understood.")),
    401: ("unauthorized", _l("Please log in first.")),
    403: ("forbidden", _l("You are not allowed to do this.")),
    404: ("not_found", _l("Not found.")),
    405: ("method_not_allowed", _l("This address does not accept that kind of request.")),
    409: ("conflict", _l("That is already taken.")),
    413: ("too_large", _l("What you sent is too large.")),
    415: ("unsupported_media_type", _l("This kind of content is not accepted here.")),
    422: ("invalid", _l("Some fields are invalid.")),
    429: ("rate_limited", _l("Too many requests. Please wait a moment and try again.")),
}


# Statuses with a page of their own (heading, what happened, what to do next); any other
# error status gets the general page.
_PAGES = frozenset({403, 404, 409, 429})


def _error_page(status: int, error: Exception) -> Response:
    """The friendly HTML page for an error ``status``, in the reader's language."""
    templates = [f"errors/{status}.html", "errors/error.html"] if status in _PAGES else [
        "errors/error.html"
    ]
    body = render_template(
        templates, status=status, error=error, back_url=_back_url(),
        retry_after=_retry_after(error),
    )
    return Response(body, status=status, mimetype="text/html")


def _back_url() -> str | None:
    """The page the reader came from, if it is on this site and not the failing page itself.

    A plain link needs no JavaScript (history.back() would); another site's address is never
    offered, so the error page cannot be used to send people elsewhere."""
    referrer = request.referrer
    if not referrer:
        return None
    parts = urlsplit(referrer)
    if parts.netloc != request.host or parts.scheme not in ("http", "https"):
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    target = safe_redirect_target(path, "")
    if not target or target == request.full_path.rstrip("?"):
        return None
    return target


def _retry_after(error: Exception) -> int | None:
    """Seconds to wait, when a 429 (or 503) says so in whole seconds."""
    if not isinstance(error, HTTPException):
        return None
    if isinstance(error, RateLimitExceeded):
        # The breached limit's window ends then.
        current = limiter.current_limit
        if current is not None:
            return max(1, int(current.reset_at - time.time()))
        return int(error.limit.limit.get_expiry())  # at most the whole window
    for key, value in error.get_headers():
        if key.lower() == "retry-after" and value.strip().isdigit():
            return int(value)
    return None


def _http_error(exc: HTTPException) -> Response | HTTPException:
    status = exc.code or 500
    if status < 400:
        return exc
    if wants_json():
        code, message = _HTTP_CODES.get(status, ("error", exc.description))
        response = json_error(status, code, str(message))
    else:
        response = _error_page(status, exc)
    # Keep headers the exception carries (Allow on 405).
    for key, value in exc.get_headers():
        if key.lower() != "content-type":
            response.headers[key] = value
    # A breached rate limit says when its window ends; only its 429 does (Flask-Limiter's
    # own headers are off: they went on every answer of a limited route, a 503's included).
    seconds = _retry_after(exc) if status == 429 else None
    if seconds is not None:
        response.headers["Retry-After"] = str(seconds)
    return response


def _domain_error(exc: DomainError) -> Response:
    if wants_json():
        response = jsonify({"error": exc.to_dict()})
        response.status_code = exc.status
    else:
        response = _error_page(exc.status, exc)
    response.headers.update(exc.headers)
    return response


# Served only if the error page itself cannot be rendered: no template, no translation, no
# database, so nothing here can fail again. The reference is what staff need.
_BARE_500 = """<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>Fehler / Error · Schiller40</title></head>
<body><h1>Es ist ein Fehler aufgetreten / Something went wrong</h1>
<p>Referenz / Reference: <code>{request_id}</code></p><p><a href="/">Schiller40</a></p>
</body></html>"""


def _discard_transaction(request_id: str) -> None:
    """Roll back whatever the failed request began; nothing of it may be committed later.

    On a connection that is already gone the rollback can fail too: that is expected and
    worth one line (the pool replaces the connection next time). Anything else is a bug.
    """
    try:
        lost = dbfaults.rollback(db.session)
    except Exception:
        log.exception("rollback after an error failed [request_id=%s]", request_id)
        return
    if lost is not None:
        log.warning("rollback after an error failed, database unavailable "
                    "[request_id=%s]: %s", request_id, dbfaults.describe(lost))


def _unexpected(exc: Exception) -> Response:
    request_id = getattr(g, "request_id", "-")
    log.exception(
        "unhandled error [request_id=%s] %s %s", request_id, request.method,
        redact_path(request.path),
    )
    # The request's transaction may be broken (a failed flush; PostgreSQL refuses every
    # statement after an error), and the page below loads the current user from the
    # database. Nothing of this request may be committed anyway, so start clean; without
    # this, the handler itself failed and the member got the server's bare error, no id.
    _discard_transaction(request_id)
    if wants_json():
        return json_error(
            500, "internal", str(_l("An unexpected error occurred.")), request_id=request_id
        )
    body = _page_or_bare("errors/500.html", _BARE_500, request_id, status=500)
    return Response(body, status=500, mimetype="text/html")


def _page_or_bare(template: str, bare: str, request_id: str, **context: Any) -> str:
    """The error page, or ``bare`` filled in if even that fails (a broken template, a
    missing catalogue): the reader still gets the reference staff need."""
    try:
        return render_template(template, request_id=request_id, back_url=None, **context)
    except Exception:
        log.exception("the error page failed to render [request_id=%s]", request_id)
        return bare.format(request_id=escape(request_id), **context)


DATABASE_UNAVAILABLE = _l(
    "The booking system cannot reach its database right now. Please try again in a few seconds."
)

# Served only if the 503 page itself cannot be rendered (see _BARE_500).
_BARE_503 = """<!doctype html>
<html lang="de"><head><meta charset="utf-8">
<title>Vorübergehend nicht verfügbar / Temporarily unavailable · Schiller40</title></head>
<body><h1>Vorübergehend nicht verfügbar / Temporarily unavailable</h1>
<p>Bitte versuchen Sie es in {retry_after} Sekunden erneut. /
Please try again in {retry_after} seconds.</p>
<p>Referenz / Reference: <code>{request_id}</code></p><p><a href="/">Schiller40</a></p>
</body></html>"""


def _database_error(exc: SQLAlchemyError) -> Response:
    """A lost or unreachable database is a 503 to retry; any other database error is a bug.

    The warning names the request and the driver's reason in one line: during an outage
    every request fails the same way, and a traceback for each would bury everything else.
    """
    if not dbfaults.is_unavailable(exc):
        return _unexpected(exc)
    request_id = getattr(g, "request_id", "-")
    log.warning(
        "database unavailable [request_id=%s] %s %s: %s", request_id, request.method,
        redact_path(request.path), dbfaults.describe(exc),
    )
    _discard_transaction(request_id)
    seconds = dbfaults.RETRY_AFTER_SECONDS
    if wants_json():
        response = json_error(503, "database_unavailable", str(DATABASE_UNAVAILABLE))
    else:
        response = Response(_database_page(request_id, seconds), status=503,
                            mimetype="text/html")
    response.headers["Retry-After"] = str(seconds)
    return response


def _database_page(request_id: str, seconds: int) -> str:
    """The 503 page, rendered as for a visitor who is not logged in.

    Who the reader is lives in the database: the user loader would query it again, and a
    user loaded earlier in the request was expired by the rollback and would be re-read on
    the first attribute the layout touches. Language comes from the cookie or the browser.
    """
    login_manager._update_request_context_with_user()  # current_user: anonymous, no query
    return _page_or_bare("errors/database_unavailable.html", _BARE_503, request_id,
                         status=503, retry_after=seconds)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(SQLAlchemyError, _database_error)
    app.register_error_handler(Exception, _unexpected)
