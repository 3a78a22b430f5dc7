"""The account mails (confirm the address, reset the password): queued by the services with
only the user id, composed by the worker with a fresh signed link, delivered to the real SMTP
server in the member's language."""

from __future__ import annotations

import pytest
from flask_babel import force_locale, ngettext
from sqlalchemy import select

from schiller40.accounts import service, verification
from schiller40.core.outbox import OutboxMessage, OutboxStatus
from schiller40.extensions import db
from tests.helpers import mail_link

from ..mailbox import attachments, body
from .checks import tr
from .helpers import run_tick

GOOD_PASSWORD = "lantern-orchard-pebble"


def rows(topic: str) -> list[OutboxMessage]:
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.topic == topic).order_by(OutboxMessage.id)
    ))


def register(clock, locale: str, email: str = "nora@example.org"):
    return service.create_user(
        db.session, email=email, name="Nora Neu", password=GOOD_PASSWORD, now=clock(),
        locale=locale,
    )


@pytest.mark.parametrize("locale", ["de", "en"])
def test_the_confirmation_mail_reaches_the_member_in_their_language(app, clock, inbox, locale):
    user = register(clock, locale)
    [row] = rows("mail.verify_email")
    # Only the id: a dump of the outbox holds no usable link.
    assert row.payload == {"user_id": user.id} and row.user_id == user.id

    assert run_tick(clock).delivery.sent == 1
    message = inbox.only()
    assert message["To"].addresses[0].addr_spec == "nora@example.org"
    assert message["Subject"] == tr("Please confirm your e-mail address", locale)
    text, html = body(message), body(message, "html")
    assert tr("Hello %(name)s,", locale, name="Nora Neu") in text
    with force_locale(locale):
        days = ngettext(
            "The link works for %(num)d day. If it has expired, log in and ask for a new one "
            "on your account page.",
            "The link works for %(num)d days. If it has expired, log in and ask for a new one "
            "on your account page.", 7)
    assert " ".join(days.split()) in " ".join(text.split())
    assert tr("Confirm my e-mail address", locale) in html
    assert f'lang="{locale}"' in html
    assert attachments(message) == []
    path = mail_link(message, "/account/verify/")
    assert len(path) > len("/account/verify/") + 40  # a signed token, not an id
    db.session.expire_all()
    assert rows("mail.verify_email")[0].status is OutboxStatus.SENT


@pytest.mark.parametrize("locale", ["de", "en"])
def test_the_reset_mail_reaches_the_member_in_their_language(place, clock, inbox, locale):
    place.member.locale = locale
    db.session.commit()
    verification.request_password_reset(db.session, email="mia@example.org", now=clock())
    [row] = rows("mail.password_reset")
    assert row.payload == {"user_id": place.member.id}

    assert run_tick(clock).delivery.sent == 1
    message = inbox.only()
    assert message["To"].addresses[0].addr_spec == "mia@example.org"
    assert message["Subject"] == tr("Reset your Schiller40 password", locale)
    text, html = body(message), body(message, "html")
    with force_locale(locale):
        once = ngettext("The link works for %(num)d minute and only once.",
                        "The link works for %(num)d minutes and only once.", 60)
    assert once in text and once in html
    assert tr("Choose a new password", locale) in html
    assert tr("If you did not ask for this, you can ignore this message: your password stays "
              "as it is.", locale) in text
    mail_link(message, "/account/reset/")


@pytest.mark.parametrize("locale", ["de", "en"])
def test_registering_an_existing_address_mails_its_owner_in_their_language(
    place, clock, inbox, locale
):
    """The visitor is told nothing; the owner learns, with the ways in (no secret link)."""
    place.member.locale = locale
    db.session.commit()
    service.register(db.session, email=" MIA@example.org", name="Someone", now=clock(),
                     password=GOOD_PASSWORD, locale="de" if locale == "en" else "en")
    [row] = rows("mail.already_registered")
    assert row.payload == {"user_id": place.member.id} and row.user_id == place.member.id
    assert rows("mail.verify_email") == []

    assert run_tick(clock).delivery.sent == 1
    message = inbox.only()
    assert message["To"].addresses[0].addr_spec == "mia@example.org"
    assert message["Subject"] == tr("You already have a Schiller40 account", locale)
    text, html = body(message), body(message, "html")
    assert f'lang="{locale}"' in html
    for part in (text, html):
        assert tr("To log in, open:", locale) in part
        assert tr("Forgotten your password? Choose a new one here:", locale) in part
        assert tr("If this was not you, you can ignore this message: nothing has changed in "
                  "your account.", locale) in part
    assert mail_link(message, "/login") == "/login"
    assert mail_link(message, "/account/reset") == "/account/reset"


def test_no_confirmation_mail_once_the_address_is_confirmed_or_the_account_gone(
    app, clock, inbox
):
    confirmed = register(clock, "de", "a@example.org")
    gone = register(clock, "de", "b@example.org")
    confirmed.email_verified_at = clock()
    gone.is_active_account = False
    db.session.commit()
    report = run_tick(clock)
    assert report.delivery.sent == 0
    assert inbox.messages == []
    db.session.expire_all()
    assert {r.status for r in rows("mail.verify_email")} == {OutboxStatus.SENT}  # done


def test_no_reset_mail_for_an_account_deactivated_after_asking(place, clock, inbox):
    verification.request_password_reset(db.session, email="mia@example.org", now=clock())
    place.member.is_active_account = False
    db.session.commit()
    run_tick(clock)
    assert inbox.messages == []


def test_each_mail_gets_a_fresh_link_made_when_it_is_sent(place, clock, inbox):
    """Two reset mails, composed at different times, carry different links; nothing about
    them was stored beforehand."""
    from datetime import timedelta

    verification.request_password_reset(db.session, email="mia@example.org", now=clock())
    run_tick(clock)
    clock.advance(timedelta(minutes=5))
    verification.request_password_reset(db.session, email="mia@example.org", now=clock())
    run_tick(clock)
    first, second = inbox.wait_for(2)
    assert mail_link(first, "/account/reset/") != mail_link(second, "/account/reset/")
    assert all(r.payload == {"user_id": place.member.id} for r in rows("mail.password_reset"))
