"""The pages the browser checks look at: one list, used by the accessibility checks
(tests/e2e/test_accessibility.py opens each page once: axe, then the screenshots).

Adding a page is one line in ``SCREENS``: a name, the path (``{desk}``, ``{studio}``,
``{confirmed}``, ``{held}`` are filled from the ``scene`` fixture in conftest.py), who looks at
it (None for a visitor, "member" or "staff") and, if needed, what to do there first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import sign_in


@dataclass(frozen=True)
class Screen:
    """A page to check: its path (``{name}`` filled from the scene), who looks at it
    (None: a visitor; "member"; "staff"), what to do there first, the HTTP status expected."""

    name: str
    path: str
    who: str | None = None
    then: Callable[[Page], None] | None = None
    status: int = 200


def pay_now(page: Page) -> None:
    """From a held booking to the simulated checkout, as the member gets there."""
    page.locator("form[action$='/pay'] button").first.click()
    expect(page.locator("form button[value='pay']")).to_be_visible()


def submit_empty(page: Page) -> None:
    """Send the booking form without a date: the page comes back with errors beside fields."""
    page.locator("main form button[value='book']").click()
    expect(page.locator(".errors").first).to_be_visible()


def to_subscription_checkout(page: Page) -> None:
    """From the monthly fee's sign-up page to the simulated checkout (card or SEPA)."""
    page.locator("input[name='starts_on']").first.check()
    page.locator("input[name='payment_method'][value='sepa_debit']").check()
    page.locator("main form button[type='submit']").click()
    expect(page.locator("input[name='iban']")).to_be_visible()


def submit_checkout_empty(page: Page) -> None:
    """The simulated SEPA checkout sent without an IBAN: errors beside the fields."""
    to_subscription_checkout(page)
    page.locator("form button[value='pay']").click()
    expect(page.locator(".errors").first).to_be_visible()


def check_price(page: Page) -> None:
    """Staff ask the price of two paid studio hours for the member: the ways to pay appear."""
    page.fill("#booking-email", "mia@example.org")
    page.fill("#booking-day", "2026-11-27")
    page.fill("#booking-start", "14:00")
    page.fill("#booking-end", "16:00")
    page.locator("#book button[value='preview']").click()
    expect(page.locator("#booking-payment")).to_be_visible()


