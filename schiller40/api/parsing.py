"""Turning an HTTP request into validated input, or a clear 4xx that changes nothing."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from flask import g, request
from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError

from ..booking.rules import Overrides
from ..errors import DomainError
from . import schemas

MAX_JSON_BYTES = 16 * 1024
M = TypeVar("M", bound=BaseModel)


class ApiError(DomainError):
    """An input error with its own status and code (415, 413, 400, 422, 401, ...)."""

    def __init__(
        self, status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
    ) -> None:
        self.status = status
        self.code = code
        super().__init__(message, fields=fields)
        if status == 401:
            self.headers = {"WWW-Authenticate": 'Bearer realm="schiller40"'}


def _fields(exc: ValidationError) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        name = ".".join(str(p) for p in error["loc"]) or "body"
        fields.setdefault(name, []).append(error["msg"])
    return fields


def _too_large() -> ApiError:
    return ApiError(413, "too_large", _("The body may be at most %(n)d bytes.", n=MAX_JSON_BYTES))


def json_body(model: type[M]) -> M:
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise _too_large()
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", _("Send the body as application/json."))
    raw = request.get_data(cache=False)
    if len(raw) > MAX_JSON_BYTES:
        raise _too_large()
    try:
        payload: Any = json.loads(raw or b"null")
    except (ValueError, RecursionError):
        # RecursionError: 16 KiB of "[[[[..." nests deeper than the decoder can go; that is
        # unusable input like any other, not a 500.
        raise ApiError(400, "invalid_json", _("The body is not valid JSON.")) from None
    if not isinstance(payload, dict):
        raise ApiError(422, "invalid", _("The body must be a JSON object."), {"body": ["object"]})
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise ApiError(422, "invalid", _("Some fields are invalid."), _fields(exc)) from None


def optional_json_body(model: type[M]) -> M:
    """For POSTs whose body may be left out entirely (e.g. cancel without a reason)."""
    if not request.get_data(cache=True):
        return model.model_validate({})
    return json_body(model)


def query_args(model: type[M]) -> M:
    args: dict[str, str] = {}
    for key in request.args:
        values = request.args.getlist(key)
        if len(values) > 1:
            raise ApiError(422, "invalid", _("Some fields are invalid."), {key: ["given twice"]})
        args[key] = values[0]
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        raise ApiError(422, "invalid", _("Some fields are invalid."), _fields(exc)) from None


def overrides(override: schemas.Override | None) -> Overrides:
    """The rules a staff client sets aside; anyone else asking for it is refused (403)."""
    if override is None:
        return Overrides()
    if not g.api_user.is_staff:
        raise ApiError(403, "forbidden", _("Only staff may override rules."), {"override": [
            "staff only"]})
    return Overrides(
        membership=override.membership, induction=override.induction, quota=override.quota,
        opening_hours=override.opening_hours, blocks=override.blocks,
        desk_limit=override.desk_limit, reason=override.reason.strip(),
    )
