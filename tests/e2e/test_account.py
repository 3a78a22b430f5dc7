"""The account page in real Chromium (CSRF on, the strict CSP of the app): change details,
download all data, delete the account. Found by labels and roles, as assistive technology
finds them."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.factories import PASSWORD


def nav(page: Page):
    return page.get_by_role("navigation", name="Hauptnavigation")


def test_details_export_and_deletion(mia: Page, place):
    nav(mia).get_by_role("link", name="Mein Konto").click()
    expect(mia.get_by_role("heading", level=1)).to_have_text("Mein Konto")
    membership = mia.get_by_role("region", name="Mitgliedschaft")
    expect(membership).to_contain_text("1 Arbeitsplatztag pro Monat")
    expect(membership).to_contain_text("noch 1")

    # Details: an empty name is refused beside the field; a good one is saved, in English.
    mia.get_by_label("Vor- und Nachname").fill("")
    mia.get_by_role("button", name="Angaben speichern").click()
    expect(mia.locator("#name-error")).to_have_text("Bitte geben Sie Ihren Namen ein.")
    mia.get_by_label("Vor- und Nachname").fill("Mia Schulz")
    mia.get_by_label("Sprache für Seiten und Nachrichten").select_option("en")
    mia.get_by_role("button", name="Angaben speichern").click()
    expect(mia.get_by_role("status").first).to_contain_text("Your details have been saved.")
    expect(mia.get_by_label("Full name")).to_have_value("Mia Schulz")

    # Download all my data: a JSON file named by the day.
    with mia.expect_download() as info:
        mia.get_by_role("link", name="Download all my data (JSON file)").first.click()
    download = info.value
    assert download.suggested_filename == "schiller40-my-data-2026-11-23.json"
    data = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert data["profile"]["name"] == "Mia Schulz"

    # Delete: a wrong password is refused beside the field, the right one deletes.
    mia.get_by_role("link", name="Delete my account…").click()
    expect(mia.get_by_role("heading", level=1)).to_have_text("Delete my account")
    mia.get_by_label("Your password", exact=True).fill("not my password")
    mia.get_by_role("button", name="Delete my account for good").click()
    expect(mia.locator("#password-error")).to_have_text("The password is not correct.")
    mia.get_by_label("Your password", exact=True).fill(PASSWORD)
    mia.get_by_role("button", name="Delete my account for good").click()
    expect(mia.get_by_role("status").first).to_contain_text("Your account has been deleted.")
    expect(mia.get_by_role("navigation", name="Main navigation").get_by_role(
        "link", name="Log in")).to_be_visible()

    # The old log-in no longer works.
    mia.goto("/login")
    mia.get_by_label("E-mail address").fill(place.member.email)
    mia.get_by_label("Password", exact=True).fill(PASSWORD)
    mia.get_by_role("main").get_by_role("button", name="Log in").click()
    expect(mia.get_by_role("alert")).to_contain_text("E-mail address or password is not correct.")
