"""German by default, English on request: the catalogues and the language switch.

The catalogue tests extract the strings afresh from the code (as scripts/i18n-update does), so
a new _() / {{ _("...") }} without a German translation fails here, not in front of citizens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from flask import Flask, render_template_string
from flask.testing import FlaskClient

from schiller40 import create_app
from schiller40.extensions import db
from schiller40.i18n import LANG_COOKIE
from schiller40.models import User

from .factories import Factory
from .helpers import log_in

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "schiller40" / "translations"
UPDATE_SCRIPT = ROOT / "scripts" / "i18n-update"
# printf-style conversions as Python's % operator reads them; "%%" is a literal percent sign.
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[#0 +-]*(?:\*|\d+)?(?:\.\d+)?[diouxXeEfFgGcrsa%]")


# --- catalogues ------------------------------------------------------------------------------


def _extraction_keywords() -> list[str]:
    """The extra keywords scripts/i18n-update passes, so this test cannot drift from it."""
    keywords = re.findall(r"--keyword=(\S+)", UPDATE_SCRIPT.read_text())
    assert "_l" in keywords, "scripts/i18n-update must extract lazy_gettext imported as _l"
    return keywords


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """A freshly extracted messages.pot, made the same way as by scripts/i18n-update."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    argv = ["pybabel", "-q", "extract", "--mapping-file", str(ROOT / "babel.cfg")]
    for keyword in _extraction_keywords():
        argv += ["--keyword", keyword]
    CommandLineInterface().run([*argv, "--output-file", str(pot), str(ROOT)])
    with pot.open("rb") as fh:
        return read_po(fh)


def _catalog(locale: str) -> Catalog:
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=locale)


def _strings(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return (value or "",)


def _placeholders(text: str) -> list[str]:
    return sorted(p for p in PLACEHOLDER.findall(text) if p != "%%")


def _messages(catalog: Catalog) -> Iterator[Message]:
    return (m for m in catalog if m.id)


def test_extraction_finds_strings_from_python_and_templates(template: Catalog) -> None:
    # Guards the guard: an extraction that silently found nothing would make the tests pass.
    files = {path for m in _messages(template) for path, _line in m.locations}
    assert any(f.endswith(".py") for f in files), files
    assert any(f.endswith(".html") for f in files), files
    assert template.get("Opening hours") is not None  # a template string
    assert template.get("Please log in to see this page.") is not None  # a lazy _l() string


def test_every_extracted_string_has_a_german_translation(template: Catalog) -> None:
    german = _catalog("de")
    missing = []
    for message in _messages(template):
        translated = german.get(message.id, message.context)
        if translated is None or not all(_strings(translated.string)):
            missing.append(_strings(message.id)[0])
    assert not missing, (
        "Run scripts/i18n-update and translate these in "
        f"schiller40/translations/de/LC_MESSAGES/messages.po: {missing}"
    )


@pytest.mark.parametrize("locale", ["de", "en"])
def test_catalogue_has_no_fuzzy_entries(locale: str) -> None:
    fuzzy = [_strings(m.id)[0] for m in _messages(_catalog(locale)) if m.fuzzy]
    assert not fuzzy, f"Check these translations and remove their fuzzy flag: {fuzzy}"


def test_german_placeholders_match_the_source() -> None:
    german = _catalog("de")
    wrong = []
    for message in _messages(german):
        ids = _strings(message.id)
        for index, translation in enumerate(_strings(message.string)):
            if not translation:
                continue
            source = ids[0] if index == 0 else ids[-1]
            if _placeholders(translation) != _placeholders(source):
                wrong.append((source, translation))
    assert not wrong, f"Placeholders differ between msgid and msgstr: {wrong}"
    # Babel's own checks too (python-format flags, number of plural forms).
    problems = [(_strings(m.id)[0], [str(e) for e in errors]) for m, errors in german.check()]
    assert not problems, problems


def test_german_catalogue_declares_german_plural_forms() -> None:
    german = _catalog("de")
    assert german.num_plurals == 2
    assert german.plural_expr.replace(" ", "") == "(n!=1)"


def test_english_catalogue_exists_and_falls_back_to_the_source() -> None:
    # Its msgstr may stay empty: gettext then shows the English msgid.
    english = _catalog("en")
    assert str(english.locale) == "en"
    assert sum(1 for _ in _messages(english)) > 0


# --- money, outside any database -------------------------------------------------------------


@pytest.fixture(scope="module")
def plain_app() -> Flask:
    """An app that never touches its database: enough for filters and request contexts."""
    return create_app({"ENV_NAME": "testing", "DATABASE_URL": "sqlite://"})


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [("de", "15,00 €"), ("de-DE,de;q=0.9", "15,00 €"), ("en", "€15.00"), ("fr", "15,00 €")],
)
def test_money_filter_follows_the_language(
    plain_app: Flask, accept_language: str, expected: str
) -> None:
    with plain_app.test_request_context(headers={"Accept-Language": accept_language}):
        rendered = render_template_string("{{ 1500|money }}")
    # Babel puts a no-break space between amount and sign, so the two never wrap apart.
    assert rendered.replace("\xa0", " ") == expected


