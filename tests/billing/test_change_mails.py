"""The mails of a member's own change of tier, cancellation and withdrawn cancellation,
through the worker and a real SMTP server, in German and English."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from schiller40.billing import changes
from schiller40.billing.settings import current_billing
from schiller40.extensions import db
from schiller40.membership.models import SignupMode, Tier
from schiller40.models import ResourceKind
from schiller40.payments.setup import gateway
from tests.helpers import local, norm
from tests.mail.helpers import run_tick

from ..mailbox import body
from .test_service import subscribe


@pytest.fixture
def fourteen_days():
    """Every tier has 14 days' notice to the end of a month."""
    for tier in db.session.scalars(select(Tier)):
        tier.notice_days = 14
    db.session.commit()


def test_change_cancel_and_withdraw_are_told(billing_place, factory, clock, inbox,
                                             fourteen_days):
    factory.tier(signup_mode=SignupMode.SELF_SERVICE, slug="startup", name="Startup", monthly_price_cents=14900, position=2,
                 prices={ResourceKind.DESK: (None, 600, 1000)})
    db.session.commit()
    subscribe(billing_place, clock)
    run_tick(clock)
    inbox.clear()  # the welcome
    changes.change_tier(db.session, gateway(), member=billing_place.member, tier_slug="startup",
                        now=clock(), settings=current_billing())
    run_tick(clock)
    changed = inbox.only()
    assert norm(changed["Subject"]) == "Ihr Wechsel zu Startup ab 18.12.2026"
    text, html = norm(body(changed)), norm(body(changed, "html"))
    for words in ("ab Freitag, 18. Dezember 2026", "Flex endete am 17. Dezember 2026",
                  "Differenz von 27,10 €", "149,00 €"):
        assert words in text and words in html, words
    inbox.clear()

    clock.set(local(date(2027, 1, 10), 9))
    run_tick(clock)
    inbox.clear()  # the renewal's pre-notice and the like
    changes.cancel(db.session, gateway(), member=billing_place.member, now=clock(),
                   expected_end=date(2027, 1, 31))
    run_tick(clock)
    cancelled = inbox.only()
    assert norm(cancelled["Subject"]) == "Ihre Mitgliedschaft endet am 31.01.2027"
    assert "endet am Sonntag, 31. Januar 2027" in norm(body(cancelled))
    inbox.clear()

    billing_place.member.locale = "en"
    db.session.commit()
    clock.set(local(date(2027, 1, 12), 9))
    changes.withdraw_cancellation(db.session, gateway(), member=billing_place.member,
                                  now=clock())
    run_tick(clock)
    kept = inbox.only()
    assert kept["Subject"] == "Your membership continues"
    assert "no longer ends on January 31, 2027" in norm(body(kept))
