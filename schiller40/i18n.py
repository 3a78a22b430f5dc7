"""Language choice and translation catalogues (German first, English too)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, has_request_context, request
from flask_login import current_user, user_logged_in
from werkzeug.wrappers import Response

TRANSLATIONS = Path(__file__).parent / "translations"
LANG_COOKIE = "lang"
LANG_COOKIE_SECONDS = 365 * 24 * 3600


def remember_language(response: Response, lang: str) -> Response:
    """Keep a language choice in this browser for a year, with the session cookie's flags:
    HttpOnly and SameSite=Lax, and Secure wherever the session cookie is (production), so
    it never travels over plain http there either."""
    response.set_cookie(
        LANG_COOKIE, lang, max_age=LANG_COOKIE_SECONDS, httponly=True, samesite="Lax",
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
    )
    return response


def select_locale() -> str:
    """The member's saved choice, else the language cookie, else the browser's, else German.

    Outside a request (CLI, worker, tests calling services) there is no one to ask: German.
    """
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in languages:
        return cookie
    return request.accept_languages.best_match(languages) or current_app.config[
        "BABEL_DEFAULT_LOCALE"
    ]


def compile_catalogs(directory: Path = TRANSLATIONS) -> list[Path]:
    """Compile every ``.po`` whose ``.mo`` is missing or older. Returns what was compiled.

    Compiled catalogues are build output and not in git; the setup scripts, the test suite and
    ``flask --app schiller40 translations compile`` call this.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    compiled = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=po_path.parent.parent.name)
        with mo_path.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        compiled.append(mo_path)
    return compiled


def carry_choice_to_account(sender: Flask, user, **extra) -> None:
    """At log-in, a language chosen in this browser beforehand becomes the account's.

    The account's language beats the cookie on every page (so it follows the member to other
    devices and into e-mails). Without this, a visitor who switched to English and then
    logged in would suddenly read German again: the switch would not be remembered.
    """
    if not has_request_context():
        return
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in sender.config["LANGUAGES"] and chosen != user.locale:
        from .accounts.service import set_locale
        from .extensions import db

        set_locale(db.session, user=user, locale=chosen)


# Connected once for every app (Flask-Login sends the app as the sender).
user_logged_in.connect(carry_choice_to_account)
