"""Resetting a forgotten password: the same answer for every address, the mail through the
real SMTP server, the link end to end with the test client, one hour on the app's clock,
one use, tampering refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from schiller40.accounts import links, tokens, verification
from schiller40.accounts.models import ApiToken, User
from schiller40.core.audit import AuditEntry
from schiller40.core.outbox import OutboxMessage
from schiller40.extensions import db
from tests.factories import PASSWORD
from tests.helpers import log_in, mail_link, text_of, tr
from tests.html import page

from ..mail.helpers import run_tick
from ..mailbox import body

NEW_PASSWORD = "copper-meadow-violin"
SENT = "If an account exists for this address, we have sent a link to it. It works for one hour."


def reset_rows() -> list[OutboxMessage]:
    return list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.topic == "mail.password_reset")))


def audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def ask(client, email: str):
    return client.post("/account/reset", data={"email": email})


def reset_link(client, clock, inbox, email: str = "mia@example.org") -> str:
    assert ask(client, email).status_code == 200
    run_tick(clock)
    return mail_link(inbox.only(), "/account/reset/")


def logs_in(app, email: str, password: str) -> bool:
    return log_in(app.test_client(), email, password, expect=None).status_code == 302


def test_the_login_page_links_to_the_form(client):
    login = page(client.get("/login"))
    assert any(a.attrs.get("href") == "/account/reset" for a in login.find_all("a"))
    form = client.get("/account/reset")
    assert form.status_code == 200
    assert page(form).find_all("label", **{"for": "email"})


def test_known_and_unknown_addresses_get_the_same_answer_and_only_one_gets_mail(
    app, client, place, clock, inbox
):
    known = ask(client, "mia@example.org")
    stranger = app.test_client()  # another browser, same language
    stranger.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    unknown = ask(stranger, "nobody@example.org")
    assert known.status_code == unknown.status_code == 200

    def comparable(response) -> str:
        # The pages differ only in the per-session CSRF tokens of the header's forms.
        return re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))

    assert comparable(known) == comparable(unknown)
    assert SENT in text_of(known)
    [row] = reset_rows()
    assert row.user_id == place.member.id and row.payload == {"user_id": place.member.id}
    run_tick(clock)
    assert [m["To"].addresses[0].addr_spec for m in inbox.messages] == ["mia@example.org"]


def test_the_address_is_found_whatever_its_case_and_spaces(client, place):
    assert ask(client, "  Mia@Example.ORG ").status_code == 200
    assert len(reset_rows()) == 1


def test_an_invalid_address_is_refused_beside_the_field(client, place):
    response = client.post("/account/reset", data={"email": "not an address"})
    assert response.status_code == 422
    error = page(response).by_id("email-error")
    assert error is not None and "Please enter a valid e-mail address." in error.text
    assert reset_rows() == []


def test_deactivated_and_deleted_accounts_get_no_mail(app, client, factory, clock, inbox):
    factory.user(email="off@example.org", is_active_account=False)
    factory.user(email="gone@example.org", deleted_at=clock())
    db.session.commit()
    for address in ("off@example.org", "gone@example.org"):
        assert SENT in text_of(ask(client, address))
    assert reset_rows() == []
    run_tick(clock)
    assert inbox.messages == []


def test_asking_again_within_two_minutes_sends_no_second_mail(client, place, clock):
    ask(client, "mia@example.org")
    clock.advance(timedelta(minutes=1))
    assert SENT in text_of(ask(client, "mia@example.org"))
    assert len(reset_rows()) == 1
    clock.advance(timedelta(minutes=2))
    ask(client, "mia@example.org")
    assert len(reset_rows()) == 2


def test_the_link_sets_a_new_password_once_and_revokes_api_tokens(
    app, client, place, clock, inbox
):
    issued = tokens.issue(db.session, email="mia@example.org", password=PASSWORD, now=clock())
    assert issued is not None
    place.member.email_verified_at = None
    db.session.commit()
    link = reset_link(client, clock, inbox)
    message = inbox.only()
    assert message["Subject"] == tr("Reset your Schiller40 password", "de")  # Mia reads German
    assert link in body(message)

    form = client.get(link)
    assert form.status_code == 200
    assert form.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in form.headers["Cache-Control"]
    assert "mia@example.org" in text_of(form)

    # Too weak, or not repeated: refused beside the field, the link still works.
    weak = client.post(link, data={"new_password": "1234567890",
                                   "new_password_confirm": "1234567890"})
    assert weak.status_code == 422
    error = page(weak).by_id("new_password-error")
    assert error is not None and "most common" in error.text
    differ = client.post(link, data={"new_password": NEW_PASSWORD,
                                     "new_password_confirm": NEW_PASSWORD + "x"})
    assert differ.status_code == 422 and page(differ).by_id("new_password_confirm-error")
    short = client.post(link, data={"new_password": "short", "new_password_confirm": "short"})
    assert short.status_code == 422 and page(short).by_id("new_password-error")

    clock.advance(timedelta(minutes=10))
    done = client.post(link, data={"new_password": NEW_PASSWORD,
                                   "new_password_confirm": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    assert "Your new password is set. Please log in with it." in text_of(client.get("/login"))

    assert logs_in(app, "mia@example.org", NEW_PASSWORD)
    assert not logs_in(app, "mia@example.org", PASSWORD)
    [entry] = audit("user.password_reset")
    assert entry.actor_id == place.member.id and entry.details == {"api_tokens_revoked": 1}
    db.session.expire_all()
    assert db.session.get(ApiToken, issued[1].id).revoked_at == clock()
    # The link reached the mailbox: that confirms the address too.
    assert db.session.get(User, place.member.id).email_verified_at == clock()

    # Single use: the same link again is refused, with the way to a new one.
    again = client.get(link)
    assert again.status_code == 400
    assert "This link has already been used" in text_of(again)
    assert page(again).find_all("a", href="/account/reset")
    replay = client.post(link, data={"new_password": "another-quiet-harbour",
                                     "new_password_confirm": "another-quiet-harbour"})
    assert replay.status_code == 400
    assert logs_in(app, "mia@example.org", NEW_PASSWORD)


def test_the_link_expires_after_an_hour_on_the_apps_clock(app, client, place, clock, inbox):
    link = reset_link(client, clock, inbox)
    clock.advance(links.RESET_MAX_AGE - timedelta(seconds=1))
    assert client.get(link).status_code == 200
    clock.advance(timedelta(seconds=2))
    expired = client.get(link)
    assert expired.status_code == 400
    assert "This link to reset your password has expired." in text_of(expired)
    posted = client.post(link, data={"new_password": NEW_PASSWORD,
                                     "new_password_confirm": NEW_PASSWORD})
    assert posted.status_code == 400
    assert logs_in(app, "mia@example.org", PASSWORD)


def test_the_link_dies_when_the_password_is_changed_another_way(app, client, place, clock,
                                                                 inbox):
    from schiller40.accounts import service

    link = reset_link(client, clock, inbox)
    service.change_password(db.session, user=place.member, current=PASSWORD,
                            new="another-quiet-harbour", now=clock())
    assert client.get(link).status_code == 400


def test_tampered_links_are_refused(app, client, place, factory, clock, inbox):
    link = reset_link(client, clock, inbox)
    token = link.rsplit("/", 1)[1]
    payload, stamp, signature = token.split(".")
    other = factory.user()
    db.session.commit()
    wrong_key = links._serializer("another-secret", links.RESET_SALT, clock()).dumps(
        {"u": other.id, "p": links.password_fingerprint(other, "another-secret")})
    # Right key and salt but a made-up fingerprint (as if guessed): no use either.
    guessed = links._serializer(app.config["SECRET_KEY"], links.RESET_SALT, clock()).dumps(
        {"u": other.id, "p": "0" * 16})
    verify = links.verify_token(other, secret_key=app.config["SECRET_KEY"], now=clock())
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    for bad in (f"{payload}.{stamp}.{flipped}", f"{payload}x.{stamp}.{signature}", wrong_key,
                guessed, verify):
        response = client.get(f"/account/reset/{bad}")
        assert response.status_code == 400, bad
        posted = client.post(f"/account/reset/{bad}", data={
            "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD})
        assert posted.status_code == 400
    assert logs_in(app, other.email, PASSWORD)
    assert logs_in(app, "mia@example.org", PASSWORD)


def test_a_logged_in_visitor_is_logged_out_after_resetting(app, client, place, clock, inbox):
    from tests.helpers import browser

    someone = browser(app, place.staff, language="en")
    link = reset_link(client, clock, inbox)
    response = someone.post(link, data={"new_password": NEW_PASSWORD,
                                        "new_password_confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert someone.get("/account").status_code == 302  # to the log-in


def test_the_reset_service_checks_the_link_again_under_the_lock(app, place, clock, inbox,
                                                                client):
    link = reset_link(client, clock, inbox)
    token = link.rsplit("/", 1)[1]
    secret = app.config["SECRET_KEY"]
    verification.reset_password(db.session, token=token, new=NEW_PASSWORD, secret_key=secret,
                                now=clock())
    with pytest.raises(verification.InvalidLink) as info:
        verification.reset_password(db.session, token=token, new="another-quiet-harbour",
                                    secret_key=secret, now=clock())
    assert info.value.reason == "used"


def test_the_invalid_page_reads_in_english_too(app, place):
    english = app.test_client()
    english.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    german = app.test_client()
    assert "This link to reset your password is not valid." in text_of(
        english.get("/account/reset/nonsense"))
    assert tr("This link to reset your password is not valid. Perhaps it was cut off when it "
              "was copied: open it straight from the mail.", "de") in text_of(
        german.get("/account/reset/nonsense"))


def test_a_reset_logs_the_account_out_in_every_browser(app, client, place, clock, inbox):
    """Whoever may know the old password (a stolen session, a shared computer) is out."""
    from tests.helpers import browser

    elsewhere = browser(app, place.member, language="de")
    assert elsewhere.get("/account").status_code == 200
    link = reset_link(client, clock, inbox)
    response = client.post(link, data={"new_password": NEW_PASSWORD,
                                       "new_password_confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert elsewhere.get("/account").status_code == 302  # to the log-in
    assert logs_in(app, place.member.email, NEW_PASSWORD)
