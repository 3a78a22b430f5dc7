"""Property-based fuzzing of API v1 with schemathesis, from the OpenAPI document the app serves.

Every operation of /api/v1/openapi.json gets generated requests (valid and invalid bodies,
query strings and path ids), sent in-process to the WSGI app on both databases, as the
place's member holding a real bearer token, against a scene of bookings. Each answer must not
be a 5xx, must have a documented status code and must match the documented schema.

Reproducible: derandomize=True and no example database, so CI runs the same cases every time.
"""

from __future__ import annotations

import contextvars
import os
import secrets
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from schiller40.accounts.models import ApiToken
from schiller40.accounts.tokens import TOKEN_LIFETIME, digest
from schiller40.api.openapi import document
from schiller40.booking.create import create_bookings
from schiller40.booking.requests import BookingRequest
from schiller40.core.time import BERLIN
from schiller40.extensions import db
from tests.helpers import TUE, at

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Per operation and database (24 operations, 12 of them again as staff): with schemathesis's
# explicit and coverage cases, and the range cases below, some 2,000 cases per database (see
# docs/security.md).
# SCHILLER40_FUZZ_EXAMPLES=200 for a deeper run by hand.
MAX_EXAMPLES = int(os.environ.get("SCHILLER40_FUZZ_EXAMPLES", "15"))


CASES: dict[str, int] = {}  # cases sent per database, for docs/security.md (pytest -s)


@pytest.fixture(scope="module", autouse=True)
def _report_cases():
    yield
    if CASES:
        print(f"\nschemathesis cases per database: {CASES}")


def mint_token(user, clock) -> str:
    """A bearer token for the user, stored as POST /api/v1/tokens stores it (digest only)."""
    token = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, digest=digest(token), created_at=clock(),
                            expires_at=clock() + TOKEN_LIFETIME))
    db.session.commit()
    return token


class Isolated:
    """The app as gunicorn runs it: each request in a fresh context with its own session.

    The tests' app fixture keeps an app context pushed; without this, requests would reuse it
    and share the test's database session (as tests.conftest.IsolatedClient explains).
    """

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        db.session.commit()
        return contextvars.Context().run(self.app.wsgi_app, environ, start_response)


@pytest.fixture
def scene(place, factory, clock, backend):
    """The member's own bookings in several states, and someone else's.

    Shared by all examples of one operation: what one example books or cancels, the next sees.
    """
    member = place.member
    for resource, start, end in (
        (place.desks[0], at(TUE, 8), at(TUE, 20)),      # confirmed, included desk day
        (place.room, at(TUE, 10), at(TUE, 12)),          # paid: held until checkout
        (place.studio, at(TUE, 14), at(TUE, 15)),        # studio: waits for approval
    ):
        create_bookings(
            db.session, actor=member, now=clock(),
            request=BookingRequest(start=start, end=end, resource_slug=resource.slug),
        )
    other = factory.user(email="otto@example.org")
    factory.booking(resource=place.desks[1], user=other,
                    starts_at=at(TUE, 8), duration=timedelta(hours=5))
    db.session.commit()
    place.backend = backend
    return place


# Collected from the same document the app serves at /api/v1/openapi.json (one test per
# operation and database); test_the_fuzzed_document_is_the_served_one keeps them the same.
# (schemathesis.pytest.from_fixture would load it from each test's app, but it does not run
# under pytest 9.)
schema = schemathesis.openapi.from_dict(document())


def test_the_fuzzed_document_is_the_served_one(client):
    assert client.get("/api/v1/openapi.json").get_json() == document()


def test_the_fuzzing_tokens_open_the_scene(client, scene, clock):
    """The fuzzing is not 401s throughout: a minted token sees the member's three bookings,
    and staff see all four."""
    for user, count in ((scene.member, 3), (scene.staff, 4)):
        token = mint_token(user, clock)
        response = client.get("/api/v1/bookings", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert len(response.get_json()["bookings"]) == count


FUZZ = settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))


def send(case, app, scene, token: str) -> None:
    CASES[scene.backend] = CASES.get(scene.backend, 0) + 1
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS,
                           app=Isolated(app))


@schema.parametrize()
@FUZZ
def test_api_answers_as_documented(case, app, scene, clock):
    """Every operation, as the member."""
    token = getattr(scene, "token", None)
    if token is None or (case.method == "DELETE" and case.path == "/api/v1/tokens/current"):
        # Logging out revokes the token it is called with: give each such case its own.
        token = mint_token(scene.member, clock)
        if case.method != "DELETE":
            scene.token = token
    send(case, app, scene, token)


