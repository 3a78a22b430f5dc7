"""Confirming the e-mail address: the mail after registration, the link in it (end to end
through the real SMTP server and the test client), its expiry on the app's clock, refused
tampering, the notices for an unconfirmed member and "send the link again"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from schiller40.accounts import links, verification
from schiller40.accounts.models import User
from schiller40.core.audit import AuditEntry
from schiller40.core.outbox import OutboxMessage
from schiller40.extensions import db
from schiller40.i18n import LANG_COOKIE
from tests.factories import PASSWORD
from tests.helpers import browser, log_in, mail_link, text_of, tr
from tests.html import page

from ..mail.helpers import run_tick
from ..mailbox import body

GOOD_PASSWORD = "lantern-orchard-pebble"


def register(client, email: str = "nora@example.org"):
    response = client.post("/register", data={
        "name": "Nora Neu", "email": email, "password": GOOD_PASSWORD,
        "password_confirm": GOOD_PASSWORD,
    })
    assert response.status_code == 302, response.data[:500]
    return db.session.scalar(select(User).where(User.email == email))


def verify_rows(user_id: int) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.topic == "mail.verify_email", OutboxMessage.user_id == user_id)))


def audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def confirmation_link(clock, inbox) -> str:
    run_tick(clock)
    return mail_link(inbox.only(), "/account/verify/")


def test_registering_in_german_sends_a_german_link_that_confirms_without_log_in(
    app, clock, inbox
):
    visitor = app.test_client()  # no language asked: German, the default
    user = register(visitor)
    assert user.locale == "de" and user.email_verified_at is None
    [row] = verify_rows(user.id)
    assert row.payload == {"user_id": user.id}
    link = confirmation_link(clock, inbox)
    assert inbox.only()["Subject"] == tr("Please confirm your e-mail address", "de")

    clock.advance(timedelta(hours=3))
    stranger = app.test_client()  # another browser, not logged in: the link is the proof
    response = stranger.get(link)
    assert response.status_code == 200
    assert tr("Thank you: %(email)s is confirmed as your address.", "de",
              email="nora@example.org") in text_of(response)
    assert response.headers["Referrer-Policy"] == "no-referrer"
    db.session.expire_all()
    assert db.session.get(User, user.id).email_verified_at == clock()
    [entry] = audit("user.email_verified")
    assert entry.object_id == user.id and entry.actor_id == user.id

    # A second click says the same and changes nothing.
    assert stranger.get(link).status_code == 200
    assert len(audit("user.email_verified")) == 1


def test_registering_in_english_sends_an_english_link_that_works_logged_in(app, clock, inbox):
    visitor = app.test_client()
    visitor.set_cookie(LANG_COOKIE, "en")
    user = register(visitor)
    assert user.locale == "en"
    link = confirmation_link(clock, inbox)
    message = inbox.only()
    assert message["Subject"] == "Please confirm your e-mail address"
    assert "welcome to Schiller40!" in body(message)

    # Logged in (registering does not log in): the notice is on every page until the link
    # is opened.
    log_in(visitor, "nora@example.org", GOOD_PASSWORD)
    mine = visitor.get("/bookings")
    notice = page(mine).by_id("verify-notice")
    assert notice is not None and "nora@example.org" in notice.text
    response = visitor.get(link)
    assert response.status_code == 200
    assert "E-mail address confirmed" in text_of(response)
    assert page(visitor.get("/bookings")).by_id("verify-notice") is None
    assert page(visitor.get("/account")).by_id("verify") is None


def test_the_link_expires_after_seven_days_on_the_apps_clock(app, clock, inbox):
    user = register(app.test_client())
    link = confirmation_link(clock, inbox)
    clock.advance(links.VERIFY_MAX_AGE + timedelta(seconds=1))
    response = app.test_client().get(link)
    assert response.status_code == 400
    text = text_of(response)
    assert tr("This confirmation link has expired.", "de") in text
    # The way to a new link: log in, then the account page sends one.
    assert tr("To get a new link, log in: your account page has a button that sends it again.",
              "de") in text
    db.session.expire_all()
    assert db.session.get(User, user.id).email_verified_at is None


def test_the_link_still_works_just_before_it_expires(app, clock, inbox):
    user = register(app.test_client())
    link = confirmation_link(clock, inbox)
    clock.advance(links.VERIFY_MAX_AGE - timedelta(minutes=1))
    assert app.test_client().get(link).status_code == 200
    db.session.expire_all()
    assert db.session.get(User, user.id).email_verified_at == clock()


def test_a_link_for_an_address_the_account_no_longer_has_is_refused(app, clock, inbox):
    user = register(app.test_client())
    link = confirmation_link(clock, inbox)
    db.session.get(User, user.id).email = "nora.neu@example.org"
    db.session.commit()
    response = app.test_client().get(link)
    assert response.status_code == 400
    assert tr("This confirmation link was for an e-mail address your account no longer uses.",
              "de") in text_of(response)
    db.session.expire_all()
    assert db.session.get(User, user.id).email_verified_at is None


def test_tampered_links_are_refused(app, clock, inbox, factory):
    user = register(app.test_client())
    link = confirmation_link(clock, inbox)
    token = link.rsplit("/", 1)[1]
    payload, stamp, signature = token.split(".")
    other = factory.user(email_verified_at=None)
    db.session.commit()
    # Someone else's id with this link's signature; a changed signature; another key.
    forged = links._serializer("testing-only-not-secret-but-wrong", links.VERIFY_SALT,
                               clock()).dumps({"u": other.id,
                                               "e": links.email_fingerprint(other.email, "x")})
    # A reset token is signed with another salt and is no confirmation.
    reset = links.reset_token(other, secret_key=app.config["SECRET_KEY"], now=clock())
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    for bad in (f"{payload}.{stamp}.{flipped}", f"{payload[:-1]}.{stamp}.{signature}",
                forged, reset):
        response = app.test_client().get(f"/account/verify/{bad}")
        assert response.status_code == 400, bad
        assert tr("This confirmation link is not valid. Perhaps it was cut off when it was "
                  "copied: open it straight from the mail.", "de") in text_of(response)
    db.session.expire_all()
    assert db.session.get(User, user.id).email_verified_at is None
    assert db.session.get(User, other.id).email_verified_at is None


@pytest.mark.parametrize("garbage", [
    "x", "..", "a.b.c", "%00", "%E2%98%83.%E2%98%83.x", "A" * 2000, "eyJ1IjoxfQ.AAAA.AAAA",
    "W10.aUkIAg.xx",
])
def test_garbage_tokens_get_the_invalid_page_never_a_500(app, garbage):
    response = app.test_client().get(f"/account/verify/{garbage}")
    assert response.status_code in (400, 404)
    assert app.test_client().get(f"/account/reset/{garbage}").status_code in (400, 404)


def test_a_token_of_another_shape_is_refused(app, clock):
    """Signed with our key and salt but not what we make: no crash, just invalid."""
    serializer = links._serializer(app.config["SECRET_KEY"], links.VERIFY_SALT, clock())
    for data in ([1, 2], {"u": "1", "e": "x"}, {"u": 1}, {"u": 10**9, "e": "x@example.org"},
                 {"u": True, "e": "user1@example.org"}, {"u": 10**30, "e": "x@example.org"}):
        response = app.test_client().get(f"/account/verify/{serializer.dumps(data)}")
        assert response.status_code == 400, data


def test_the_account_page_asks_to_confirm_and_sends_the_link_again_at_most_every_ten_minutes(
    app, clock, inbox, factory
):
    member = factory.user(email_verified_at=None, locale="en")
    db.session.commit()
    client = browser(app, member, language="en")
    account = page(client.get("/account"))
    notice = account.by_id("verify")
    assert notice is not None and "Please confirm your e-mail address" in notice.text
    assert "not confirmed yet" in text_of(client.get("/account"))
    # The full notice is on the account page, so the compact one is not repeated there.
    assert account.by_id("verify-notice") is None

    response = client.post("/account/verify/resend", data={"next": "/bookings"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/bookings")
    assert len(verify_rows(member.id)) == 1
    assert "We have sent a new link to" in text_of(client.get("/bookings"))

    clock.advance(timedelta(minutes=9))
    client.post("/account/verify/resend")
    assert len(verify_rows(member.id)) == 1
    assert "We sent you a link only a few minutes ago." in text_of(client.get("/account"))

    clock.advance(timedelta(minutes=2))
    client.post("/account/verify/resend")
    assert len(verify_rows(member.id)) == 2
    assert len(audit("user.verification_requested")) == 2

    run_tick(clock)
    first, second = inbox.wait_for(2)
    assert first["Subject"] == "Please confirm your e-mail address"
    # Both links work (either may be the one the member opens).
    assert client.get(mail_link(second, "/account/verify/")).status_code == 200
    assert client.get(mail_link(first, "/account/verify/")).status_code == 200
    assert page(client.get("/account")).by_id("verify") is None


def test_right_after_registering_the_link_is_not_sent_twice(app, clock):
    visitor = app.test_client()
    user = register(visitor)
    response = visitor.post("/account/verify/resend")
    assert response.status_code == 302
    assert len(verify_rows(user.id)) == 1


def test_a_confirmed_member_sees_no_notice_and_cannot_ask_again(app, place):
    client = browser(app, place.member, language="en")
    assert page(client.get("/bookings")).by_id("verify-notice") is None
    assert page(client.get("/account")).by_id("verify") is None
    client.post("/account/verify/resend")
    assert verify_rows(place.member.id) == []
    assert tr("Your e-mail address is already confirmed.", "de") in text_of(client.get("/account"))


def test_asking_again_needs_a_log_in(client):
    response = client.post("/account/verify/resend")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_service_refuses_while_a_mail_is_waiting(app, clock, factory):
    member = factory.user(email_verified_at=None)
    db.session.commit()
    verification.resend_verification(db.session, actor=member, now=clock())
    with pytest.raises(verification.TooSoon):
        verification.resend_verification(db.session, actor=member, now=clock())


def test_staff_see_whether_a_member_confirmed_the_address(app, place, factory):
    unconfirmed = factory.user(email_verified_at=None)
    db.session.commit()
    staff = browser(app, place.staff, language="en")
    # Staff read the pages in their own language (German here).
    not_verified = tr("e-mail not verified", "de")
    assert not_verified in text_of(staff.get(f"/staff/members/{unconfirmed.id}"))
    confirmed = text_of(staff.get(f"/staff/members/{place.member.id}"))
    assert not_verified not in confirmed and tr("E-mail confirmed", "de") in confirmed


def test_an_unconfirmed_member_may_still_book(app, place, clock):
    """The decision: confirming is asked for, not enforced (see docs/guide/account.md)."""
    from tests.helpers import TUE, at, book

    place.member.email_verified_at = None
    db.session.commit()
    outcome = book(place.member, clock, resource_slug="studio", start=at(TUE, 10),
                   end=at(TUE, 11))
    assert outcome.bookings


def test_new_accounts_from_the_command_line_are_asked_to_confirm_too(cli):
    result = cli("users", "create", "--email", "ops@example.org", "--password", GOOD_PASSWORD,
                 "--role", "staff")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "ops@example.org"))
    assert user.email_verified_at is None and len(verify_rows(user.id)) == 1


def test_factories_make_confirmed_members_unless_asked(factory):
    assert factory.user().email_verified_at is not None
    assert factory.user(email_verified_at=None).email_verified_at is None
    assert PASSWORD


def test_the_data_export_says_when_the_address_was_confirmed(app, place, clock):
    from schiller40.core.time import to_local
    from schiller40.members import privacy

    data = privacy.export_data(db.session, user=place.member, now=clock())
    assert data["profile"]["email_verified_at"] == to_local(
        place.member.email_verified_at).isoformat()


def test_the_link_does_not_carry_the_address_in_the_clear(app, clock, inbox):
    """URLs end up in web server logs: the token names a digest of the address, not it."""
    import base64

    register(app.test_client())
    link = confirmation_link(clock, inbox)
    payload = link.rsplit("/", 1)[1].split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert b"nora" not in decoded and b"example.org" not in decoded
