"""``/api/v1/resources``: the spaces that can be booked."""

from __future__ import annotations

from flask import Response, jsonify
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..resources.models import Resource
from .auth import token_required
from .blueprint import bp
from .serializers import resource_json


@bp.get("/resources")
@token_required
def list_resources() -> Response:
    rows = db.session.scalars(
        select(Resource)
        .where(Resource.is_active.is_(True))
        .options(selectinload(Resource.location))
        .order_by(Resource.kind, Resource.zone, Resource.position, Resource.id)
    )
    return jsonify({"resources": [resource_json(r) for r in rows]})