# Staff may see and change everyone's bookings, refund, approve and reject: those operations
# again with a staff token.
staff_schema = schema.include(path_regex=r"^/api/v1/bookings")


@staff_schema.parametrize()
@FUZZ
def test_api_answers_staff_as_documented(case, app, scene, clock):
    token = getattr(scene, "staff_token", None)
    if token is None:
        token = scene.staff_token = mint_token(scene.staff, clock)
    send(case, app, scene, token)


# --- ranges ----------------------------------------------------------------------------------
#
# The generic fuzzing above draws start and end independently, from the whole century, and
# resources from random slugs: it rarely sends a real resource with an end a few days before
# its start, which was a 500 on PostgreSQL (issue 17: 32 of 25,804 cases from outside). Here
# the operations that take a range get real resources and ids, and ends placed on purpose
# around their starts: inverted by minutes, days or years, empty, within a day, just over.

RANGED = {
    "book": ("/api/v1/bookings", "POST"),
    "waitlist": ("/api/v1/waitlist", "POST"),
    "reschedule": ("/api/v1/bookings/{booking_id}", "PATCH"),
}
# Where starts fall, as wall times (the zone is drawn apart): the scene's week, where its
# bookings lie, or anywhere in the century.
STARTS = st.one_of(
    st.datetimes(min_value=datetime(2026, 11, 20), max_value=datetime(2026, 12, 5)),  # noqa: DTZ001
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),  # noqa: DTZ001
)
OFFSETS = st.one_of(
    st.sampled_from([timedelta(days=-3), timedelta(days=-1, minutes=-1), timedelta(days=-1),
                     timedelta(hours=-1), timedelta(0), timedelta(minutes=30), timedelta(hours=1),
                     timedelta(hours=12), timedelta(days=1), timedelta(days=1, minutes=30),
                     timedelta(days=-400)]),
    st.timedeltas(min_value=timedelta(days=-60), max_value=timedelta(days=3)),
)
ZONES = st.sampled_from([UTC, BERLIN])
TARGETS = st.one_of(
    st.fixed_dictionaries({"resource": st.sampled_from(["studio", "room", "desk-a1", "desk-b2"])}),
    st.fixed_dictionaries({"kind": st.sampled_from(["desk", "studio", "room"])}),
)
RANGE_EXAMPLES = int(os.environ.get("SCHILLER40_FUZZ_RANGE_EXAMPLES", "40"))


def _iso(instant: datetime, zone) -> str:
    return instant.replace(tzinfo=zone).isoformat()


@pytest.mark.parametrize("operation", RANGED)
@settings(max_examples=RANGE_EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(start=STARTS, offset=OFFSETS, zone=ZONES, target=TARGETS,
       staff=st.booleans(), which=st.integers(min_value=0, max_value=3))
# What was a 500 on PostgreSQL: the end three days before the start, on a real resource.
@example(start=datetime(2026, 11, 27, 10), offset=timedelta(days=-3),  # noqa: DTZ001
         zone=BERLIN, target={"resource": "studio"}, staff=False, which=0)
@example(start=datetime(2026, 11, 27, 8), offset=timedelta(days=-3),  # noqa: DTZ001
         zone=BERLIN, target={"kind": "desk"}, staff=True, which=1)
def test_ranges_answer_as_documented(operation, app, scene, clock, start, offset, zone, target,
                                     staff, which):
    """Every operation that takes a range, with ends placed around real starts: never a 5xx,
    every answer as documented, on both databases."""
    path, method = RANGED[operation]
    body: dict = {"start": _iso(start, zone), "end": _iso(start + offset, zone)}
    path_parameters = None
    if operation == "book":
        body |= target
    elif operation == "waitlist":
        body["resource"] = target.get("resource", "studio")
    else:
        path_parameters = {"booking_id": which + 1}  # the scene's bookings are 1 to 4
    attribute = "staff_token" if staff else "token"
    token = getattr(scene, attribute, None)
    if token is None:
        token = mint_token(scene.staff if staff else scene.member, clock)
        setattr(scene, attribute, token)
    case = schema[path][method].Case(body=body, path_parameters=path_parameters,
                                     media_type="application/json")
    send(case, app, scene, token)
