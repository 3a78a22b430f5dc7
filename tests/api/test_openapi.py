"""The served OpenAPI document is valid and matches the routes exactly."""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator

from schiller40.api.openapi import document


def _flask_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    return routes


def _documented() -> set[tuple[str, str]]:
    methods = {"get", "post", "put", "patch", "delete"}
    return {
        (path, method)
        for path, item in document()["paths"].items()
        for method in item
        if method in methods
    }


def test_every_route_is_documented_and_every_documented_route_exists(app):
    routes = _flask_routes(app)
    documented = _documented()
    assert routes - documented == set(), "routes missing from openapi.json"
    assert documented - routes == set(), "openapi.json documents routes that do not exist"


def test_the_document_is_served_and_its_schemas_are_valid(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    served = response.get_json()
    assert served["openapi"] == "3.1.0"
    assert served == document()
    for name, schema in served["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema), name


def test_every_operation_documents_its_errors():
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method == "parameters" or path.endswith("openapi.json"):
                continue
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (path, method)
            if operation.get("security", None) != []:
                assert "401" in responses, (path, method)


def test_the_answer_checker_catches_mismatches():
    """The checker every API test relies on must be able to fail."""
    import pytest

    from .openapi_check import check

    check("GET", "/api/v1/resources", 200, {"resources": []})
    bad = [
        ("GET", "/api/v1/bookings/5", 404, {"error": {"code": 1, "message": "", "fields": {}}}),
        ("GET", "/api/v1/bookings/5", 200, {"booking": {"id": "x"}}),
        ("GET", "/api/v1/resources", 200, {"resources": [{"slug": "a"}]}),
        ("GET", "/api/v1/bookings/5", 418, None),
        ("GET", "/api/v1/nowhere", 200, {}),
    ]
    for method, path, status, body in bad:
        with pytest.raises(AssertionError):
            check(method, path, status, body)


def test_every_operation_but_the_document_itself_documents_the_database_503():
    """Any call that reaches the database can meet it unreachable (tests/security/
    test_faults_database.py): the 503 with code database_unavailable is documented."""
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            documented = "503" in operation["responses"]
            assert documented is not path.endswith("openapi.json"), (path, method)
            if documented:
                assert "database_unavailable" in operation["responses"]["503"]["description"]
