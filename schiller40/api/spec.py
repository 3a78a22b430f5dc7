"""``/api/v1/openapi.json``: the API's own description (built in ``openapi.py``)."""

from __future__ import annotations

from flask import Response, jsonify

from .blueprint import bp
from .openapi import document


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(document())
