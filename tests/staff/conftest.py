"""Staff page fixtures: logged-in browsers for staff and for a member (who must see 404s)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.helpers import browser


@pytest.fixture
def staff_browser(app, place) -> FlaskClient:
    return browser(app, place.staff)


@pytest.fixture
def member_browser(app, place) -> FlaskClient:
    return browser(app, place.member)
