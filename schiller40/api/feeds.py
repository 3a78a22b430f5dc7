"""``/api/v1/feeds``: the member's calendar feeds, a new address for one, switching one
off."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify

from ..core.clock import now
from ..extensions import db
from ..feeds import service as feeds
from ..feeds.queries import feed_name
from ..feeds.urls import feed_url, webcal_url
from .auth import token_required
from .blueprint import bp


def _feed_json(feed: Any) -> dict[str, Any]:
    url = feed_url(feed)
    return {
        "id": feed.id,
        "kind": feed.kind.value,
        "name": feed_name(feed),
        "resource": feed.resource.slug if feed.resource is not None else None,
        "active": feed.is_active,
        "url": url if feed.is_active else None,
        "webcal": webcal_url(url) if feed.is_active else None,
    }


@bp.get("/feeds")
@token_required
def list_feeds() -> Response:
    rows = feeds.feeds_for(db.session, user=g.api_user, now=now())
    return jsonify({"feeds": [_feed_json(f) for f in rows]})


@bp.post("/feeds/<id:feed_id>/rotate")
@token_required
def rotate_feed(feed_id: int) -> Response:
    feed = feeds.rotate(db.session, user=g.api_user, feed_id=feed_id, now=now())
    return jsonify({"feed": _feed_json(feed)})


@bp.delete("/feeds/<id:feed_id>")
@token_required
def revoke_feed(feed_id: int) -> tuple[str, int]:
    feeds.revoke(db.session, user=g.api_user, feed_id=feed_id, now=now())
    return "", 204
