"""The VAT rate is one setting (``VAT_RATE_PERCENT``): the stored net/tax split, the API, the
pages, the checkout line and the receipt all use it (and the currency is ``CURRENCY``). Issue
18: with the rate set to 7 the tax was still split at a hard-coded 19 % while the page printed
"incl. 7 % VAT: 1,92 €".

A room hour costs 12,00 € gross; at 7 % that is 11,21 € net + 0,79 € tax (``split_vat``).
On both databases, with the simulated gateway.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from schiller40.booking.models import Booking
from schiller40.booking.rules import split_vat
from schiller40.extensions import db
from schiller40.models import Role
from schiller40.payments.models import Payment, SimulatedCheckout
from schiller40.settings import ConfigError
from tests.helpers import TUE, browser, span
from tests.html import page
from tests.mail.helpers import run_tick

from ..mailbox import body

NET, TAX = 1121, 79


@pytest.fixture
def app_config() -> dict:
    return {"VAT_RATE_PERCENT": 7}


def test_the_expected_split_is_split_vat_at_seven_percent():
    assert split_vat(1200, 7) == (NET, TAX)


def stored(booking_id: int) -> tuple[Booking, Payment]:
    db.session.expire_all()
    booking = db.session.get(Booking, booking_id)
    assert booking is not None and booking.payment is not None
    return booking, booking.payment


def test_the_api_stores_and_answers_the_configured_split(api):
    response = api.post("/api/v1/bookings", json={"resource": "room", **span(TUE, 10, 11)})
    assert response.status_code == 201, response.get_json()
    answered = response.get_json()["booking"]
    assert (answered["payment"]["amount_cents"], answered["payment"]["net_cents"],
            answered["payment"]["tax_cents"]) == (1200, NET, TAX)
    booking, payment = stored(answered["id"])
    assert (booking.price_gross_cents, booking.price_net_cents, booking.price_tax_cents) == (
        1200, NET, TAX)
    assert (payment.amount_cents, payment.net_cents, payment.tax_cents) == (1200, NET, TAX)
    # The checkout line (what Stripe shows on its page and receipt) names the same rate.
    checkout = db.session.scalars(select(SimulatedCheckout)).one()
    [line] = checkout.line_items
    assert line["amount_cents"] == 1200
    assert "7\xa0%" in line["description"] or "7 %" in line["description"]
    assert "0,79" in line["description"] and "19 %" not in line["description"]


def test_the_page_shows_the_stored_tax_and_the_receipt_the_same(app, place, clock, inbox):
    mia = browser(app, place.member)
    # The price shown before booking (the report's "incl. 7 % VAT: 1,92 €").
    preview = page(mia.get("/resources/room/book?day=2026-11-24&start=10:00&end=11:00"))
    preview_section = preview.by_id("preview")
    assert preview_section is not None
    assert "inkl. 7 % MwSt.: 0,79 €" in " ".join(preview_section.text.split())
    response = mia.post("/resources/room/book",
                        data={"day": "2026-11-24", "start": "10:00", "end": "11:00"})
    assert response.status_code == 303
    booking = db.session.scalars(select(Booking)).one()
    assert (booking.price_net_cents, booking.price_tax_cents) == (NET, TAX)
    text = " ".join(page(mia.get(f"/bookings/{booking.id}")).text.split())
    assert "inkl. 7 % MwSt.: 0,79 €" in text, text
    # Paid at the simulated checkout: the receipt splits it the same way.
    checkout = urlsplit(response.headers["Location"]).path
    assert mia.post(checkout, data={"action": "pay"}).status_code in (302, 303)
    run_tick(clock)
    [receipt] = [m for m in inbox.messages if "Zahlung erhalten" in str(m["Subject"])]
    receipt_text = " ".join(body(receipt).split())
    assert "Nettobetrag: 11,21 €" in receipt_text, receipt_text
    assert "MwSt. (7 %): 0,79 €" in receipt_text, receipt_text


@pytest.mark.parametrize("rate", [-1, 101, "7", 7.5, True, None])
def test_a_bad_rate_stops_the_start(database_url, rate):
    from schiller40 import create_app

    with pytest.raises(ConfigError, match="VAT_RATE_PERCENT"):
        create_app({"ENV_NAME": "testing", "DATABASE_URL": database_url,
                    "VAT_RATE_PERCENT": rate})


def test_the_tier_pages_name_the_configured_rate(app, place, factory):
    admin = factory.user(role=Role.ADMIN, email="admin@example.org")
    db.session.commit()
    admin_browser = browser(app, admin)
    for path in ("/staff/tiers", "/staff/tiers/new", f"/staff/tiers/{place.tier.id}"):
        response = admin_browser.get(path)
        assert response.status_code == 200, path
        text = " ".join(page(response).text.split())
        assert "inklusive 7 % MwSt." in text and "19 %" not in text, path


@pytest.mark.parametrize("currency", ["USD", "eur", "", None])
def test_a_currency_other_than_euro_stops_the_start(database_url, currency):
    """Amounts are entered, shown and charged in euros; a CURRENCY setting that the app would
    silently ignore in places is refused at start-up."""
    from schiller40 import create_app

    with pytest.raises(ConfigError, match="CURRENCY"):
        create_app({"ENV_NAME": "testing", "DATABASE_URL": database_url, "CURRENCY": currency})
