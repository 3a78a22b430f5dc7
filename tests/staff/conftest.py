"""Staff page fixtures: logged-in browsers for staff and for a member (who must see 404s)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import PASSWORD


def login(app: Flask, user) -> FlaskClient:
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, "log-in failed"
    return client


@pytest.fixture
def staff_browser(app, place) -> FlaskClient:
    return login(app, place.staff)


@pytest.fixture
def member_browser(app, place) -> FlaskClient:
    return login(app, place.member)
