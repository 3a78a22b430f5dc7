"""Browsers for the booking pages: a test client logged in as a user."""

from __future__ import annotations

import pytest

from tests.helpers import browser


@pytest.fixture
def mia(app, place):
    """The shared ``place``'s member, logged in."""
    return browser(app, place.member)
