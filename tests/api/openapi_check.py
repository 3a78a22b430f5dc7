"""Check real API answers against the served OpenAPI document."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from schiller40.api.openapi import document

URN = "urn:schiller40:openapi"


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


@cache
def _registry() -> Registry:
    doc = document()
    return Registry().with_resource(URN, DRAFT202012.create_resource(doc))


def _template_for(path: str) -> str:
    doc = document()
    for template in doc["paths"]:
        pattern = "^" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$"
        if re.match(pattern, path):
            return template
    raise AssertionError(f"{path} is not documented")


def check(method: str, path: str, status: int, body: Any) -> None:
    """Fail if ``status`` is not documented for the route or ``body`` does not match."""
    doc = document()
    template = _template_for(path.split("?")[0])
    operation = doc["paths"][template].get(method.lower())
    assert operation is not None, f"{method} {template} is not documented"
    response = operation["responses"].get(str(status))
    assert response is not None, f"{method} {template} answers {status}, not documented"
    content = response.get("content")
    if content is None:
        return
    # Validate through a reference into the whole document, so the schema's own "#/..."
    # references resolve against the document rather than against the fragment.
    pointer = "/".join(
        _escape(p) for p in ("paths", template, method.lower(), "responses", str(status),
                             "content", "application/json", "schema")
    )
    validator = Draft202012Validator({"$ref": f"{URN}#/{pointer}"}, registry=_registry())
    errors = sorted(validator.iter_errors(body), key=lambda e: e.path)
    assert not errors, f"{method} {path} {status}: {errors[0].message} at {list(errors[0].path)}"
