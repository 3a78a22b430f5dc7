"""The front desk's money through the staff pages (both databases): the calendar's booking
form with its payment choice (online, cash, card, on invoice), the member page's payment
section, charges, the invoice permission, and the open amounts with "transfer received".

The clock stands on Monday 23 November 2026, 09:00 in Wolfsburg."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from schiller40.booking.models import Booking, BookingStatus
from schiller40.extensions import db
from schiller40.payments.models import ManualCharge, Payment, PaymentMethod, PaymentStatus
from tests.helpers import count_rows, fresh, text_of, tr
from tests.html import page

from .calendar_helpers import errors_of, flashes
from .test_calendar import _book, _booking_form

PAID_2H = {"start": "10:00", "end": "12:00"}  # 35,00 € for the Flex member


def book_paid(staff_browser, payment: str | None):
    extra = {"payment": payment} if payment else {}
    return _book(staff_browser, "/staff/calendar/studio/book", _booking_form(**PAID_2H, **extra))


def the_booking() -> Booking:
    db.session.expire_all()
    return db.session.scalars(select(Booking)).one()


def test_the_price_step_offers_the_four_ways_to_pay(staff_browser, place):
    preview = staff_browser.post("/staff/calendar/studio/book",
                                 data={**_booking_form(**PAID_2H), "action": "preview"})
    html = page(preview)
    group = html.by_id("booking-payment")
    assert group.tag == "fieldset"
    assert tr("How does the member pay?") in group.text
    values = [i.attrs["value"] for i in html.find_all("input", type="radio",
                                                        name="booking-payment")]
    assert values == ["online", "desk_cash", "desk_card", "invoice"]
    # Free (the included hour): no choice to make.
    free = staff_browser.post("/staff/calendar/studio/book",
                              data={**_booking_form(start="10:00", end="11:00"),
                                    "action": "preview"})
    assert page(free).by_id("booking-payment") is None


def test_online_holds_for_a_day_and_the_member_is_mailed(staff_browser, place, clock):
    response = book_paid(staff_browser, "online")
    assert response.status_code == 302
    booking = the_booking()
    assert booking.status is BookingStatus.HELD
    assert (booking.hold_expires_at - clock()).total_seconds() == 24 * 3600
    assert "E-Mail" in flashes(staff_browser, response)


@pytest.mark.parametrize("method", ["desk_cash", "desk_card"])
def test_paid_at_the_desk_through_the_page(staff_browser, place, method):
    response = book_paid(staff_browser, method)
    assert response.status_code == 302
    booking = the_booking()
    assert booking.status is BookingStatus.CONFIRMED
    payment = booking.payment
    assert payment.method is PaymentMethod(method) and payment.status is PaymentStatus.PAID
    assert payment.recorded_by_id == place.staff.id
    shown = flashes(staff_browser, response)
    assert "35,00" in shown and "Quittung" in shown
    # The member page lists it with how it was paid and who took it.
    member_page = text_of(staff_browser.get(f"/staff/members/{place.member.id}"))
    assert tr("cash at the front desk" if method == "desk_cash" else "card at the front desk") \
        in member_page
    assert place.staff.name in member_page


def test_on_invoice_through_the_pages_then_the_transfer(staff_browser, place):
    refused = book_paid(staff_browser, "invoice")
    assert refused.status_code == 422
    assert tr("This member may not pay on invoice. Staff can allow it on the member's page.") \
        in text_of(refused)
    assert count_rows(Booking) == 0

    allowed = staff_browser.post(f"/staff/desk/members/{place.member.id}/invoice",
                                 data={"member_allowed": "y"})
    assert allowed.status_code == 302
    assert fresh(type(place.member), place.member.id).may_pay_on_invoice
    assert book_paid(staff_browser, "invoice").status_code == 302
    booking = the_booking()
    assert booking.status is BookingStatus.CONFIRMED and booking.payment.owes_transfer

    listed = page(staff_browser.get("/staff/desk"))
    open_section = listed.by_id("open").text
    assert place.member.name in open_section and "35,00" in open_section
    assert "1 offener Betrag, insgesamt 35,00" in " ".join(listed.text.split())
    url = f"/staff/desk/payments/{booking.payment.id}/transfer"
    recorded = staff_browser.post(url, data={"reference": "RE-17"})
    assert recorded.status_code == 302
    assert "35,00" in flashes(staff_browser, recorded)
    payment = fresh(Payment, booking.payment.id)
    assert payment.status is PaymentStatus.PAID and payment.transfer_reference == "RE-17"
    # Sent again (a double click, the back button): recorded once, and said so.
    again = staff_browser.post(url, data={"reference": "RE-17"})
    assert tr("The transfer for this amount has already been recorded.") in flashes(
        staff_browser, again)
    after = page(staff_browser.get("/staff/desk"))
    assert tr("Nothing is open.") in after.text
    assert "RE-17" in after.by_id("recent").text


def test_a_charge_through_the_member_page(staff_browser, place):
    form = page(staff_browser.get(f"/staff/desk/members/{place.member.id}/charge"))
    options = [o.attrs["value"] for o in form.find_all("option")]
    assert options == ["19", "7", "0", "desk_cash", "desk_card", "invoice"]
    assert form.by_id("to_company") is None  # the member belongs to no company
    response = staff_browser.post(
        f"/staff/desk/members/{place.member.id}/charge",
        data={"description": "Farbdruck 20 Seiten", "amount": "6,00", "vat_percent": "19",
              "method": "desk_cash"})
    assert response.status_code == 302
    charge = db.session.scalars(select(ManualCharge)).one()
    assert (charge.gross_cents, charge.net_cents, charge.tax_cents) == (600, 504, 96)
    assert "Farbdruck 20 Seiten" in text_of(staff_browser.get(f"/staff/members/{place.member.id}"))


def test_a_bad_charge_is_refused_beside_its_fields(staff_browser, place):
    url = f"/staff/desk/members/{place.member.id}/charge"
    response = staff_browser.post(url, data={"description": "", "amount": "zwölf",
                                             "vat_percent": "16", "method": "desk_cash"})
    assert response.status_code == 422
    assert errors_of(response, "description")
    assert errors_of(response, "amount")
    assert errors_of(response, "vat_percent")
    billed = staff_browser.post(url, data={"description": "3D-Druck", "amount": "10,70",
                                           "vat_percent": "7", "method": "invoice"})
    assert billed.status_code == 422
    assert errors_of(billed, "method")
    assert count_rows(ManualCharge) == 0


def test_members_never_see_the_desk_pages(member_browser, place):
    for url in ("/staff/desk", f"/staff/desk/members/{place.member.id}/charge",
                f"/staff/desk/members/{place.member.id}/invoice"):
        assert member_browser.get(url).status_code == 404, url
    for url in ("/staff/desk/payments/1/transfer",
                f"/staff/desk/members/{place.member.id}/charge",
                f"/staff/desk/members/{place.member.id}/invoice"):
        assert member_browser.post(url, data={}).status_code == 404, url
    assert not fresh(type(place.member), place.member.id).may_pay_on_invoice
