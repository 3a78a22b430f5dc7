"""Changing and cancelling a monthly membership in real Chromium, with axe on each page: the
change page shows the amount charged now, the cancel page the last day, the account page
the cancellation with its withdraw button. Both databases.

The app's clock stands on Monday 23 November 2026, 09:00: Flex (89,00 €) to Startup
(149,00 €) from tomorrow costs 60,00 € x 7 / 30 = 14,00 € now.
"""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import Page, expect

from schiller40.billing import service
from schiller40.billing.settings import current_billing
from schiller40.extensions import db
from schiller40.membership.models import SignupMode
from schiller40.payments.setup import gateway

from .axe import assert_accessible
from .conftest import log_in


def urls(subscription_id: int) -> service.CheckoutUrls:
    return service.CheckoutUrls(success="http://localhost/back?s={CHECKOUT_SESSION_ID}",
                                cancel="http://localhost/back")


def test_change_cancel_and_withdraw_in_the_browser(page: Page, place, factory, clock):
    factory.tier(signup_mode=SignupMode.SELF_SERVICE, slug="startup", name="Startup",
                 monthly_price_cents=14900, position=5)
    place.tier.signup_mode = SignupMode.SELF_SERVICE  # Flex, taken online as in the demo
    member = factory.user(email="lena@example.org", name="Lena Albers")
    db.session.commit()
    sub = service.start_subscription(
        db.session, gateway(), member=member, tier_id=place.tier.id,
        starts_on=date(2026, 11, 23), payment_method="card", now=clock(),
        settings=current_billing(), urls=urls,
    )
    gateway().complete_subscription_checkout(sub.checkout_id, payment_method="card", iban=None,
                                             now=clock())
    service.refresh_checkout(db.session, gateway(), subscription_id=sub.id, now=clock(),
                             settings=current_billing())
    db.session.commit()

    log_in(page, "lena@example.org")
    page.goto("/account")
    page.get_by_role("link", name="Tarif wechseln").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tarif wechseln")
    expect(page.locator("main")).to_contain_text("14,00\u00a0€")
    assert_accessible(page)
    page.get_by_role("button", name="Zu Startup wechseln").click()
    expect(page.locator(".flashes")).to_contain_text(
        "Ihre Mitgliedschaft ist ab 24. November 2026 Startup.")

    page.get_by_role("link", name="Mitgliedschaft kündigen").click()
    expect(page.locator("main")).to_contain_text("30. November 2026")
    assert_accessible(page)
    page.get_by_role("button", name=re.compile("Meine Mitgliedschaft zum .* kündigen")).click()
    expect(page.locator(".flashes")).to_contain_text("Ihre Mitgliedschaft ist gekündigt.")
    assert_accessible(page)
    page.get_by_role("button", name="Kündigung zurückziehen").click()
    expect(page.locator(".flashes")).to_contain_text("Ihre Kündigung wurde zurückgezogen")
