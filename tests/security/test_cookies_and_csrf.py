"""Cookies with the right flags in development and production, and CSRF on every form route.

Cookies: each app walks the flows that set cookies (the log-in page, log-in with "stay
logged in", the language switch, deleting the account) and reads the real Set-Cookie headers:
every cookie is HttpOnly and SameSite=Lax, and Secure exactly in production (a Secure cookie
is dropped by the browser on http://127.0.0.1, where development runs). The production app
is configured as test_config.py configures one (PostgreSQL, SMTP, Stripe keys, an https
PUBLIC_URL, Redis for the limits) and is used over https; its answers carry HSTS.

CSRF: every state-changing route outside /api/ and /webhooks/, taken from the app's URL map
(so a new route is covered the day it is added), is called by a signed-in administrator
without a token and with another browser's token: each answer is 400 from Flask-WTF's check,
with the security headers, and no table changes. The API takes no CSRF token because it takes
no cookie: test_authz_matrix.py calls every token-protected API route with the session cookie
alone and expects 401. That every POST form carries its token is checked on every page of the
sweep in test_headers_and_secrets.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from schiller40 import create_app
from schiller40.core.time import FrozenClock
from schiller40.extensions import db
from tests import mailbox
from tests.conftest import IsolatedClient
from tests.factories import PASSWORD, Factory
from tests.helpers import log_in

from .checks import (
    CSRF_FIELD,
    SetCookie,
    csrf_token_in,
    header_problems,
    post_form,
    set_cookies,
)
from .test_authz_matrix import MATRIX, build_scene, dev_mail_config, route_rules, snapshot

CHANGING = ("POST", "PUT", "PATCH", "DELETE")
# Every cookie the app sets. A new one fails the cookie tests until it is added here, after
# a look at its flags.
APP_COOKIES = {"session", "remember_token", "lang"}
LONG_KEY = "k" * 24 + "-not-a-real-secret-0123456789"


@pytest.fixture
def app_config(tmp_path: Path) -> dict:
    return {**dev_mail_config(tmp_path), "WTF_CSRF_ENABLED": True}


# --- cookies ---------------------------------------------------------------------------------


AppMaker = Callable[[dict[str, Any]], Flask]


@pytest.fixture
def make_app(database_url: str, clock: FrozenClock,
             smtp_server: mailbox.SmtpServer) -> Iterator[AppMaker]:
    """Apps of other environments on the test database; disposed of afterwards."""
    made: list[Flask] = []

    def make(config: dict[str, Any]) -> Flask:
        other = create_app({"DATABASE_URL": database_url, **smtp_server.config(),
                            "AUTO_MIGRATE": False, "WORKER_EMBEDDED": False, **config},
                           clock=clock)
        other.test_client_class = IsolatedClient
        made.append(other)
        return other

    yield make
    for each in made:
        with each.app_context():
            db.engine.dispose()


def walk_cookie_flows(app: Flask, factory: Factory, base_url: str,
                      production: bool) -> tuple[list[SetCookie], list[str]]:
    """Every flow that sets a cookie, as a browser; the cookies set, and any answer whose
    security headers are wrong."""
    member = factory.user(email="cookie@example.org")
    db.session.commit()
    browser = app.test_client()
    answers: list[TestResponse] = [browser.get("/login", base_url=base_url)]
    answers.append(log_in(browser, member.email, PASSWORD, remember=True, base_url=base_url,
                          csrf=True))
    answers.append(post_form(browser, "/language", {"lang": "en"}, base_url=base_url))
    answers.append(post_form(browser, "/account/delete", {"password": PASSWORD},
                             base_url=base_url, page="/account/delete"))
    assert [r.status_code for r in answers] == [200, 302, 302, 302]
    cookies = [c for r in answers for c in set_cookies(r)]
    problems = [p for r in answers for p in header_problems(r, production=production)]
    return cookies, problems


def cookie_problems(cookies: list[SetCookie], *, secure: bool) -> list[str]:
    problems = [p for c in cookies if not c.deletes for p in c.problems(secure=secure)]
    names = {c.name for c in cookies}
    if names != APP_COOKIES:
        problems.append(f"cookies set: {sorted(names)}, expected {sorted(APP_COOKIES)}")
    return problems


def test_development_cookies_are_httponly_and_lax_but_not_secure(
    make_app: AppMaker, factory: Factory
) -> None:
    """Development runs on http://127.0.0.1: a Secure cookie would never come back."""
    development = make_app({"ENV_NAME": "development", "SECRET_KEY": LONG_KEY})
    cookies, problems = walk_cookie_flows(development, factory, "http://localhost", False)
    problems += cookie_problems(cookies, secure=False)
    assert not problems, "\n".join(problems)