SCREENS = [
    Screen("start", "/"),
    Screen("spaces", "/resources"),
    Screen("tarife", "/tarife"),
    Screen("login", "/login"),
    Screen("register", "/register"),
    Screen("forgot-password", "/account/reset"),
    Screen("reset-link-invalid", "/account/reset/no-such-token", status=400),
    Screen("not-found", "/no/such/page", status=404),
    Screen("start-member", "/", "member"),
    Screen("my-bookings", "/bookings", "member"),
    Screen("account", "/account", "member"),
    Screen("change-password", "/account/password", "member"),
    Screen("membership", "/account/membership", "member"),
    Screen("booking-form-desk", "/resources/{desk}/book", "member"),
    Screen("booking-form-studio", "/resources/{studio}/book", "member"),
    Screen("booking-form-errors", "/resources/{desk}/book", "member", submit_empty),
    Screen("booking-detail", "/bookings/{confirmed}", "member"),
    Screen("booking-detail-unpaid", "/bookings/{held}", "member"),
    Screen("cancel", "/bookings/{confirmed}/cancel", "member"),
    Screen("checkout", "/bookings/{held}", "member", pay_now),
    Screen("availability-desks", "/availability?kind=desk", "member"),
    Screen("availability-studios-week", "/availability?kind=studio&view=week", "member"),
    Screen("availability-visitor", "/availability?kind=room"),
    Screen("reschedule", "/bookings/{confirmed}/reschedule", "member"),
    Screen("delete-account", "/account/delete", "member"),
    Screen("company", "/company", "member"),
    Screen("company-details", "/company/details", "member"),
    Screen("company-invitation", "/company/join/{invite}"),
    Screen("monthly-fee-start", "/account/membership/monthly/flex", "member"),
    Screen("monthly-fee-checkout", "/account/membership/monthly/flex", "member",
           to_subscription_checkout),
    Screen("monthly-fee-checkout-errors", "/account/membership/monthly/flex", "member",
           submit_checkout_empty),
    Screen("monthly-fee", "/account/membership/subscription", "member"),
    Screen("membership-change", "/account/membership/change", "member"),
    Screen("membership-cancel", "/account/membership/cancel", "member"),
    Screen("staff-start", "/staff/", "staff"),
    Screen("staff-booking-detail", "/bookings/{held}", "staff"),
    Screen("staff-calendars", "/staff/calendar", "staff"),
    Screen("staff-calendar-week", "/staff/calendar/{studio}", "staff"),
    Screen("staff-calendar-new", "/staff/calendar/{studio}/new", "staff"),
    Screen("staff-desks", "/staff/desks?day=2026-11-24", "staff"),
    Screen("staff-blocks", "/staff/blocks", "staff"),
    Screen("staff-approvals", "/staff/approvals", "staff"),
    Screen("staff-past-due", "/staff/past-due", "staff"),
    Screen("staff-members", "/staff/members", "staff"),
    Screen("staff-membership-requests", "/staff/membership-requests", "staff"),
    Screen("staff-member", "/staff/members/{member}", "staff"),
    Screen("staff-assign-tier", "/staff/members/{member}/memberships/new", "staff"),
    Screen("staff-induction", "/staff/members/{member}/inductions/new", "staff"),
    Screen("staff-resources", "/staff/resources", "staff"),
    Screen("staff-resource-new", "/staff/resources/new", "staff"),
    Screen("staff-resource-edit", "/staff/resources/{studio_id}", "staff"),
    Screen("staff-location", "/staff/locations/{location}", "staff"),
    Screen("staff-tiers", "/staff/tiers", "staff"),
    Screen("staff-utilisation", "/staff/utilisation", "staff"),
    Screen("staff-audit", "/staff/audit", "staff"),
    Screen("staff-outbox", "/staff/outbox", "staff"),
    Screen("staff-companies", "/staff/companies", "staff"),
    Screen("staff-company", "/staff/companies/{company}", "staff"),
    Screen("staff-calendar-price", "/staff/calendar/{studio}/new", "staff", check_price),
    Screen("staff-desk", "/staff/desk", "staff"),
    Screen("staff-charge", "/staff/desk/members/{member}/charge", "staff"),
    Screen("staff-invoice-permission", "/staff/desk/members/{member}/invoice", "staff"),
]


def choose_english(page: Page) -> None:
    """Use the language switch in the header, as a visitor would."""
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def open_screen(page: Page, place, scene: dict[str, str], screen: Screen, lang: str) -> None:
    """Log in as the screen's user (or not), choose the language, and open the page.

    A visitor uses the switch; a member or staff member is logged in and switched over
    without the browser (``sign_in``): these checks are about the page, and the log-in form
    and the switch are driven in the flows and the language test."""
    if screen.who:
        user = place.member if screen.who == "member" else place.staff
        sign_in(page, user.email, language=lang if lang != "de" else None)
    elif lang == "en":
        page.goto("/")
        choose_english(page)
    response = page.goto(screen.path.format(**scene))
    assert response is not None
    assert response.status == screen.status, f"{screen.path}: HTTP {response.status}"
    if screen.then:
        screen.then(page)
    expect(page.locator("html")).to_have_attribute("lang", lang)


# --- screenshots ------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def artifacts() -> Path:
    """``$SCHILLER40_ARTIFACTS/screenshots/`` (default ``test-artifacts/screenshots/``, which
    git ignores)."""
    base = Path(os.environ.get("SCHILLER40_ARTIFACTS") or ROOT / "test-artifacts")
    folder = base / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sideways_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def photograph(page: Page, screen: Screen, lang: str) -> None:
    """Full-page shots at phone and desktop width, kept as artifacts; each also checks that
    nothing makes the page scroll sideways (WCAG 1.4.10 Reflow)."""
    folder = artifacts()
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        target = folder / f"{screen.name}-{lang}-{label}.png"
        page.screenshot(path=str(target), full_page=True, animations="disabled", caret="hide")
        assert target.stat().st_size > 1000, f"{target} is empty"
        assert sideways_overflow(page) <= 0, (
            f"{screen.name} ({lang}) scrolls sideways at {size['width']} px: see {target}"
        )
