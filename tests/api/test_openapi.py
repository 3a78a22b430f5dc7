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


def test_every_operation_documents_the_servers_414_for_an_over_long_url():
    """Found silent by schemathesis from outside: gunicorn answers 414 (an HTML page) to a
    request line over its limit, before the app. The limit the document states is the one
    gunicorn.conf.py sets (the answer itself: tests/security/test_faults_process_kill.py)."""
    import runpy
    from pathlib import Path

    from schiller40.api.openapi import MAX_REQUEST_LINE

    conf = runpy.run_path(str(Path(__file__).parents[2] / "gunicorn.conf.py"))
    assert conf["limit_request_line"] == MAX_REQUEST_LINE
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            documented = operation["responses"].get("414")
            assert documented is not None, (path, method)
            assert list(documented["content"]) == ["text/html"], (path, method)
            assert f"{MAX_REQUEST_LINE:,}" in documented["description"]


def _body_schema(name: str) -> Draft202012Validator:
    schemas = document()["components"]["schemas"]
    return Draft202012Validator(
        {**schemas[name], "components": {"schemas": schemas}},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


SPAN = {"start": "2026-11-24T10:00:00+01:00", "end": "2026-11-24T11:00:00+01:00"}


def test_the_document_says_resource_and_kind_exclude_each_other(api):
    """POST /bookings takes a resource or a kind, never both or neither: the document (oneOf)
    and the API agree on each case."""
    validator = _body_schema("BookingCreate")
    cases = [
        ({"resource": "room"}, True),
        ({"kind": "room"}, True),
        ({"resource": None, "kind": "room"}, True),
        ({"resource": "room", "kind": None}, True),
        ({"resource": "room", "kind": "room"}, False),
        ({}, False),
        ({"resource": None, "kind": None}, False),
    ]
    for target, valid in cases:
        body = {**SPAN, **target}
        assert validator.is_valid(body) is valid, target
        answer = api.post("/api/v1/bookings", json=body)
        assert (answer.status_code != 422) is valid, (target, answer.get_json())
        if not valid:
            assert answer.get_json()["error"]["code"] == "invalid"


def test_the_document_states_the_years_the_api_accepts():
    """Dates and date-times in the years 2000 to 2099 as written, in the document (a pattern)
    and in the validators alike, whatever the offset."""
    from pydantic import ValidationError

    from schiller40.api import schemas

    validator = _body_schema("WaitlistCreate")
    day_schema = next(p["schema"] for p in document()["paths"]["/api/v1/availability"]["get"][
        "parameters"] if p["name"] == "date")
    day_validator = Draft202012Validator(day_schema)
    for year, accepted in ((1999, False), (2000, True), (2099, True), (2100, False)):
        for written in (f"{year}-01-01T00:30:00+01:00", f"{year}-12-31T23:30:00-01:00"):
            body = {"resource": "studio", "start": written, "end": written}
            assert validator.is_valid(body) is accepted, written
            try:
                schemas.WaitlistCreate.model_validate(body)
            except ValidationError:
                assert not accepted, written
            else:
                assert accepted, written
        day = f"{year}-06-01"
        assert day_validator.is_valid(day) is accepted, day
        try:
            schemas.AvailabilityQuery.model_validate({"date": day})
        except ValidationError:
            assert not accepted, day
        else:
            assert accepted, day
