"""Paying, cancelling and refunding through the HTML pages, end to end on the embedded
default (the simulated gateway), as a member's and a staff member's browser use them."""

from __future__ import annotations

import secrets
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from schiller40.booking.models import Booking, BookingStatus
from schiller40.extensions import db
from schiller40.payments.gateway import GatewayRefused, GatewayUnavailable
from schiller40.payments.models import (
    Payment,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    SimulatedCheckout,
)
from schiller40.payments.setup import KEY
from tests.helpers import book_hours, browser, fresh, norm, text_of, tr
from tests.html import page


def facts(response) -> list[str]:
    """The booking page's facts (when, status, price, ...), as shown."""
    return [norm(d.text) for d in page(response).find_all("dd")]


def booked(user, resource, clock, **kw) -> int:
    return book_hours(user, resource, clock, **kw)[0].id


def open_checkout(member, booking_id: int) -> str:
    """Press "Pay now": the path of the simulated checkout page we are sent to."""
    response = member.post(f"/bookings/{booking_id}/pay")
    assert response.status_code == 303, response.data[:300]
    target = urlsplit(response.headers["Location"])
    assert target.path.startswith("/pay/simulated/cs_sim_")
    return target.path


def pay(member, booking_id: int) -> None:
    """The whole round: Pay now, Pay on the checkout, back to our return page."""
    checkout = open_checkout(member, booking_id)
    back = member.post(checkout, data={"action": "pay"})
    assert back.status_code == 303
    assert member.get(back.headers["Location"]).status_code == 302


@pytest.fixture
def mia(app, place):
    return browser(app, place.member)


@pytest.fixture
def staff(app, place):
    return browser(app, place.staff)


# --- paying --------------------------------------------------------------------------------------


def test_a_member_pays_a_room_on_the_simulated_checkout(app, client, mia, place, clock):
    booking_id = booked(place.member, place.room, clock)
    detail = mia.get(f"/bookings/{booking_id}")
    assert detail.status_code == 200
    html = page(detail)
    assert page(detail).find_all("html")[0].attrs["lang"] == "de"
    assert tr("reserved, awaiting payment") in facts(detail)
    assert "12,00 €" in text_of(detail)
    assert tr("Pay now") in [norm(b.text) for b in html.find_all("button")]

    checkout = open_checkout(mia, booking_id)
    payment = fresh(Booking, booking_id).payment
    assert payment.checkout_url.endswith(checkout)
    # Pressing "Pay now" again goes back to the same checkout.
    assert open_checkout(mia, booking_id) == checkout

    # The checkout page needs no log-in, like Stripe's: its id is the secret.
    shown_checkout = client.get(checkout)
    assert shown_checkout.status_code == 200
    html = page(shown_checkout)
    banner = html.find_all("div", **{"class": "test-banner"})
    assert banner and tr("Test payment – no money moves.") in norm(banner[0].text)
    assert "12,00 €" in text_of(shown_checkout)
    buttons = {b.attrs.get("value"): norm(b.text) for b in html.find_all("button")}
    assert buttons["pay"] == tr("Pay %(amount)s (test)", amount="12,00\xa0€")
    assert buttons["cancel"] == tr("Cancel")

    paid = client.post(checkout, data={"action": "pay"})
    assert paid.status_code == 303
    back = urlsplit(paid.headers["Location"])
    assert back.path == f"/payments/{payment.id}/return"
    assert back.query == f"session_id={checkout.rsplit('/', 1)[1]}"
    returned = mia.get(paid.headers["Location"])
    assert returned.status_code == 302
    assert urlsplit(returned.headers["Location"]).path == f"/bookings/{booking_id}"

    confirmed = mia.get(f"/bookings/{booking_id}")
    shown = text_of(confirmed)
    assert tr("Thank you: your payment has arrived and your booking is confirmed.") in shown
    assert tr("confirmed") in facts(confirmed) and tr("Pay now") not in shown
    booking = fresh(Booking, booking_id)
    assert booking.status is BookingStatus.CONFIRMED
    assert booking.payment.status is PaymentStatus.PAID
    assert booking.payment.received_cents == 1200
    # Paid once: the checkout now says so; paying again goes back as the first click did
    # and takes nothing more; a made-up action is refused.
    assert tr("This checkout is already paid.") in text_of(client.get(checkout))
    again = client.post(checkout, data={"action": "pay"})
    assert (again.status_code, again.headers["Location"]) == (303, paid.headers["Location"])
    assert client.post(checkout, data={"action": "refund"}).status_code == 400
    assert fresh(Payment, payment.id).received_cents == 1200
    assert fresh(SimulatedCheckout, checkout.rsplit("/", 1)[1]).received_cents == 1200


