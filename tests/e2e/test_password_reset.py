"""A forgotten password in real Chromium (CSRF on, the app's CSP): ask for a link on the
log-in page, read it from the real SMTP inbox, choose a new password, log in with it. The
pages on the way are checked with axe too."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from tests.factories import PASSWORD
from tests.helpers import mail_link
from tests.mail.helpers import run_tick

from .axe import assert_accessible
from .conftest import log_in

NEW_PASSWORD = "copper-meadow-violin"


def test_forgotten_password_from_the_mail_link_to_logging_in(page: Page, place, clock, inbox,
                                                             live_server):
    page.goto("/login")
    page.get_by_role("link", name="Passwort vergessen?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Passwort vergessen?")
    assert_accessible(page)

    # A wrong address is refused beside the field; then Mia's own.
    page.get_by_label("E-Mail-Adresse").fill("mia-at-example")
    page.get_by_role("button", name="Link senden").click()
    expect(page.locator("#email-error")).to_have_text(
        "Bitte geben Sie eine gültige E-Mail-Adresse ein.")
    page.get_by_label("E-Mail-Adresse").fill(place.member.email)
    page.get_by_role("button", name="Link senden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bitte sehen Sie in Ihr Postfach")
    expect(page.get_by_role("status").first).to_contain_text(
        "Falls es ein Konto mit dieser Adresse gibt")

    run_tick(clock)  # the worker sends the mail
    [message] = inbox.wait_for(1)
    assert message["To"].addresses[0].addr_spec == place.member.email
    link = mail_link(message, "/account/reset/")

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Neues Passwort wählen")
    assert_accessible(page)
    page.get_by_label("Neues Passwort", exact=True).fill("1234567890")
    page.get_by_label("Neues Passwort wiederholen").fill("1234567890")
    page.get_by_role("button", name="Neues Passwort speichern").click()
    expect(page.locator("#new_password-error")).to_be_visible()
    expect(page.get_by_label("Neues Passwort", exact=True)).to_have_attribute(
        "aria-invalid", "true")
    page.get_by_label("Neues Passwort", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Neues Passwort wiederholen").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Neues Passwort speichern").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "Ihr neues Passwort ist gespeichert. Bitte melden Sie sich damit an.")
    assert urlsplit(page.url).path == "/login"

    # The old password no longer works, the new one does; the link is used up.
    page.get_by_label("E-Mail-Adresse").fill(place.member.email)
    page.get_by_label("Passwort", exact=True).fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("alert")).to_be_visible()
    log_in(page, place.member.email, NEW_PASSWORD)
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Dieser Link funktioniert nicht")
    expect(page.get_by_role("link", name="Neuen Link anfordern")).to_be_visible()


def test_an_unconfirmed_member_asks_for_the_link_again_and_confirms(page: Page, factory, clock,
                                                                    inbox, live_server):
    """The notices (checked with axe), "send the link again", the link from the inbox."""
    from schiller40.extensions import db

    nora = factory.user(email="nora@example.org", name="Nora Neu", email_verified_at=None)
    db.session.commit()
    log_in(page, nora.email)
    page.goto("/bookings")
    notice = page.locator("#verify-notice")
    expect(notice).to_contain_text("Bitte bestätigen Sie Ihre E-Mail-Adresse nora@example.org")
    assert_accessible(page)
    notice.get_by_role("link", name="Keine E-Mail erhalten?").click()
    section = page.get_by_role("region", name="Bitte bestätigen Sie Ihre E-Mail-Adresse")
    expect(section).to_be_visible()
    assert_accessible(page)
    section.get_by_role("button", name="Link erneut senden").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "Wir haben einen neuen Link an nora@example.org gesendet.")

    run_tick(clock)
    [message] = inbox.wait_for(1)
    page.goto(mail_link(message, "/account/verify/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("E-Mail-Adresse bestätigt")
    page.goto("/account")
    expect(page.locator("#verify")).to_have_count(0)
    expect(page.locator("#verify-notice")).to_have_count(0)