def test_money_filter_leaves_missing_amounts_empty(plain_app: Flask) -> None:
    with plain_app.test_request_context():
        assert render_template_string("{{ none|money }}") == ""


# --- pages -----------------------------------------------------------------------------------


def html_lang(response) -> str:
    match = re.search(r'<html lang="([^"]*)">', response.get_data(as_text=True))
    assert match, "no <html lang> on the page"
    return match.group(1)


@pytest.fixture
def location(factory: Factory):
    """The start page shows the opening hours only once a location exists."""
    return factory.location()


def test_start_page_is_german_without_accept_language(client: FlaskClient, location) -> None:
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html_lang(response) == "de"
    assert "Öffnungszeiten" in page
    assert "Montag" in page  # weekday names come from Babel in the page's language
    assert "Opening hours" not in page


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        ("en", "en"),
        ("en-GB,en;q=0.9", "en"),
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("fr", "de"),  # nothing we offer: German
        ("fr,en;q=0.5", "en"),
    ],
)
def test_start_page_follows_accept_language(
    client: FlaskClient, location, accept_language: str, expected: str
) -> None:
    response = client.get("/", headers={"Accept-Language": accept_language})
    page = response.get_data(as_text=True)
    assert html_lang(response) == expected
    if expected == "en":
        assert "Opening hours" in page
        assert "Monday" in page
        assert "Öffnungszeiten" not in page
    else:
        assert "Öffnungszeiten" in page


def test_choosing_english_sets_a_cookie_and_redirects(client: FlaskClient, location) -> None:
    response = client.post("/language", data={"lang": "en", "next": "/resources"})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/resources"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{LANG_COOKIE}=en;")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie

    # Even a browser that asks for German now gets English pages.
    page = client.get("/", headers={"Accept-Language": "de"})
    assert html_lang(page) == "en"
    assert "Opening hours" in page.get_data(as_text=True)
    assert html_lang(client.get("/resources")) == "en"

    # And back.
    client.post("/language", data={"lang": "de", "next": "/"})
    page = client.get("/", headers={"Accept-Language": "en"})
    assert html_lang(page) == "de"
    assert "Öffnungszeiten" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/path",
        "https://evil.example/",
        "evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\\evil.example",
    ],
)
def test_language_switch_does_not_redirect_elsewhere(client: FlaskClient, target: str) -> None:
    response = client.post("/language", data={"lang": "en", "next": target})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost")
    assert location.path == "/"


@pytest.mark.parametrize("data", [{"lang": "fr"}, {"lang": ""}, {}, {"lang": "EN"}])
def test_language_switch_refuses_unknown_languages(client: FlaskClient, data: dict) -> None:
    response = client.post("/language", data={**data, "next": "/"})
    assert response.status_code == 400
    cookies = response.headers.getlist("Set-Cookie")
    assert not [c for c in cookies if c.startswith(f"{LANG_COOKIE}=")], cookies


def test_logged_in_choice_is_saved_on_the_account(
    client: FlaskClient, factory: Factory, location
) -> None:
    user = factory.user()
    assert user.locale == "de"
    log_in(client, user)

    response = client.post("/language", data={"lang": "en", "next": "/"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.id).locale == "en"

    # Without the cookie (another browser, cleared cookies) the account's choice still counts.
    client.delete_cookie(LANG_COOKIE)
    page = client.get("/", headers={"Accept-Language": "de"})
    assert html_lang(page) == "en"
    assert "Opening hours" in page.get_data(as_text=True)


def test_account_language_beats_cookie_and_browser(
    client: FlaskClient, factory: Factory, location
) -> None:
    user = factory.user(locale="en")
    log_in(client, user)
    client.set_cookie(LANG_COOKIE, "de")
    assert html_lang(client.get("/", headers={"Accept-Language": "de"})) == "en"


def test_form_errors_are_in_the_readers_language(client: FlaskClient) -> None:
    german = client.post("/register", data={})
    assert german.status_code == 422
    assert "Bitte geben Sie Ihren Namen ein." in german.get_data(as_text=True)

    english = client.post("/register", data={}, headers={"Accept-Language": "en"})
    assert english.status_code == 422
    assert "Please enter your name." in english.get_data(as_text=True)
