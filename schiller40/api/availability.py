"""``/api/v1/availability``: the free times of the spaces, kept per worker under a stamp of
their inputs (see "Kept answers" in docs/architecture.md)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, jsonify
from flask_babel import gettext as _

from ..booking import queries
from ..core.bytecache import kept
from ..core.clock import now
from ..core.locking import begin_snapshot, ensure_snapshot
from ..extensions import db
from . import schemas
from .auth import token_required
from .blueprint import bp
from .parsing import ApiError, query_args
from .serializers import interval_json


def _one_snapshot(view: Callable[..., Response]) -> Callable[..., Response]:
    """Run the view, token check included, in one snapshot of the database (see
    ``begin_snapshot``). Before the token check, so that no second transaction is needed
    (unless the check writes; the view calls ``ensure_snapshot``)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        begin_snapshot(db.session)
        return view(*args, **kwargs)

    return wrapper


@bp.get("/availability")
@_one_snapshot
@token_required
def availability() -> Response:
    args = query_args(schemas.AvailabilityQuery)
    if args.kind is not None and args.resource is not None:
        raise ApiError(422, "invalid", _("Give either kind or resource, not both."),
                       {"kind": ["kind or resource, not both"]})
    instant = now()
    answers = kept("availability")
    key = None
    if answers is not None and queries.keeps_availability(args.date, instant):
        # The stamp and the answer come from one snapshot (_one_snapshot), or an answer
        # could be kept under the stamp of an older state.
        ensure_snapshot(db.session)
        stamp = queries.availability_stamp(db.session, day=args.date, days=args.days,
                                           now=instant)
        # The stamp as a digest: on SQLite its parts are the rows themselves (kilobytes),
        # which the cache's byte bound would not count.
        key = (args.date, args.days, args.kind, args.resource,
               hashlib.sha256(repr(stamp).encode()).digest())
        if (body := answers.get(key)) is not None:
            return Response(body, mimetype="application/json")
    rows = queries.availability(
        db.session, day=args.date, days=args.days, now=instant, kind=args.kind,
        resource_slug=args.resource,
    )
    response = jsonify({
        "date": args.date.isoformat(),
        "days": args.days,
        "resources": [
            {"slug": r.slug, "kind": r.kind.value, "zone": r.zone,
             "free": [interval_json(i, r) for i in free]}
            for r, free in rows
        ],
    })
    if key is not None:
        answers.put(key, response.get_data())
    return response
