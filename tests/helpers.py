"""The helpers every test package shares: the fixed days of the frozen week, wall-clock times in
Wolfsburg, logging in, booking through the booking service, reading rows back, and reading pages.

One module, so a test reads ``from tests.helpers import TUE, at, book, log_in`` wherever it
lives, and a helper's behaviour is the same in every package. Package-specific helpers stay
beside their tests (``tests/mail/helpers.py``: the worker tick and calendar invitations;
``tests/staff/calendar_helpers.py``: the staff pages' flashes and field errors).

Where the old copies differed, the difference is a parameter: ``log_in(expect=None)`` returns
whatever the form answered, ``count_rows(rollback=True)`` ends the test's transaction first,
``book`` uses the service's default settings and ``book_hours`` the app's configuration.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale, gettext, ngettext
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from schiller40.booking.create import create_bookings
from schiller40.booking.models import Booking, WaitlistEntry
from schiller40.booking.requests import BookingOutcome, BookingRequest
from schiller40.booking.settings import (
    DEFAULT_SETTINGS,
    BookingSettings,
    current_settings,
)
from schiller40.core.time import BERLIN
from schiller40.extensions import db
from tests.factories import PASSWORD
from tests.html import page
from tests.mailbox import body
from tests.security.checks import post_form

# --- the frozen week -------------------------------------------------------------------------

# The clock fixture stands at Monday 2026-11-23, 09:00 in Wolfsburg (winter time, +01:00).
MON = date(2026, 11, 23)
TUE = date(2026, 11, 24)
WED = date(2026, 11, 25)
THU = date(2026, 11, 26)
FRI = date(2026, 11, 27)
SAT = date(2026, 11, 28)
SUN = date(2026, 11, 29)


# --- wall-clock times in Wolfsburg -----------------------------------------------------------


def local(day: date, hh: int, mm: int = 0) -> datetime:
    """A wall-clock time in Wolfsburg as an aware datetime in Europe/Berlin (fold=0: the first
    02:30 on the October night the clocks go back)."""
    return datetime.combine(day, time(hh, mm)).replace(tzinfo=BERLIN)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    """The same wall-clock time as aware UTC, as the database gives instants back."""
    return local(day, hh, mm).astimezone(UTC)


def iso(day: date, hh: int, mm: int = 0) -> str:
    """ISO 8601 with the Berlin offset of that day, as the API takes it:
    ``2026-11-24T10:00:00+01:00``."""
    return local(day, hh, mm).isoformat()


def span(day: date, start: int | tuple[int, int], end: int | tuple[int, int]) -> dict[str, str]:
    """``{"start": ..., "end": ...}`` for the API on a local day; hours or (hour, minute)."""
    s = start if isinstance(start, tuple) else (start, 0)
    e = end if isinstance(end, tuple) else (end, 0)
    return {"start": iso(day, *s), "end": iso(day, *e)}


# --- logging in ------------------------------------------------------------------------------


def log_in(client: FlaskClient, user: Any, password: str = PASSWORD, *,
           expect: int | None = 302, remember: bool | str = False, query: str = "",
           csrf: bool = False, base_url: str | None = None,
           **fields: str) -> TestResponse:
    """Post the log-in form as ``user`` (a User or an e-mail address) and return the answer.

    ``expect`` is the status the form must answer (302: logged in and sent on); ``None``
    checks nothing, for the tests of the form itself. ``query`` goes after ``/login``
    (``?next=...``); ``fields`` are sent as further form fields (``csrf_token``). With
    ``csrf=True`` the form is posted as a browser posts it where CSRF protection is on: with
    the token of the log-in page and a Referer (tests/security); ``base_url`` is the site's
    address (``https://...``), else the test client's default.
    """
    extra = {} if base_url is None else {"base_url": base_url}
    email = user if isinstance(user, str) else user.email
    data = {"email": email, "password": password, **fields}
    if remember:
        data["remember"] = remember if isinstance(remember, str) else "y"
    if csrf:
        response = post_form(client, f"/login{query}", data, page="/login", **extra)
    else:
        response = client.post(f"/login{query}", data=data, **extra)
    if expect is not None:
        assert response.status_code == expect, response.get_data(as_text=True)[:500]
    return response


def browser(app: Flask, user: Any, password: str = PASSWORD, *,
            language: str | None = None) -> FlaskClient:
    """A new client (a browser with cookies of its own) logged in as ``user``; ``language``
    is the Accept-Language it sends with every request."""
    client = app.test_client()
    if language:
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    log_in(client, user, password)
    return client


# --- booking ---------------------------------------------------------------------------------


def book(user: Any, clock: Any, *, settings: BookingSettings = DEFAULT_SETTINGS,
         for_user: Any = None, **request: Any) -> BookingOutcome:
    """Book through the booking service as ``user`` at the clock's now; ``request`` holds the
    fields of a BookingRequest (``resource_slug``, ``start``, ``end``, ...). Returns what the
    service returns and raises what it raises; the service commits its own transaction."""
    return create_bookings(db.session, actor=user, request=BookingRequest(**request),
                           now=clock(), settings=settings, for_user=for_user)


def book_hours(user: Any, resource: Any, clock: Any, *, day: date = TUE, start: int = 10,
               end: int = 11, settings: BookingSettings | None = None,
               **request: Any) -> list[Booking]:
    """Book ``resource`` (a Resource or its slug) from ``start`` to ``end`` o'clock on ``day``,
    as a member does on the pages and the API: with the app's configured settings. A paid
    booking comes back held, with its payment. The test's session is committed afterwards."""
    slug = resource if isinstance(resource, str) else resource.slug
    outcome = book(user, clock, settings=settings or current_settings(),
                   start=local(day, start), end=local(day, end), resource_slug=slug, **request)
    db.session.commit()
    return outcome.bookings


def book_via_api(api: Any, resource: str = "room", day: date = TUE, start: int = 10,
                 end: int = 11) -> dict[str, Any]:
    """Book ``resource`` from ``start`` to ``end`` o'clock on ``day`` through API v1 (``api``:
    the Api of tests/api/conftest.py); the booking as the API answers it, a paid one with its
    open checkout."""
    response = api.post("/api/v1/bookings", json={"resource": resource, **span(day, start, end)})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["booking"]


def pay(member: FlaskClient, booking_id: int) -> None:
    """Pay now, pay on the simulated checkout, come back: the whole round as a browser."""
    response = member.post(f"/bookings/{booking_id}/pay")
    assert response.status_code == 303, response.data[:300]
    checkout = urlsplit(response.headers["Location"]).path
    back = member.post(checkout, data={"action": "pay"})
    assert back.status_code == 303
    assert member.get(back.headers["Location"]).status_code == 302


# --- reading rows back -----------------------------------------------------------------------


def fresh(model: type, row_id: int) -> Any:
    """The row as the database has it now (or None): ends the test session's transaction and
    forgets what it had loaded, since the services and requests commit on their own."""
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(model, row_id)


def count_rows(model: type, *where: Any, rollback: bool = False, **filters: Any) -> int:
    """Rows of ``model`` matching ``where`` and ``filters``. With ``rollback=True`` the test
    session's transaction ends first, so what other connections and processes committed since
    counts too (and whatever the test left unflushed is dropped)."""
    if rollback:
        db.session.rollback()
    query = select(func.count()).select_from(model).where(*where).filter_by(**filters)
    return db.session.scalar(query)


def booking_rows() -> int:
    """Every booking row in the database, whatever its status (a refusal writes none)."""
    return count_rows(Booking)


def waitlist_rows() -> int:
    return count_rows(WaitlistEntry)


def bookings() -> list[Booking]:
    """Every booking, oldest first, freshly loaded."""
    db.session.expire_all()
    return list(db.session.scalars(select(Booking).order_by(Booking.id)))


# --- reading pages and mails -----------------------------------------------------------------


def norm(text: str) -> str:
    """Whitespace as the page reader sees it (no-break spaces in amounts included)."""
    return " ".join(text.split())


def tr(msgid: str, locale: str = "de", **values: Any) -> str:
    """A message as the page shows it in that language (whatever the translators wrote)."""
    with force_locale(locale):
        return norm(gettext(msgid, **values))


def trn(singular: str, plural: str, n: int, locale: str = "de", **values: Any) -> str:
    with force_locale(locale):
        return norm(ngettext(singular, plural, n, **values))


def text_of(response: TestResponse) -> str:
    """The text of a page, whitespace normalised."""
    return norm(page(response).text)


def mail_link(message, prefix: str) -> str:
    """The path of the one link starting with ``prefix`` ("/account/verify/") in a mail's
    text body, as a member would click it: the same link must be in the HTML body too."""
    found = re.findall(r"https?://\S+", body(message))
    links = [u for u in found if urlsplit(u).path.startswith(prefix)]
    assert len(links) == 1, found
    assert links[0] in body(message, "html").replace("&amp;", "&")
    return urlsplit(links[0]).path
