"""Language choice and translation catalogues (German first, English too)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, has_request_context, request
from flask_login import current_user, user_logged_in
from werkzeug.wrappers import Response

from . import catalogs
from .accounts.service import set_locale
from .extensions import db
from .settings import ConfigError

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
    ``flask --app schiller40 translations compile`` call this, and a wheel is built with them
    (setup.py).
    """
    return catalogs.compile_catalogs(directory)


def check_catalogs(app: Flask) -> None:
    """At start-up: every language the app offers has its compiled catalogue.

    Without one, Flask-Babel silently shows the English source text under ``<html lang="de">``.
    Production refuses to start; elsewhere a warning says how to compile them.
    """
    missing = catalogs.missing_catalogs(TRANSLATIONS, app.config["LANGUAGES"])
    if not missing:
        return
    problem = (
        f"no compiled translation catalogue (messages.mo) for {', '.join(missing)} in "
        f"{TRANSLATIONS}; pages would be shown in English"
    )
    if app.config["ENV_NAME"] == "production":
        raise ConfigError(
            f"Refusing to start in production: {problem}. Install a wheel built by "
            "`pip wheel .` (it compiles them) or run `flask --app schiller40 translations "
            "compile`."
        )
    app.logger.warning("%s; run scripts/setup or `flask --app schiller40 translations "
                       "compile`", problem)


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
        set_locale(db.session, user=user, locale=chosen)


# Connected once for every app (Flask-Login sends the app as the sender).
user_logged_in.connect(carry_choice_to_account)