@pytest.mark.postgresql_only  # production refuses to start on SQLite
def test_production_cookies_are_secure_httponly_and_lax(
    make_app: AppMaker, factory: Factory, redis_url: str, redis_prefix: str
) -> None:
    production = make_app({
        "ENV_NAME": "production", "SECRET_KEY": LONG_KEY,
        "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_PUBLISHABLE_KEY": "pk_live_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x", "STRIPE_API_BASE": "http://127.0.0.1:1",
        "PUBLIC_URL": "https://booking.schiller40.example",
        "RATELIMIT_STORAGE_URI": redis_url, "RATELIMIT_KEY_PREFIX": redis_prefix,
    })
    assert production.config["SESSION_COOKIE_SECURE"] and not production.testing
    cookies, problems = walk_cookie_flows(production, factory, "https://localhost", True)
    problems += cookie_problems(cookies, secure=True)
    assert not problems, "\n".join(problems)


# --- CSRF ------------------------------------------------------------------------------------


def form_routes(app: Flask) -> list[tuple[str, str, Any]]:
    """(endpoint, method, rule) of every state-changing route that is not the API or a
    webhook: the routes a browser's cookie authenticates, so a forged form could call them."""
    return sorted(
        (endpoint, method, rule) for (endpoint, method), rule in route_rules(app).items()
        if method in CHANGING and not rule.rule.startswith(("/api/", "/webhooks/"))
    )


def test_every_form_route_refuses_a_request_without_this_sessions_token(
    app: Flask, client: FlaskClient, place: Any, factory: Factory, clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No token, or a valid token of another browser (what a forging site could obtain):
    400, refused by the CSRF check itself (its log line says so), nothing changed."""
    caplog.set_level(logging.INFO, logger="flask_wtf.csrf")
    scene, users = build_scene(app, client, place, factory, clock)
    admin = app.test_client()
    log_in(admin, users["admin"].email, PASSWORD, csrf=True)
    foreign = csrf_token_in(app.test_client().get("/login"))
    routes = form_routes(app)
    assert {(e, m) for e, m, _r in routes} <= MATRIX.keys()  # the scene can fill in their URLs
    before = snapshot()
    problems = []
    for endpoint, method, rule in routes:
        url = scene.url(app, rule)
        for label, data in (("no token", {}), ("another browser's token", {CSRF_FIELD: foreign})):
            caplog.clear()
            response = admin.open(url, method=method, data=data)
            where = f"{method} {url} ({endpoint}) with {label}"
            if response.status_code != 400 or not any(
                r.name == "flask_wtf.csrf" for r in caplog.records
            ):
                problems.append(f"{where}: {response.status_code}, not refused by the CSRF check")
            problems += [f"{where}: {p}" for p in header_problems(response)]
            if snapshot() != before:
                problems.append(f"{where}: the database changed")
                before = snapshot()
    assert not problems, "\n".join(problems)
    assert len(routes) > 40
    # The control: the same browser with its own token gets past the check.
    own = post_form(admin, "/language", {"lang": "en"})
    assert own.status_code == 302
