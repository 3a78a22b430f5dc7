"""A request stuck behind a row lock gives up after SCHILLER40_LOCK_TIMEOUT_SECONDS with a 503."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from schiller40.core.locking import lock_rows, write
from schiller40.extensions import db
from schiller40.resources.models import Resource
from tests.helpers import TUE, booking_rows, span


@pytest.fixture
def app_config() -> dict:
    return {"LOCK_TIMEOUT_SECONDS": 1}


@pytest.mark.postgresql_only
def test_a_waiter_behind_a_held_lock_gets_503_not_a_killed_worker(app, place, api_as):
    """Someone holds the desk's row lock (a stuck transaction, a long admin statement): a
    booking of that desk waits one second, then gets 503 with Retry-After, and writes nothing."""
    api = api_as(place.member)
    holder = Session(db.engine)
    try:
        with write(holder):
            lock_rows(holder, Resource, [place.desks[0].id])
            response = api.post("/api/v1/bookings",
                                json={"resource": place.desks[0].slug, **span(TUE, 8, 13)})
            assert response.status_code == 503, response.get_json()
            assert response.headers["Retry-After"]
            assert response.get_json()["error"]["code"] == "database_unavailable"
    finally:
        holder.close()
    assert booking_rows() == 0
    # The lock released, the same request books.
    response = api.post("/api/v1/bookings",
                        json={"resource": place.desks[0].slug, **span(TUE, 8, 13)})
    assert response.status_code == 201, response.get_json()
