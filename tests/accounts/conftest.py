"""Account view tests read English messages: ask for English, as a browser would."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


@pytest.fixture
def client(client: FlaskClient) -> FlaskClient:
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client
