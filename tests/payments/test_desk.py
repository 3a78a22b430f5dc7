"""The front desk's money (both databases): staff booking a paid slot choose online payment
(a 24-hour hold and the pay-link mail), paid at the desk (cash or card: confirmed, a receipt)
or on invoice (confirmed, open until the transfer is recorded); manual charges with their
VAT exact in cents; recording a transfer once however often it is sent; and none of it ever
reaches the gateway or reconciliation.

The clock stands on Monday 23 November 2026, 09:00 in Wolfsburg."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from schiller40.accounts.admin import set_invoice_permission
from schiller40.accounts.models import User
from schiller40.booking.create import create_bookings
from schiller40.booking.errors import BookingError
from schiller40.booking.models import BookingStatus
from schiller40.booking.requests import BookingRequest
from schiller40.booking.settings import BookingSettings
from schiller40.core.audit import AuditEntry
from schiller40.core.money import money
from schiller40.errors import DomainError, InvalidInput
from schiller40.extensions import db
from schiller40.payments import desk
from schiller40.payments.errors import PaymentError
from schiller40.payments.models import ManualCharge, Payment, PaymentMethod, PaymentStatus
from schiller40.payments.reconcile import reconcile
from tests.helpers import TUE, at, count_rows, fresh

from ..mail.helpers import run_tick
from ..mail.test_payment_mails import rows, sent
from ..mailbox import body
from .fake_gateway import FakeGateway

STUDIO_2H = 3500  # two studio hours for the Flex member, one beyond the included hour


def staff_books(place, clock, payment=None, settings=None, **kw):
    wanted = {"resource_slug": "studio", "start": at(TUE, 10), "end": at(TUE, 12), **kw}
    return create_bookings(
        db.session, actor=place.staff, for_user=place.member, now=clock(),
        request=BookingRequest(payment=payment, **wanted),
        **({"settings": settings} if settings else {}),
    )


def allow_invoice(place, clock, *, member=True, company=None):
    set_invoice_permission(db.session, actor=place.staff, member_id=place.member.id,
                           member_allowed=member, company_allowed=company, now=clock())


def actions(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# --- online: the 24-hour hold and its mail ------------------------------------------------


@pytest.mark.parametrize("locale", ["de", "en"])
def test_online_payment_holds_24_hours_and_mails_the_link_with_local_time(
    place, clock, inbox, locale
):
    place.member.locale = locale
    db.session.commit()
    outcome = staff_books(place, clock, payment=PaymentMethod.ONLINE)
    (booking,) = outcome.bookings
    assert booking.status is BookingStatus.HELD
    assert booking.hold_expires_at == clock() + timedelta(hours=24)
    assert outcome.payment.method is PaymentMethod.ONLINE
    assert outcome.payment.provider == "simulated"
    run_tick(clock)
    [message] = sent(inbox, "mail.booking_to_pay")
    text = body(message)
    # Tuesday 24 November, 09:00 in Wolfsburg (08:00 UTC): the local time, not UTC.
    assert ("24.11.26, 09:00" if locale == "de" else "11/24/26, 9:00") in text
    assert f"/bookings/{booking.id}" in text
    # The hold runs out on the clock: a second before it still held, at the time expired.
    clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    assert fresh(type(booking), booking.id).effective_status(clock()) is BookingStatus.HELD
    clock.advance(timedelta(seconds=1))
    assert fresh(type(booking), booking.id).effective_status(clock()) is BookingStatus.EXPIRED
    run_tick(clock)
    assert fresh(type(booking), booking.id).status is BookingStatus.EXPIRED


def test_the_staff_hold_follows_the_setting_and_a_member_keeps_the_short_hold(place, clock):
    settings = BookingSettings(staff_hold=timedelta(hours=3))
    (booking,) = staff_books(place, clock, settings=settings).bookings
    assert booking.hold_expires_at == clock() + timedelta(hours=3)
    # The member booking for themselves: the member's hold, and a payment choice is ignored.
    (own,) = create_bookings(
        db.session, actor=place.member, now=clock(), settings=settings,
        request=BookingRequest(resource_slug="room", start=at(TUE, 14), end=at(TUE, 15),
                               payment=PaymentMethod.DESK_CASH),
    ).bookings
    assert own.status is BookingStatus.HELD
    assert own.hold_expires_at == clock() + settings.hold
    assert own.payment.method is PaymentMethod.ONLINE


@pytest.mark.parametrize("app_config", [{"STAFF_HOLD_HOURS": 2}], ids=["2h"])
def test_the_setting_reaches_the_staff_pages_settings(app, place, clock):
    from schiller40.booking.settings import current_settings

    assert current_settings().staff_hold == timedelta(hours=2)


# --- at the desk ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", [PaymentMethod.DESK_CASH, PaymentMethod.DESK_CARD])
def test_paid_at_the_desk_confirms_at_once_with_a_receipt(place, clock, inbox, method):
    outcome = staff_books(place, clock, payment=method)
    (booking,) = outcome.bookings
    payment = outcome.payment
    assert booking.status is BookingStatus.CONFIRMED and booking.hold_expires_at is None
    assert payment.method is method and payment.provider == "desk"
    assert payment.status is PaymentStatus.PAID
    assert payment.amount_cents == payment.received_cents == STUDIO_2H
    assert payment.net_cents + payment.tax_cents == STUDIO_2H
    assert payment.recorded_by_id == place.staff.id and payment.settled_at == clock()
    [entry] = actions("payment.recorded_at_desk")
    assert entry.actor_id == place.staff.id
    assert entry.details["method"] == method.value
    assert entry.details["amount_cents"] == STUDIO_2H
    assert rows("mail.booking_to_pay") == []
    run_tick(clock)
    [receipt] = sent(inbox, "mail.desk_receipt")
    text = body(receipt)
    with force_locale("de"):
        assert money(STUDIO_2H) in text
    assert ("bar" if method is PaymentMethod.DESK_CASH else "Karte") in text
    assert place.staff.name in text
    assert len(sent(inbox, "mail.booking_confirmed")) == 1


def test_desk_payments_never_reach_the_gateway_or_reconciliation(place, clock, app):
    allow_invoice(place, clock)
    cash = staff_books(place, clock, payment=PaymentMethod.DESK_CASH).payment
    billed = staff_books(place, clock, payment=PaymentMethod.INVOICE,
                         start=at(TUE, 14), end=at(TUE, 15)).payment
    online = staff_books(place, clock, payment=PaymentMethod.ONLINE,
                         resource_slug="room").payment
    gateway = FakeGateway(name="simulated")
    report = reconcile(db.session, gateway, now=clock(), settings=BookingSettings())
    assert report.checked == 1  # the online one only
    # However long the invoice stays open, nothing expires it.
    clock.advance(timedelta(days=40))
    reconcile(db.session, gateway, now=clock(), settings=BookingSettings())
    run_tick(clock)
    assert fresh(Payment, billed.id).status is PaymentStatus.PENDING
    assert fresh(Payment, cash.id).status is PaymentStatus.PAID
    assert fresh(Payment, online.id).method is PaymentMethod.ONLINE
    # Nobody is offered a checkout for an amount on invoice.
    assert not fresh(Payment, billed.id).awaits_payment(clock())


# --- on invoice -------------------------------------------------------------------------------


def test_on_invoice_is_refused_unless_staff_allowed_it(place, clock):
    with pytest.raises(BookingError) as refused:
        staff_books(place, clock, payment=PaymentMethod.INVOICE)
    assert refused.value.code == "invoice_not_allowed"
    assert "payment" in refused.value.fields
    assert count_rows(Payment) == 0


def test_nothing_owed_needs_no_permission_and_makes_no_payment(place, clock):
    (booking,) = staff_books(place, clock, payment=PaymentMethod.INVOICE,
                             end=at(TUE, 11)).bookings  # the included studio hour
    assert booking.status is BookingStatus.CONFIRMED and booking.payment is None
    assert count_rows(Payment) == 0


def test_on_invoice_confirms_and_stays_open_until_the_transfer(place, clock):
    allow_invoice(place, clock)
    outcome = staff_books(place, clock, payment=PaymentMethod.INVOICE)
    (booking,) = outcome.bookings
    payment = outcome.payment
    assert booking.status is BookingStatus.CONFIRMED
    assert payment.method is PaymentMethod.INVOICE and payment.owes_transfer
    assert payment.company_id is None and payment.received_cents == 0
    opened = desk.open_amounts(db.session)
    assert [p.id for p in opened.payments] == [payment.id]
    assert opened.total_cents == STUDIO_2H

    clock.advance(timedelta(days=3))
    paid = desk.record_transfer(db.session, actor=place.staff, payment_id=payment.id,
                                reference="  RE 2026-11  Mia ", now=clock())
    assert paid.status is PaymentStatus.PAID and paid.received_cents == STUDIO_2H
    assert paid.settled_by_id == place.staff.id and paid.settled_at == clock()
    assert paid.transfer_reference == "RE 2026-11 Mia"
    assert desk.open_amounts(db.session).payments == []
    [entry] = actions("payment.transfer_recorded")
    assert entry.details["reference"] == "RE 2026-11 Mia"
    with pytest.raises(PaymentError) as again:
        desk.record_transfer(db.session, actor=place.staff, payment_id=payment.id,
                             reference="", now=clock())
    assert again.value.code == "already_settled" and again.value.status == 409
    assert len(actions("payment.transfer_recorded")) == 1


def test_a_company_allowed_to_pay_on_invoice_is_billed(place, clock, factory):
    company = factory.company(name="Pixelwerk GmbH")
    place.member.company = company
    db.session.commit()
    allow_invoice(place, clock, member=False, company=True)
    assert [e.details["allowed"] for e in actions("company.invoice_permission_set")] == [True]
    assert actions("user.invoice_permission_set") == []
    payment = staff_books(place, clock, payment=PaymentMethod.INVOICE).payment
    assert payment.company_id == company.id and payment.user_id == place.member.id


def test_transfers_are_only_recorded_for_open_amounts_and_by_staff(place, clock):
    cash = staff_books(place, clock, payment=PaymentMethod.DESK_CASH).payment
    with pytest.raises(PaymentError) as refused:
        desk.record_transfer(db.session, actor=place.staff, payment_id=cash.id,
                             reference="", now=clock())
    assert refused.value.code == "not_on_invoice"
    with pytest.raises(DomainError) as hidden:
        desk.record_transfer(db.session, actor=place.member, payment_id=cash.id,
                             reference="", now=clock())
    assert hidden.value.status == 404
    with pytest.raises(DomainError) as missing:
        desk.record_transfer(db.session, actor=place.staff, payment_id=9999,
                             reference="", now=clock())
    assert missing.value.status == 404
    with pytest.raises(InvalidInput):
        desk.record_transfer(db.session, actor=place.staff, payment_id=cash.id,
                             reference="x" * 141, now=clock())


def test_a_transfer_sent_twice_at_once_is_recorded_once(app, place, clock):
    allow_invoice(place, clock)
    payment_id = staff_books(place, clock, payment=PaymentMethod.INVOICE).payment.id
    staff_id = place.staff.id
    db.session.commit()
    racers = 4
    barrier = threading.Barrier(racers)
    answers: list[str] = []

    def run() -> None:
        with app.app_context():
            actor = db.session.get(User, staff_id)
            barrier.wait(timeout=30)
            try:
                desk.record_transfer(db.session, actor=actor, payment_id=payment_id,
                                     reference="", now=clock())
                answers.append("recorded")
            except PaymentError as error:
                answers.append(error.code)
            except Exception as error:  # reported, never swallowed
                answers.append(repr(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answers) == ["already_settled"] * (racers - 1) + ["recorded"], answers
    db.session.expire_all()
    assert len(actions("payment.transfer_recorded")) == 1
    assert fresh(Payment, payment_id).received_cents == STUDIO_2H


# --- manual charges ---------------------------------------------------------------------------


def expected_split(gross: int, rate: int) -> tuple[int, int]:
    net = int((Decimal(gross) * 100 / (100 + rate)).quantize(Decimal(1), ROUND_HALF_UP))
    return net, gross - net


@pytest.mark.parametrize(("gross", "rate", "net", "tax"), [
    (1190, 19, 1000, 190),
    (1000, 19, 840, 160),  # 840.34 -> 840
    (1, 19, 1, 0),  # 0.84 -> 1: the cent goes to net, never a negative tax
    (5, 19, 4, 1),  # 4.20 -> 4
    (6, 19, 5, 1),  # 5.04
    (107, 7, 100, 7),
    (3, 7, 3, 0),  # 2.80 -> 3
    (1999, 7, 1868, 131),  # 1868.22
    (250, 0, 250, 0),
])
def test_vat_of_a_manual_charge_is_exact_in_cents(gross, rate, net, tax):
    amounts = desk.charge_amounts(gross, rate, standard=19)
    assert (amounts.net_cents, amounts.tax_cents) == (net, tax)


@pytest.mark.parametrize("rate", [19, 7, 0])
def test_net_plus_tax_is_gross_for_every_amount(rate):
    for gross in range(1, 3001):
        amounts = desk.charge_amounts(gross, rate, standard=19)
        assert amounts.net_cents + amounts.tax_cents == gross
        assert (amounts.net_cents, amounts.tax_cents) == expected_split(gross, rate)


def test_only_the_standard_the_reduced_and_no_rate_are_offered():
    assert desk.vat_rates(19) == [19, 7, 0]
    assert desk.vat_rates(7) == [7, 0]
    with pytest.raises(InvalidInput) as refused:
        desk.charge_amounts(100, 16, standard=19)
    assert "vat_percent" in refused.value.fields
    for bad in (0, -5, desk.CHARGE_MAX_CENTS + 1):
        with pytest.raises(InvalidInput):
            desk.charge_amounts(bad, 19, standard=19)


def charge(place, clock, **kw):
    values = dict(description="Farbdruck, 20 Seiten", gross_cents=600, vat_percent=19,
                  standard_vat_percent=19, method=PaymentMethod.DESK_CARD, to_company=False,
                  currency="EUR")
    values.update(kw)
    return desk.add_charge(db.session, actor=place.staff, member_id=place.member.id,
                           now=clock(), **values)


def test_a_manual_charge_paid_at_the_desk(place, clock, inbox):
    made = charge(place, clock)
    assert (made.gross_cents, made.net_cents, made.tax_cents) == (600, 504, 96)
    payment = made.payment
    assert payment.status is PaymentStatus.PAID and payment.method is PaymentMethod.DESK_CARD
    assert payment.amount_cents == payment.received_cents == 600
    assert (payment.net_cents, payment.tax_cents) == (504, 96)
    assert made.created_by_id == place.staff.id
    [entry] = actions("charge.created")
    assert entry.details["vat_percent"] == 19 and entry.details["tax_cents"] == 96
    run_tick(clock)
    [receipt] = sent(inbox, "mail.desk_receipt")
    assert "Farbdruck, 20 Seiten" in body(receipt)
    assert "19 %" in body(receipt, "html")


def test_a_manual_charge_billed_later_is_an_open_amount(place, clock, factory, inbox):
    company = factory.company(name="Pixelwerk GmbH")
    place.member.company = company
    db.session.commit()
    with pytest.raises(InvalidInput) as refused:
        charge(place, clock, method=PaymentMethod.INVOICE, to_company=True)
    assert "method" in refused.value.fields
    allow_invoice(place, clock, member=False, company=True)
    made = charge(place, clock, method=PaymentMethod.INVOICE, to_company=True,
                  description="3D-Drucker, 2 Stunden", gross_cents=1070, vat_percent=7)
    assert made.company_id == company.id
    assert made.payment.owes_transfer and made.payment.company_id == company.id
    assert (made.net_cents, made.tax_cents) == (1000, 70)
    # The member alone may not: billed to the member it is refused.
    with pytest.raises(InvalidInput):
        charge(place, clock, method=PaymentMethod.INVOICE)
    assert desk.open_amounts(db.session).total_cents == 1070
    run_tick(clock)
    assert rows("mail.desk_receipt") == []


def test_a_charge_needs_a_description_and_a_company_to_bill(place, clock):
    with pytest.raises(InvalidInput) as empty:
        charge(place, clock, description="   ")
    assert "description" in empty.value.fields
    with pytest.raises(InvalidInput) as nobody:
        charge(place, clock, to_company=True)
    assert "to_company" in nobody.value.fields
    with pytest.raises(InvalidInput):
        charge(place, clock, method=PaymentMethod.ONLINE)
    assert count_rows(ManualCharge) == 0 and count_rows(Payment) == 0


def test_the_data_export_shows_how_each_amount_was_paid(place, clock):
    from schiller40.members.privacy import export_data

    allow_invoice(place, clock)
    staff_books(place, clock, payment=PaymentMethod.INVOICE)
    charge(place, clock)
    exported = export_data(db.session, user=fresh(User, place.member.id), now=clock())
    methods = {p["method"]: p for p in exported["payments"]}
    assert set(methods) == {"invoice", "desk_card"}
    assert methods["invoice"]["status"] == "pending" and methods["invoice"]["recorded_by_staff"]
    [line] = methods["desk_card"]["charges"]
    assert (line["description"], line["vat_percent"], line["net_cents"],
            line["tax_cents"]) == ("Farbdruck, 20 Seiten", 19, 504, 96)


def test_cancelling_a_booking_paid_at_the_desk_records_its_refund_for_the_desk(place, clock):
    """The refund its terms give is recorded and never sent to a gateway (there is nothing
    to send it to): staff hand it out at the desk."""
    from schiller40.payments.cancellation import cancel_booking

    (booking,) = staff_books(place, clock, payment=PaymentMethod.DESK_CASH).bookings
    gateway = FakeGateway(name="simulated")
    cancelled, refund = cancel_booking(
        db.session, gateway, actor=place.member, booking_id=booking.id, now=clock(),
        reason=None, refund="policy", settings=BookingSettings(),
    )
    assert cancelled.status is BookingStatus.CANCELLED
    assert refund is not None and refund.amount_cents == STUDIO_2H // 2  # 25 h ahead: half
    assert fresh(type(refund), refund.id).provider_refund_id is None
    assert gateway.calls == []
