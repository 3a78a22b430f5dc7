"""Browsers for the booking pages: a test client logged in as a user."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD


def browser(app, user):
    """A client logged in through the log-in form, as a member's browser would be."""
    client = app.test_client()
    assert client.post("/login", data={"email": user.email,
                                       "password": PASSWORD}).status_code == 302
    return client


@pytest.fixture
def mia(app, place):
    """The shared ``place``'s member, logged in."""
    return browser(app, place.member)
