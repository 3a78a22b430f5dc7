"""API log-in end to end: tokens are issued, revoked and expire; every request without a
valid token is a 401 that says how to authenticate; bodies that cannot be read are 4xx."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from schiller40.accounts.models import ApiToken
from schiller40.extensions import db
from tests.factories import PASSWORD
from tests.helpers import count_rows

TOKENS = "/api/v1/tokens"
CHALLENGE = 'Bearer realm="schiller40"'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_log_in_returns_a_token_that_lasts_30_days(anonymous_api, factory, clock):
    user = factory.user(email="mia@example.org")
    response = anonymous_api.post(TOKENS, json={"email": "mia@example.org", "password": PASSWORD})
    assert response.status_code == 201
    body = response.get_json()
    assert len(body["token"]) >= 40
    expires = datetime.fromisoformat(body["expires_at"])
    assert expires == clock() + timedelta(days=30)
    assert body["expires_at"] == "2026-12-23T09:00:00+01:00"  # local time, with offset
    assert anonymous_api.get("/api/v1/resources", headers=bearer(body["token"])).status_code == 200
    # only the digest is stored
    row = db.session.scalar(select(ApiToken))
    assert row.user_id == user.id and body["token"] not in row.digest


def test_the_e_mail_address_is_not_case_sensitive(anonymous_api, factory):
    factory.user(email="mia@example.org")
    response = anonymous_api.post(TOKENS, json={"email": " Mia@Example.ORG", "password": PASSWORD})
    assert response.status_code == 201


@pytest.mark.parametrize("case", ["wrong_password", "unknown_email", "deactivated"])
def test_a_failed_log_in_is_401_and_never_says_why(anonymous_api, factory, case):
    factory.user(email="mia@example.org")
    factory.user(email="gone@example.org", is_active_account=False)
    credentials = {
        "wrong_password": {"email": "mia@example.org", "password": "not the password"},
        "unknown_email": {"email": "nobody@example.org", "password": PASSWORD},
        "deactivated": {"email": "gone@example.org", "password": PASSWORD},
    }[case]
    response = anonymous_api.post(TOKENS, json=credentials, headers={"Accept-Language": "en"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert response.get_json()["error"] == {
        "code": "unauthorized",
        "message": "E-mail address or password is not correct.",
        "fields": {},
    }
    assert count_rows(ApiToken) == 0


BAD_BODIES = [
    # (what is wrong, request keywords, status, code, field named in "fields")
    ("missing password", dict(json={"email": "mia@example.org"}), 422, "invalid", "password"),
    ("missing email", dict(json={"password": PASSWORD}), 422, "invalid", "email"),
    ("extra field", dict(json={"email": "mia@example.org", "password": PASSWORD,
                               "remember_me": True}), 422, "invalid", "remember_me"),
    ("password as a number", dict(json={"email": "mia@example.org", "password": 12345678}),
     422, "invalid", "password"),
    ("email as a list", dict(json={"email": ["mia@example.org"], "password": PASSWORD}),
     422, "invalid", "email"),
    ("NUL in the e-mail address", dict(json={"email": "mia\u0000@example.org",
                                             "password": PASSWORD}), 422, "invalid", "email"),
    ("empty password", dict(json={"email": "mia@example.org", "password": ""}),
     422, "invalid", "password"),
    ("JSON null", dict(data="null", content_type="application/json"), 422, "invalid", "body"),
    ("JSON array", dict(data='["mia@example.org"]', content_type="application/json"),
     422, "invalid", "body"),
    ("JSON string", dict(data='"mia"', content_type="application/json"), 422, "invalid", "body"),
    ("no body at all", dict(content_type="application/json"), 422, "invalid", "body"),
    ("not JSON", dict(data="{email: mia}", content_type="application/json"),
     400, "invalid_json", None),
    ("not UTF-8", dict(data=b"\xff\xfe{", content_type="application/json"),
     400, "invalid_json", None),
    ("nested too deep", dict(data="[" * 6000 + "]" * 6000, content_type="application/json"),
     400, "invalid_json", None),
    ("a form", dict(data={"email": "mia@example.org", "password": PASSWORD}),
     415, "unsupported_media_type", None),
    ("text/plain", dict(data=json.dumps({"email": "mia@example.org", "password": PASSWORD}),
                        content_type="text/plain"), 415, "unsupported_media_type", None),
    ("no content type", dict(), 415, "unsupported_media_type", None),
    ("over 16 KiB", dict(json={"email": "mia@example.org", "password": "x" * (16 * 1024)}),
     413, "too_large", None),
]


def test_bodies_that_cannot_be_used_are_refused(anonymous_api, factory):
    # One test for the whole table, every case tried, all failures reported together.
    factory.user(email="mia@example.org")
    problems = []
    for case, request_kw, status, code, field in BAD_BODIES:
        try:
            response = anonymous_api.post(TOKENS, **request_kw)
            assert response.status_code == status, response.get_json()
            error = response.get_json()["error"]
            assert error["code"] == code and error["message"], error
            if field is not None:
                assert field in error["fields"], error
            assert count_rows(ApiToken) == 0
        except AssertionError as exc:
            problems.append(f"{case}: {exc}")
    assert not problems, "\n".join(problems)


def test_log_out_revokes_only_the_token_used(api_as, factory):
    user = factory.user()
    first, second = api_as(user), api_as(user)
    response = first.delete("/api/v1/tokens/current")
    assert response.status_code == 204 and response.data == b""
    refused = first.get("/api/v1/resources")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == CHALLENGE
    assert first.delete("/api/v1/tokens/current").status_code == 401
    assert second.get("/api/v1/resources").status_code == 200


def test_a_token_expires_after_30_days(api_as, factory, clock):
    api = api_as(factory.user())
    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    assert api.get("/api/v1/resources").status_code == 200
    clock.advance(timedelta(seconds=1))
    response = api.get("/api/v1/resources")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_a_deactivated_members_token_stops_working(api_as, factory):
    user = factory.user()
    api = api_as(user)
    user.is_active_account = False
    assert api.get("/api/v1/resources").status_code == 401


HEADERS = [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Bearer not-a-token",
    "Bearer " + "x" * 300,
    "Basic bWlhQGV4YW1wbGUub3JnOmNvcnJlY3QgaG9yc2UgYmF0dGVyeQ==",
    "Basic {token}",  # a real token under the wrong scheme
    "Token {token}",
    "{token}",  # no scheme at all
]
CALLS = [
    ("get", "/api/v1/resources", {}),
    ("get", "/api/v1/availability?date=2026-11-24", {}),
    ("get", "/api/v1/bookings", {}),
    ("post", "/api/v1/bookings", {"json": {"kind": "desk", "start": "2026-11-24T08:00:00+01:00",
                                           "end": "2026-11-24T13:00:00+01:00"}}),
    ("get", "/api/v1/bookings/1", {}),
    ("patch", "/api/v1/bookings/1", {"json": {}}),
    ("post", "/api/v1/bookings/1/cancel", {}),
    ("get", "/api/v1/waitlist", {}),
    ("post", "/api/v1/waitlist", {"json": {}}),
    ("post", "/api/v1/waitlist/1/accept", {}),
    ("post", "/api/v1/waitlist/1/decline", {}),
    ("delete", "/api/v1/tokens/current", {}),
]


def test_requests_without_a_valid_bearer_token_are_401(api_as, anonymous_api, factory):
    token = api_as(factory.user()).token
    problems = []
    for header in HEADERS:
        headers = {} if header is None else {"Authorization": header.format(token=token)}
        for method, path, kw in CALLS:
            response = getattr(anonymous_api, method)(path, headers=headers, **kw)
            if (response.status_code, response.headers.get("WWW-Authenticate"),
                    (response.get_json() or {}).get("error", {}).get("code")) != (
                        401, CHALLENGE, "unauthorized"):
                problems.append(f"{header!r} {method} {path}: {response.status_code}")
    assert not problems, "\n".join(problems)


def test_the_scheme_is_case_insensitive(api_as, anonymous_api, factory):
    token = api_as(factory.user()).token
    response = anonymous_api.get("/api/v1/resources", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


def test_the_openapi_document_needs_no_token(anonymous_api, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
