"""Fixtures for API tests: an authenticated client that checks every answer against OpenAPI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.factories import PASSWORD

from .openapi_check import check


@dataclass
class Api:
    """Calls the API as a given user; every answer is validated against the OpenAPI document."""

    client: Any
    token: str | None = None

    def call(self, method: str, path: str, *, json: Any = None, headers: dict | None = None,
             **kw: Any):
        all_headers = dict(headers or {})
        if self.token:
            all_headers.setdefault("Authorization", f"Bearer {self.token}")
        response = self.client.open(path, method=method, json=json, headers=all_headers, **kw)
        body = response.get_json(silent=True) if response.data else None
        check(method, path, response.status_code, body)
        return response

    def get(self, path: str, **kw: Any):
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any):
        return self.call("POST", path, **kw)

    def patch(self, path: str, **kw: Any):
        return self.call("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any):
        return self.call("DELETE", path, **kw)


@pytest.fixture
def api_as(client):
    """``api_as(user)`` logs the user in through POST /api/v1/tokens and returns an Api."""

    def login(user, password: str = PASSWORD) -> Api:
        anonymous = Api(client)
        response = anonymous.post("/api/v1/tokens", json={"email": user.email,
                                                          "password": password})
        assert response.status_code == 201, response.get_json()
        return Api(client, response.get_json()["token"])

    return login


@pytest.fixture
def anonymous_api(client) -> Api:
    return Api(client)


@pytest.fixture
def api(place, api_as) -> Api:
    """The shared ``place``'s member, logged in to the API."""
    return api_as(place.member)


@pytest.fixture
def staff_api(place, api_as) -> Api:
    return api_as(place.staff)
