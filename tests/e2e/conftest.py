"""Fixtures for the end-to-end tests: the real app behind a real HTTP server, driven by a real
headless Chromium.

- ``live_server``: the test's ``app`` (the shared test database of the current backend, the
  frozen ``clock``, CSRF protection on as in production) served by werkzeug on a free port of
  127.0.0.1 in a background thread, for the length of one test. So every browser test runs on
  SQLite and on PostgreSQL, like the rest of the suite.
- ``browser``: Debian's chromium (/usr/bin/chromium) launched once per worker through
  Playwright. Playwright's own browser download is never used. Outside CI a missing chromium
  skips these tests (the summary says so); under CI=true it is a failure.
- ``page``: a fresh browser context (own cookies, German locale) and page per test, with the
  live server as base URL; ``mia``: the same page, logged in as the ``place`` member.
- ``scene``: the place with two bookings of its member (a confirmed desk morning, a studio
  slot waiting for payment), for the pages of tests/e2e/screens.py.

No sleeps: Playwright waits for navigation and elements, and ``expect`` retries assertions.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from flask import Flask, current_app
from werkzeug.serving import make_server

from schiller40.extensions import db
from schiller40.i18n import LANG_COOKIE
from schiller40.membership.models import SignupMode
from tests.conftest import BROWSER_SKIP_REASON, in_ci
from tests.factories import PASSWORD
from tests.helpers import book_hours

SCENE_DESK_DAY = date(2026, 11, 24)  # Tuesday
SCENE_STUDIO_DAY = date(2026, 11, 26)  # Thursday, more than 48 hours ahead
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; scripts/test installs it
# How long Playwright waits for a condition (an element, a navigation, an ``expect``).
# Every wait ends as soon as its condition holds, so this costs nothing when things work;
# it only decides how long a broken page takes to fail. 10 s was too short on a shared CI
# machine under heavy load (two flows timed out, issue 17): a minute, as for the app's own
# wait for SQLite's write lock. What the tests assert is unchanged.
TIMEOUT_MS = 60_000


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium, or run scripts/test)"
        if in_ci():
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(f"{BROWSER_SKIP_REASON}: {problem}")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"],
        )
    except Exception:
        playwright.stop()
        raise
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def app_config() -> dict:
    """The browser submits real forms, so CSRF protection is on, as in production."""
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    # What the test (or the ``place`` fixture) wrote must be visible to the server's requests,
    # and the test's session must hold no transaction open (SQLite would block writers).
    db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def page(browser, live_server: str):
    from playwright.sync_api import expect

    context = browser.new_context(base_url=live_server, locale="de-DE",
                                  timezone_id="Europe/Berlin")
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def log_in(page, email: str, password: str = PASSWORD) -> None:
    """Log in through the form, as a person would, and wait until the page says so."""
    from playwright.sync_api import expect

    page.goto("/login")
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort", exact=True).fill(password)
    page.get_by_role("main").get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("button", name="Abmelden")).to_be_visible()


CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_user_agent: list[str] = []  # Chromium's, read once per worker


def sign_in(page, email: str, password: str = PASSWORD, *, language: str | None = None) -> None:
    """Log the browser in without typing: the app's test client sends the log-in form (and,
    with ``language``, the header's language switch), and the browser gets the cookies the
    app set.

    For tests about a page rather than about logging in (the ~90 accessibility checks of
    screens.py): the form round trip in Chromium cost ~0.45 s per test, this ~0.1 s. The
    same views, password check and session as ``log_in``; the flows and the language test
    still use the form and the switch. The browser's User-Agent is sent along, so the session
    identifier matches the browser (session protection would otherwise mark the session as
    not fresh).
    """
    app = current_app._get_current_object()  # the test's app, which live_server serves
    if not _user_agent:
        _user_agent.append(page.evaluate("() => navigator.userAgent"))
    client = app.test_client()
    headers = {"User-Agent": _user_agent[0]}
    form = client.get("/login", headers=headers)
    token = CSRF_FIELD.search(form.get_data(as_text=True))
    assert token, "no CSRF token in the log-in form"
    csrf = token.group(1)
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf},
        headers=headers,
    )
    assert response.status_code == 302, f"log-in failed: HTTP {response.status_code}"
    if language:
        response = client.post(
            "/language", data={"lang": language, "next": "/", "csrf_token": csrf},
            headers=headers,
        )
        assert response.status_code == 302, f"language switch: HTTP {response.status_code}"
    cookies = []
    for name in (app.config["SESSION_COOKIE_NAME"], LANG_COOKIE):
        cookie = client.get_cookie(name)
        if cookie is not None:
            # Cookies do not depend on the port, so the live server's 127.0.0.1 is enough.
            cookies.append({"name": cookie.key, "value": cookie.value, "domain": "127.0.0.1",
                            "path": "/", "httpOnly": True, "sameSite": "Lax"})
    assert cookies and cookies[0]["name"] == app.config["SESSION_COOKIE_NAME"], cookies
    page.context.add_cookies(cookies)


@pytest.fixture
def mia(page, place):
    """The page, logged in as the place's Flex member (1 desk day, 1 studio hour, inducted)."""
    log_in(page, place.member.email)
    return page


