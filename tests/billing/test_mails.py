"""The monthly fee's mails, sent by the worker (``flask tick``'s pass, with the test's clock)
to the real SMTP server: welcome with the first charge, the SEPA pre-notification with
amount, date, mandate reference and creditor id, payment failed with the update link,
suspended, ended."""

from __future__ import annotations

from datetime import date

import pytest

from schiller40.billing import service
from schiller40.extensions import db
from schiller40.payments.setup import gateway
from tests.helpers import local, norm
from tests.mail.helpers import run_tick

from ..mailbox import body
from .test_service import subscribe

CREDITOR = "DE98ZZZ09999999999"


@pytest.fixture
def app_config() -> dict:
    return {"SEPA_CREDITOR_ID": CREDITOR}


def at_day(clock, day: date, hour: int = 7) -> None:
    clock.set(local(day, hour))
    run_tick(clock)


def test_welcome_prenotice_failed_suspended_ended(billing_place, clock, inbox):
    sub = subscribe(billing_place, clock)
    run_tick(clock)
    welcome = inbox.only()
    assert welcome["Subject"] == "Willkommen bei Flex"
    text = norm(body(welcome))
    assert "Erste Abbuchung: 43,06 € für 17.12.2026 bis 31.12.2026 (15 von 31 Tagen)." in text
    assert "Nächste Abbuchung: 89,00 € am 1. Januar 2027" in text
    assert f"SEPA-Mandatsreferenz: {sub.mandate_reference}" in text
    inbox.clear()

    at_day(clock, date(2026, 12, 27))
    notice = inbox.only()
    assert norm(notice["Subject"]) == "Ihr Monatsbeitrag von 89,00 € am 01.01.2027"
    text, html = norm(body(notice)), norm(body(notice, "html"))
    for words in ("per SEPA-Lastschrift", "1. Januar 2027", "DE89 •••• 3000",
                  f"SEPA-Mandatsreferenz: {sub.mandate_reference}",
                  f"Gläubiger-Identifikationsnummer: {CREDITOR}"):
        assert words in text and words in html, words
    inbox.clear()
    at_day(clock, date(2026, 12, 28))
    assert inbox.messages == []  # told once

    at_day(clock, date(2027, 1, 1))
    service.make_next_renewal_fail(db.session, gateway(), actor=billing_place.staff,
                                   subscription_id=sub.id, now=clock())
    inbox.clear()
    at_day(clock, date(2027, 2, 1))
    failed = inbox.only()
    assert failed["Subject"] == "Ihr Monatsbeitrag konnte nicht eingezogen werden"
    text = norm(body(failed))
    assert "/account/membership/payment-method" in text
    assert "15. Februar 2027" in text  # suspended from then on
    inbox.clear()

    at_day(clock, date(2027, 2, 15))
    suspended = inbox.only()
    assert suspended["Subject"] == "Ihre Mitgliedschaft ist ausgesetzt"
    assert "17. März 2027" in norm(body(suspended))
    inbox.clear()

    at_day(clock, date(2027, 3, 17))
    ended = inbox.only()
    assert ended["Subject"] == "Ihr Monatsbeitrag für Flex ist beendet"