def test_pay_clicked_several_times_at_once_pays_once(app, mia, place, clock):
    booking_id = booked(place.member, place.room, clock)
    checkout = open_checkout(mia, booking_id)
    db.session.commit()
    clicks = 4
    barrier = threading.Barrier(clicks)
    answers: list[object] = []

    def click() -> None:
        client = FlaskClient(app, app.response_class)  # its own context, like a browser tab
        try:
            barrier.wait(timeout=30)
            response = client.post(checkout, data={"action": "pay"})
            answers.append((response.status_code, response.headers.get("Location")))
        except Exception as exc:  # reported by the assertion below
            answers.append(exc)

    threads = [threading.Thread(target=click, daemon=True) for _ in range(clicks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Every click lands on the return page (none on an error page), and money moves once.
    assert len(set(answers)) == 1 and len(answers) == clicks, answers
    status, location = answers[0]
    assert status == 303 and "/return?session_id=" in location
    payment = fresh(Booking, booking_id).payment
    assert (payment.status, payment.received_cents) == (PaymentStatus.PAID, 1200)
    assert fresh(Booking, booking_id).status is BookingStatus.CONFIRMED


def test_cancel_on_the_checkout_comes_back_with_the_hold_still_active(mia, client, place,
                                                                      clock):
    booking_id = booked(place.member, place.room, clock)
    checkout = open_checkout(mia, booking_id)
    cancelled = client.post(checkout, data={"action": "cancel"})
    assert cancelled.status_code == 303
    assert urlsplit(cancelled.headers["Location"]).query == "cancelled=1"
    returned = mia.get(cancelled.headers["Location"])
    assert returned.status_code == 302

    detail = mia.get(f"/bookings/{booking_id}")
    shown = text_of(detail)
    assert tr("The payment was not completed. Your reservation is held for a short while: "
              "you can pay now or cancel it.") in shown
    assert tr("Pay now") in shown
    booking = fresh(Booking, booking_id)
    assert booking.status is BookingStatus.HELD
    assert booking.payment.status is PaymentStatus.PENDING
    # The same checkout can still be paid.
    assert open_checkout(mia, booking_id) == checkout


def test_an_expired_checkout_offers_no_pay_button(mia, client, place, clock):
    booking_id = booked(place.member, place.room, clock)
    checkout = open_checkout(mia, booking_id)
    clock.advance(timedelta(minutes=31))
    shown = client.get(checkout)
    assert shown.status_code == 200
    assert tr("This checkout has expired. The reservation was released; please book again.") \
        in text_of(shown)
    assert page(shown).find_all("button", value="pay") == []
    # Pressing a stale Pay button does not take money either.
    late = client.post(checkout, data={"action": "pay"})
    assert late.status_code == 200 and page(late).find_all("button", value="pay") == []
    row = fresh(SimulatedCheckout, checkout.rsplit("/", 1)[1])
    assert (row.status, row.received_cents) == ("expired", 0)
    # The booking page says the hold ran out and offers nothing to pay.
    detail = mia.get(f"/bookings/{booking_id}")
    assert tr("expired (not paid in time)") in facts(detail)
    assert tr("Pay now") not in text_of(detail)
    refused = mia.post(f"/bookings/{booking_id}/pay")
    assert refused.status_code == 302
    assert fresh(Booking, booking_id).payment.status is PaymentStatus.PENDING


def back_on_checkout(member, checkout: str) -> tuple[str, str]:
    """What "Back" to a checkout that is over shows: its text, and where its one way on
    ends after our return page (the path of the booking page)."""
    shown = member.get(checkout)
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"  # never a stale copy with Pay
    html = page(shown)
    assert html.find_all("button", value="pay") == []
    (onward,) = [a for a in html.find_all("a", **{"class": "button"})
                 if norm(a.text) == tr("Show my booking")]
    returned = member.get(onward.attrs["href"])
    assert returned.status_code == 302
    return text_of(shown), urlsplit(returned.headers["Location"]).path


def test_back_to_a_paid_checkout_says_so_and_leads_to_the_booking(mia, place, clock):
    """Issue 17: after paying, the browser's Back showed "already paid" and nothing else."""
    booking_id = booked(place.member, place.room, clock)
    checkout = open_checkout(mia, booking_id)
    open_page = mia.get(checkout)
    assert open_page.headers["Cache-Control"] == "no-store"
    assert tr("Show my booking") not in text_of(open_page)  # open: pay or cancel
    pay(mia, booking_id)
    shown, lands = back_on_checkout(mia, checkout)
    assert tr("This checkout is already paid.") in shown
    assert lands == f"/bookings/{booking_id}"
    assert tr("confirmed") in facts(mia.get(lands))


def test_back_to_an_expired_or_called_off_checkout_leads_to_the_booking(
    mia, staff, place, approval_studio, clock
):
    lapsed_id = booked(place.member, place.room, clock)
    lapsed = open_checkout(mia, lapsed_id)
    clock.advance(timedelta(minutes=31))
    shown, lands = back_on_checkout(mia, lapsed)
    assert tr("This checkout has expired. The reservation was released; please book "
              "again.") in shown
    assert lands == f"/bookings/{lapsed_id}"
    assert tr("expired (not paid in time)") in facts(mia.get(lands))

    # A studio booking authorised on the checkout, then rejected by staff.
    rejected_id = authorised(mia, approval_studio, clock, start=14)
    checkout = urlsplit(fresh(Booking, rejected_id).payment.checkout_url).path
    shown, lands = back_on_checkout(mia, checkout)
    assert tr("This checkout is complete: your card is authorised and charged only when "
              "the studio team approves the booking.") in shown
    assert staff.post(f"/bookings/{rejected_id}/reject", data={"reason": ""}).status_code == 302
    shown, lands = back_on_checkout(mia, checkout)
    assert tr("This payment was called off: the authorisation on your card was given back "
              "and nothing was charged.") in shown
    assert lands == f"/bookings/{rejected_id}"
    assert tr("cancelled") in facts(mia.get(lands))


# --- cancelling with the refund shown first -----------------------------------------------------


def test_the_cancel_page_shows_the_refund_before_cancelling(mia, place, clock):
    booking_id = booked(place.member, place.room, clock)  # Tuesday 10:00: 25 hours ahead
    pay(mia, booking_id)
    terms = mia.get(f"/bookings/{booking_id}/cancel")
    assert terms.status_code == 200
    assert tr("If you cancel now, %(amount)s of %(paid)s is refunded (%(percent)d %%).",
              amount="6,00\xa0€", paid="12,00\xa0€", percent=50) in text_of(terms)
    assert tr("up to %(hours)d hours before the start: %(percent)d %% back", hours=48,
              percent=100) in text_of(terms)
    assert page(terms).by_id("refund") is None  # members do not choose the refund
    assert fresh(Booking, booking_id).status is BookingStatus.CONFIRMED  # only shown

    done = mia.post(f"/bookings/{booking_id}/cancel", data={"reason": "Plans changed"})
    assert done.status_code == 302
    detail = mia.get(done.headers["Location"])
    shown = text_of(detail)
    assert tr("Your booking is cancelled. %(amount)s will be refunded to your card (this "
              "takes a few days).", amount="6,00\xa0€") in shown
    assert tr("cancelled") in facts(detail)
    booking = fresh(Booking, booking_id)
    assert booking.status is BookingStatus.CANCELLED
    assert booking.cancel_reason == "Plans changed"
    (refund,) = booking.payment.refunds
    assert (refund.amount_cents, refund.reason, refund.status) == (
        600, RefundReason.CANCELLATION, RefundStatus.SUCCEEDED)
    assert booking.payment.refunded_cents == 600
    # The member sees the refund on the booking page.
    refunds = page(detail).by_id("refunds-heading")
    assert refunds is not None and "6,00 €" in shown

    # An unpaid hold: nothing was charged, nothing comes back.
    unpaid = booked(place.member, place.room, clock, start=14, end=15)
    terms = mia.get(f"/bookings/{unpaid}/cancel")
    assert tr("Nothing has been charged yet, so nothing is charged if you cancel now.") in \
        text_of(terms)
    done = mia.post(f"/bookings/{unpaid}/cancel", data={})
    assert tr("Your booking is cancelled.") in text_of(mia.get(done.headers["Location"]))
    booking = fresh(Booking, unpaid)
    assert booking.status is BookingStatus.CANCELLED and booking.payment.refunds == []


def test_staff_choose_the_refund_when_cancelling(mia, staff, place, clock):
    booking_id = booked(place.member, place.room, clock)  # by the policy: half back
    pay(mia, booking_id)
    form = page(staff.get(f"/bookings/{booking_id}/cancel"))
    assert {i.attrs["value"] for i in form.find_all("input", type="radio")} == {
        "policy", "full", "none"}
    done = staff.post(f"/bookings/{booking_id}/cancel",
                      data={"refund": "full", "reason": "Heizung ausgefallen"})
    assert done.status_code == 302
    booking = fresh(Booking, booking_id)
    assert booking.status is BookingStatus.CANCELLED
    assert booking.cancelled_by_id == place.staff.id
    assert [(r.amount_cents, r.status) for r in booking.payment.refunds] == [
        (1200, RefundStatus.SUCCEEDED)]
    # A member's form has no choice, and a forged one is not taken.
    other = booked(place.member, place.room, clock, start=14, end=15)
    pay(mia, other)
    assert page(mia.get(f"/bookings/{other}/cancel")).find_all("input", type="radio") == []
    mia.post(f"/bookings/{other}/cancel", data={"refund": "full"})
    assert [r.amount_cents for r in fresh(Booking, other).payment.refunds] == [600]


def test_a_late_cancellation_promises_no_refund_and_started_bookings_offer_none(
    mia, staff, place, clock
):
    late = booked(place.member, place.room, clock, start=8, end=9)  # 23 hours ahead
    pay(mia, late)
    assert staff.post(f"/bookings/{late}/refunds", data={"amount": "2,00"}).status_code == 302
    terms = mia.get(f"/bookings/{late}/cancel")
    assert tr("If you cancel now, %(amount)s of %(paid)s is refunded (%(percent)d %%).",
              amount="0,00\xa0€", paid="12,00\xa0€", percent=0) in text_of(terms)
    done = mia.post(f"/bookings/{late}/cancel", data={})
    shown = text_of(mia.get(done.headers["Location"]))
    assert tr("Your booking is cancelled.") in shown
    # The refund staff made before is not announced as this cancellation's.
    assert tr("Your booking is cancelled. %(amount)s will be refunded to your card (this "
              "takes a few days).", amount="2,00\xa0€") not in shown
    assert [r.reason for r in fresh(Booking, late).payment.refunds] == [RefundReason.STAFF]

    desk = booked(place.member, place.desks[0], clock, start=8, end=13)  # included
    link = f"/bookings/{desk}/cancel"
    assert page(mia.get(f"/bookings/{desk}")).find_all("a", href=link) != []
    clock.advance(timedelta(hours=24))  # Tuesday 09:00: under way
    assert page(mia.get(f"/bookings/{desk}")).find_all("a", href=link) == []
    refused = mia.get(link)
    assert refused.status_code == 302
    assert tr("This booking can no longer be cancelled.") in text_of(
        mia.get(refused.headers["Location"]))
    assert page(staff.get(f"/bookings/{desk}")).find_all("a", href=link) != []
    assert fresh(Booking, desk).status is BookingStatus.CONFIRMED


def test_pay_now_with_the_gateway_down_releases_the_reservation(app, mia, place, clock,
                                                                monkeypatch):
    booking_id = booked(place.member, place.room, clock)

    def down(*args, **kwargs):
        raise GatewayUnavailable("timeout")

    monkeypatch.setattr(app.extensions[KEY], "create_checkout", down)
    response = mia.post(f"/bookings/{booking_id}/pay")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert tr("The payment service cannot be reached right now, so your reservation was "
              "released. Please try again in a few minutes.") in text_of(response)
    booking = fresh(Booking, booking_id)
    assert booking.status is BookingStatus.EXPIRED
    assert booking.payment.status is PaymentStatus.FAILED
    assert db.session.scalar(select(func.count()).select_from(SimulatedCheckout)) == 0


# --- staff: payments, refunds by hand, approval --------------------------------------------------


def test_staff_see_the_payment_and_refund_by_hand(app, mia, staff, place, clock,
                                                   monkeypatch):
    booking_id = booked(place.member, place.room, clock, start=10, end=12)  # 24 €
    pay(mia, booking_id)
    payment_id = fresh(Booking, booking_id).payment_id
    detail = staff.get(f"/bookings/{booking_id}")
    assert detail.status_code == 200
    html = page(detail)
    section = html.by_id("payments")
    assert section is not None
    shown = norm(section.text)
    assert tr("Payment %(id)s", id=payment_id) in shown
    assert "simulated" in shown and "paid" in shown and "24,00 €" in shown
    assert html.by_id("refund") is not None  # the form
    assert tr("Up to %(left)s can still be refunded.", left="24,00\xa0€") in shown
    # Members do not see the staff section.
    assert page(mia.get(f"/bookings/{booking_id}")).by_id("payments") is None

    for bad in ("12,5x", "", "-3", "0,00", "12,505", "1.250,00"):
        refused = staff.post(f"/bookings/{booking_id}/refunds", data={"amount": bad})
        assert refused.status_code == 302, bad
        assert refused.headers["Location"].endswith(f"/bookings/{booking_id}#refund")
    assert tr("Please enter the amount in euros, for example 12,50.") in text_of(
        staff.get(f"/bookings/{booking_id}"))
    too_much = staff.post(f"/bookings/{booking_id}/refunds", data={"amount": "24,01"})
    assert too_much.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 0

    made = staff.post(f"/bookings/{booking_id}/refunds",
                      data={"amount": "12,50", "note": "Beamer defekt"})
    assert made.status_code == 302
    after = staff.get(made.headers["Location"])
    assert tr("%(amount)s refunded.", amount="12,50\xa0€") in text_of(after)
    (refund,) = fresh(Payment, payment_id).refunds
    assert (refund.amount_cents, refund.reason, refund.status, refund.note) == (
        1250, RefundReason.STAFF, RefundStatus.SUCCEEDED, "Beamer defekt")
    assert refund.created_by_id == place.staff.id
    rows = [norm(r.text) for r in page(after).find_all("tr")]
    assert any("12,50 €" in r and "Beamer defekt" in r and place.staff.name in r for r in rows)
    assert tr("Up to %(left)s can still be refunded.", left="11,50\xa0€") in text_of(after)

    # The gateway says no: staff are told so, not that it will be retried.
    def refuse(*args, **kwargs):
        raise GatewayRefused("charge disputed")

    monkeypatch.setattr(app.extensions[KEY], "refund", refuse)
    failed = staff.post(f"/bookings/{booking_id}/refunds", data={"amount": "1"})
    shown = text_of(staff.get(failed.headers["Location"]))
    assert tr("The payment service refused the refund of %(amount)s: %(reason)s",
              amount="1,00\xa0€", reason="charge disputed") in shown
    refunds = fresh(Payment, payment_id).refunds
    assert [(r.amount_cents, r.status) for r in refunds] == [
        (1250, RefundStatus.SUCCEEDED), (100, RefundStatus.FAILED)]
    assert tr("Up to %(left)s can still be refunded.", left="11,50\xa0€") in shown


def authorised(member_browser, place, clock, start: int) -> int:
    booking_id = booked(place.member, place.studio, clock, start=start, end=start + 2)
    pay(member_browser, booking_id)
    payment = fresh(Booking, booking_id).payment
    assert payment.status is PaymentStatus.AUTHORIZED
    return booking_id


def test_staff_approve_or_reject_an_authorised_studio_booking(mia, staff, approval_studio,
                                                              clock):
    approve_id = authorised(mia, approval_studio, clock, start=10)
    reject_id = authorised(mia, approval_studio, clock, start=14)
    member_page = mia.get(f"/bookings/{approve_id}")
    member_view = text_of(member_page)
    assert tr("reserved, awaiting approval by the studio team") in facts(member_page)
    assert tr("Approve and charge") not in member_view and tr("Pay now") not in member_view
    # Authorised already: "pay" again is answered with a note, not an error page.
    again = mia.post(f"/bookings/{approve_id}/pay")
    assert again.status_code == 302
    assert tr("This booking is not waiting for payment.") in text_of(
        mia.get(again.headers["Location"]))

    staff_view = page(staff.get(f"/bookings/{approve_id}"))
    labels = [norm(b.text) for b in staff_view.find_all("button")]
    assert tr("Approve and charge") in labels and tr("Reject") in labels

    approved = staff.post(f"/bookings/{approve_id}/approve")
    assert approved.status_code == 302
    assert tr("Approved: the booking is confirmed and the amount charged.") in text_of(
        staff.get(approved.headers["Location"]))
    booking = fresh(Booking, approve_id)
    assert booking.status is BookingStatus.CONFIRMED
    assert booking.payment.status is PaymentStatus.PAID
    assert booking.payment.received_cents == booking.price_gross_cents > 0

    rejected = staff.post(f"/bookings/{reject_id}/reject", data={"reason": "Dreharbeiten"})
    assert rejected.status_code == 302
    assert tr("Rejected: the booking is cancelled and the card authorisation released.") in \
        text_of(staff.get(rejected.headers["Location"]))
    booking = fresh(Booking, reject_id)
    assert booking.status is BookingStatus.CANCELLED
    assert booking.cancel_reason == "Dreharbeiten"
    assert booking.payment.status is PaymentStatus.CANCELLED
    assert booking.payment.received_cents == 0
    # The member reads why.
    assert "Dreharbeiten" in text_of(mia.get(f"/bookings/{reject_id}"))
    # Nothing left to decide: the buttons are gone, and a second press is refused.
    assert tr("Approve and charge") not in text_of(staff.get(f"/bookings/{reject_id}"))
    assert staff.post(f"/bookings/{reject_id}/approve").status_code == 409


# --- what a member must not reach ----------------------------------------------------------------


def test_a_member_gets_404_for_what_is_not_theirs(app, client, mia, place, clock,
                                                  other_member):
    theirs = booked(other_member, place.room, clock, start=14, end=15)
    their_browser = browser(app, other_member)
    checkout = open_checkout(their_browser, theirs)
    payment_id = fresh(Booking, theirs).payment_id
    own = booked(place.member, place.room, clock)
    own_payment = fresh(Booking, own).payment_id
    pay(mia, own)

    for method, path in [
        ("GET", f"/bookings/{theirs}"),
        ("POST", f"/bookings/{theirs}/pay"),
        ("GET", f"/bookings/{theirs}/cancel"),
        ("POST", f"/bookings/{theirs}/cancel"),
        ("GET", f"/payments/{payment_id}/return"),
        ("GET", "/bookings/999999"),
        # Staff endpoints, even for the member's own booking.
        ("POST", f"/bookings/{own}/approve"),
        ("POST", f"/bookings/{own}/reject"),
        ("POST", f"/bookings/{own}/refunds"),
        ("GET", f"/pay/simulated/cs_sim_{secrets.token_urlsafe(18)}"),
        ("GET", "/pay/simulated/not-a-checkout"),
        ("POST", f"/pay/simulated/cs_sim_{secrets.token_urlsafe(18)}"),
    ]:
        response = mia.open(path, method=method, data={"amount": "12,00", "action": "pay"})
        assert response.status_code == 404, (method, path, response.status_code)
    assert fresh(Booking, theirs).status is BookingStatus.HELD
    assert fresh(Payment, own_payment).refunds == []
    assert fresh(SimulatedCheckout, checkout.rsplit("/", 1)[1]).status == "open"
    # Logged out, the pages ask to log in first.
    for method, path in [("GET", f"/bookings/{theirs}"), ("POST", f"/bookings/{theirs}/pay"),
                         ("GET", f"/bookings/{theirs}/cancel")]:
        response = client.open(path, method=method)
        assert response.status_code == 302, path
        assert urlsplit(response.headers["Location"]).path == "/login"


# --- English -----------------------------------------------------------------------------------


def test_the_pages_in_english(app, client, place, clock):
    place.member.locale = "en"
    db.session.commit()
    mia = browser(app, place.member)
    booking_id = booked(place.member, place.room, clock)
    detail = mia.get(f"/bookings/{booking_id}")
    assert page(detail).find_all("html")[0].attrs["lang"] == "en"
    shown = text_of(detail)
    assert "reserved, awaiting payment" in shown and "€12.00" in shown
    assert "Pay now" in [norm(b.text) for b in page(detail).find_all("button")]

    checkout = open_checkout(mia, booking_id)
    shown_checkout = mia.get(checkout)
    assert "Test payment – no money moves." in text_of(shown_checkout)
    assert "Pay €12.00 (test)" in text_of(shown_checkout)
    # The line item was written in the member's language too.
    row = fresh(SimulatedCheckout, checkout.rsplit("/", 1)[1])
    assert "€1.92" in row.line_items[0]["description"]
    assert "VAT" in row.line_items[0]["description"]

    paid = mia.post(checkout, data={"action": "pay"})
    after = mia.get(mia.get(paid.headers["Location"]).headers["Location"])
    assert "Thank you: your payment has arrived and your booking is confirmed." in text_of(after)
    assert "confirmed" in facts(after)
    terms = text_of(mia.get(f"/bookings/{booking_id}/cancel"))
    assert "If you cancel now, €6.00 of €12.00 is refunded (50 %)." in terms


def test_a_nul_character_in_a_payment_form_is_refused_and_changes_nothing(
    mia, staff, place, clock
):
    booking_id = booked(place.member, place.room, clock)
    pay(mia, booking_id)
    # Cancelling with a NUL in the reason: the form says no, the booking stays.
    response = mia.post(f"/bookings/{booking_id}/cancel", data={"reason": "a\x00b"})
    assert response.status_code == 200
    assert fresh(Booking, booking_id).status is BookingStatus.CONFIRMED
    # Staff refund with a NUL in the note: refused, no refund recorded.
    response = staff.post(f"/bookings/{booking_id}/refunds",
                          data={"amount": "5,00", "note": "a\x00b"})
    assert response.status_code == 302
    assert fresh(Booking, booking_id).payment.refunds == []


def test_calendar_feeds_say_awaiting_approval_then_booked(app, mia, staff, approval_studio,
                                                          clock, api_as):
    booking_id = authorised(mia, approval_studio, clock, start=10)
    uid = fresh(Booking, booking_id).uid
    feeds = api_as(approval_studio.member).get("/api/v1/feeds").get_json()["feeds"]
    (mine,) = [f for f in feeds if f["kind"] == "member"]
    path = urlsplit(mine["url"]).path

    def event() -> tuple[str, str]:
        import icalendar

        calendar = icalendar.Calendar.from_ical(app.test_client().get(path).data)
        (found,) = [e for e in calendar.walk("VEVENT") if str(e["UID"]).startswith(uid)]
        return str(found["STATUS"]), str(found["SUMMARY"])

    status, summary = event()
    assert status == "TENTATIVE"
    assert summary.startswith(tr("Awaiting approval: %(title)s", title="")), summary
    staff.post(f"/bookings/{booking_id}/approve")
    status, summary = event()
    assert status == "CONFIRMED" and not summary.startswith(tr("Awaiting approval: %(title)s",
                                                                title=""))