@pytest.fixture
def scene(place, clock) -> dict[str, str]:
    """The place, plus a confirmed desk morning and a studio slot waiting for payment (one of
    its two hours is included in the member's tier, the other costs money)."""
    confirmed = book_hours(place.member, place.desks[0], clock, day=SCENE_DESK_DAY, start=8, end=13)[0]
    held = book_hours(place.member, place.studio, clock, day=SCENE_STUDIO_DAY, start=10, end=12)[0]
    _failed_mail(place, clock)
    _signup_offer(place, clock)
    company, invite = _company(place, clock)
    _desk_money(place, clock)
    return {"desk": place.desks[0].slug, "studio": place.studio.slug,
            "confirmed": str(confirmed.id), "held": str(held.id),
            "member": str(place.member.id), "studio_id": str(place.studio.id),
            "location": str(place.location.id), "company": str(company), "invite": invite}


def _company(place, clock) -> tuple[int, str]:
    """The member manages a company with a teammate and an open invitation, so the company
    page shows its team table; the invitation's link for a visitor."""
    from datetime import timedelta

    from flask import current_app

    from schiller40.accounts import invitations
    from schiller40.models import Company, CompanyInvitation, User

    company = Company(name="Wolfsbyte", legal_name="Wolfsbyte GmbH", street="Schillerstr. 40",
                      postal_code="38440", city="Wolfsburg", invoice_email="rechnung@example.org",
                      vat_id="DE136695976", created_at=clock())
    teammate = User(email="ina@example.org", name="Ina Team", password_hash="x",
                    created_at=clock())
    db.session.add_all([company, teammate])
    place.member.join_company(company, manager=True)
    teammate.join_company(company)
    nonce = invitations.new_nonce()
    token = invitations.token_for(nonce, current_app.config["SECRET_KEY"])
    db.session.add(CompanyInvitation(
        company=company, email="new@example.org", nonce=nonce,
        digest=invitations.digest(token), created_at=clock(),
        expires_at=clock() + timedelta(days=14)))
    db.session.commit()
    return company.id, token


def _signup_offer(place, clock) -> None:
    """A tier chosen online, one paid monthly online (the place's Flex) and one asked for,
    with one open request from a newcomer: the membership page shows each way to get a tier,
    the staff list has a request to answer."""
    from schiller40.membership import signup
    from tests.factories import Factory

    factory = Factory(db.session, clock)
    place.tier.signup_mode = SignupMode.SELF_SERVICE
    factory.tier(slug="day-pass", name="Tagespass", monthly_price_cents=0,
                 included_desk_days=0, included_studio_hours=0,
                 signup_mode=SignupMode.SELF_SERVICE)
    resident = factory.tier(slug="resident", name="Resident", notice_days=90,
                            signup_mode=SignupMode.ON_REQUEST)
    newcomer = factory.user(name="Nora Neu", email="nora@example.org")
    db.session.commit()
    signup.request_tier(db.session, member=newcomer, tier_id=resident.id,
                        message="Vertrag ab Januar.", now=clock())


def _desk_money(place, clock) -> None:
    """A charge paid at the desk and one open on invoice, so the front desk page and the
    member page show both tables and a "transfer received" form."""
    from schiller40.payments import desk
    from schiller40.payments.models import PaymentMethod

    place.member.may_pay_on_invoice = True
    db.session.commit()
    for method, what in ((PaymentMethod.DESK_CASH, "Farbdruck, 20 Seiten"),
                         (PaymentMethod.INVOICE, "3D-Drucker, 2 Stunden")):
        desk.add_charge(db.session, actor=place.staff, member_id=place.member.id,
                        description=what, gross_cents=1190, vat_percent=19,
                        standard_vat_percent=19, method=method, to_company=False,
                        currency="EUR", now=clock())


def _failed_mail(place, clock) -> None:
    """One message the mail server refused for good, so the staff outbox page has a row."""
    from schiller40.core import outbox
    from schiller40.core.outbox import OutboxMessage, OutboxStatus

    outbox.enqueue(db.session, topic="mail.booking_confirmed", now=clock(),
                   payload={"booking_ids": []}, user_id=place.member.id, key="scene-failed")
    db.session.flush()
    row = db.session.scalars(db.select(OutboxMessage).where(
        OutboxMessage.key == "scene-failed")).one()
    row.status, row.attempts = OutboxStatus.FAILED, 1
    row.last_error = "SMTP 550 5.1.1 <mia@example.org>: mailbox unavailable"
    db.session.commit()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Say loudly when the axe checks did not run (tests/js not installed)."""
    from .axe import AXE_SKIP_REASON

    skipped = sum(
        1
        for report in terminalreporter.stats.get("skipped", [])
        if AXE_SKIP_REASON in str(getattr(report, "longrepr", ""))
    )
    if skipped:
        bar = "!" * 78
        terminalreporter.write_line(bar, red=True, bold=True)
        terminalreporter.write_line(
            f"Accessibility was NOT checked by axe: {skipped} test(s) skipped because "
            "tests/js/node_modules/axe-core is missing.",
            red=True, bold=True,
        )
        terminalreporter.write_line(
            "Run: npm ci --prefix tests/js --no-audit --no-fund (CI=true makes this an error).",
            red=True,
        )
        terminalreporter.write_line(bar, red=True, bold=True)
