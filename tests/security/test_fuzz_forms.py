"""Property-based tests of the HTML forms: random field values, extra fields and odd encodings.

Whatever is posted, the answer is never a 5xx; and a form that answers with its errors (any
status but a redirect) has written nothing: every table has as many rows as before and the
member's profile is unchanged. CSRF is off in the test configuration, so the random input
reaches the forms' own validation (with CSRF on, it would stop at the token).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from schiller40.accounts.models import User
from schiller40.booking.create import create_bookings
from schiller40.booking.requests import BookingRequest
from schiller40.extensions import db
from tests.factories import PASSWORD
from tests.helpers import TUE, at, log_in

FUZZ = settings(max_examples=150, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))
REDIRECTS = {301, 302, 303}

# Text as a form field can carry it: anything printable, NUL and other controls, long values.
text = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(["", " ", "\x00", "0", "-1", "1e309", "NaN", "9" * 40, "a" * 600,
                     "<script>alert(1)</script>", "' OR 1=1 --", "%00", "\ud800".encode(
                         "utf-8", "surrogatepass").decode("latin-1")]),
)
days = st.one_of(text, st.sampled_from(["2026-11-24", "2026-11-23", "2026-11-22", "2026-02-30",
                                        "9999-12-31", "0001-01-01", "24.11.2026"]),
                 st.dates().map(str))
times = st.one_of(text, st.sampled_from(["08:00", "13:00", "20:00", "10:30", "24:00", "07:59",
                                         "23:59:59", "10:00:00.5"]),
                  st.times().map(lambda t: t.strftime("%H:%M")))
parts = st.one_of(text, st.sampled_from(["day", "morning", "afternoon"]))
emails = st.one_of(text, st.emails().map(str), st.sampled_from(["mia@example.org",
                                                                "MIA@EXAMPLE.ORG"]))
passwords = st.one_of(text, st.just(PASSWORD))
extra_fields = st.dictionaries(st.text(max_size=10), text, max_size=3)


def form(**fields):
    """A form body: the given fields (each may be missing) and some unknown ones."""
    optional = {name: st.one_of(st.none(), strategy) for name, strategy in fields.items()}
    return st.tuples(st.fixed_dictionaries(optional), extra_fields).map(
        lambda pair: {**pair[1], **{k: v for k, v in pair[0].items() if v is not None}})


def snapshot() -> tuple:
    """Row counts of every table and the member's profile: what a refused form must not touch."""
    db.session.expire_all()
    counts = tuple(db.session.scalar(select(func.count()).select_from(table))
                   for table in db.metadata.sorted_tables)
    users = db.session.execute(
        select(User.id, User.email, User.name, User.locale, User.password_hash)
        .order_by(User.id)).all()
    return counts, tuple(users)


def post_and_check(client, path: str, data: dict):
    """Never a 5xx; an answer that is not a redirect (the form with its errors) wrote nothing.

    A redirect is a success and may write (a booking, a profile, the log-in's audit entry).
    """
    before = snapshot()
    response = client.post(path, data=data)
    assert response.status_code < 500, (path, data, response.status_code)
    if response.status_code not in REDIRECTS:
        assert snapshot() == before, (path, data, response.status_code)
    return response


@pytest.fixture
def member_client(client, place):
    log_in(client, place.member)
    # The account page creates the member's calendar feeds when first shown (by design, not a
    # write of the profile form): show it once before the fuzzing compares snapshots.
    assert client.get("/account").status_code == 200
    return client


@pytest.fixture
def own_booking(place, clock):
    outcome = create_bookings(
        db.session, actor=place.member, now=clock(),
        request=BookingRequest(start=at(TUE, 10), end=at(TUE, 12), resource_slug="studio"),
    )
    db.session.commit()
    return outcome.occurrences[0].booking.id


# --- logged out -------------------------------------------------------------------------------


def test_login_form(client, place):
    @FUZZ
    @given(data=form(email=emails, password=passwords, remember=text, next=text))
    def check(data):
        client.post("/logout")
        response = post_and_check(client, "/login", data)
        if response.status_code in REDIRECTS:
            # Only the member's own credentials log in, and only to a page of this site.
            assert data.get("password") == PASSWORD
            location = response.headers["Location"]
            assert location.startswith("/") and not location.startswith(("//", "/\\"))

    check()


def test_register_form(client, place):
    @FUZZ
    @given(data=form(name=text, email=emails, password=passwords, password_confirm=passwords))
    def check(data):
        post_and_check(client, "/register", data)
        client.post("/logout")

    check()


# --- the member's forms -----------------------------------------------------------------------


def test_booking_form(member_client, place):
    @FUZZ
    @given(slug=st.sampled_from(["desk-a1", "room", "studio"]),
           data=form(day=days, part=parts, start=times, end=times, note=text,
                     action=st.sampled_from(["preview", "book", ""])))
    def check(slug, data):
        post_and_check(member_client, f"/resources/{slug}/book", data)

    check()


def test_reschedule_form(member_client, place, own_booking):
    @FUZZ
    @given(data=form(day=days, part=parts, start=times, end=times, note=text,
                     resource=st.one_of(text, st.sampled_from(["studio", "room", "desk-a1"]))))
    def check(data):
        post_and_check(member_client, f"/bookings/{own_booking}/reschedule", data)

    check()


def test_profile_form(member_client, place):
    @FUZZ
    @given(data=form(name=text, locale=st.one_of(text, st.sampled_from(["de", "en"]))))
    def check(data):
        post_and_check(member_client, "/account", data)

    check()


def test_the_booking_scene_is_as_the_fuzzing_expects(member_client, place, own_booking):
    """The reschedule fuzzing reaches the form (not a redirect away from a booking it may
    not change), and a valid move is a redirect that writes (the invariant is not vacuous)."""
    page = member_client.get(f"/bookings/{own_booking}/reschedule")
    assert page.status_code == 200
    before = snapshot()
    moved = member_client.post(f"/bookings/{own_booking}/reschedule", data={
        "day": "2026-11-24", "start": "12:00", "end": "14:00", "resource": "studio"})
    assert moved.status_code in REDIRECTS
    assert snapshot() != before  # the move is written (with its audit entry)


# --- staff forms ------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client, place):
    log_in(client, place.staff)
    return client


booleans = st.one_of(text, st.sampled_from(["y", "on", "true"]))


def test_staff_booking_form(staff_client, place):
    @FUZZ
    @given(slug=st.sampled_from(["room", "studio"]),  # desks have their own day calendar
           data=form(email=emails, day=days, start=times, end=times, note=text,
                     override_hours=booleans, override_blocks=booleans))
    def check(slug, data):
        post_and_check(staff_client, f"/staff/calendar/{slug}/book", data)

    check()


def test_staff_block_form(staff_client, place):
    @FUZZ
    @given(slug=st.sampled_from(["room", "studio"]),
           data=form(scope=st.one_of(text, st.sampled_from(["resource", "location", "room"])),
                     kind=st.one_of(text, st.sampled_from(["maintenance", "event", "closure"])),
                     start_day=days, start_time=times, end_day=days, end_time=times,
                     reason=text, cancel_conflicting=booleans))
    def check(slug, data):
        post_and_check(staff_client, f"/staff/calendar/{slug}/block", data)

    check()
