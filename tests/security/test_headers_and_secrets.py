"""Security headers on every answer, pages that need no inline code, and secrets at rest.

The sweep walks every GET route of the authorization matrix (its table, its scene, its URL
building) as a visitor, a member, staff and an administrator, with CSRF protection on as in
production, and checks each answer: a Content-Security-Policy whose script-src and style-src
allow no inline code (the policy has neither, so both fall back to ``default-src 'self'``),
``frame-ancestors 'none'``, ``X-Content-Type-Options: nosniff``, a Referrer-Policy that
never sends a path to another site, and no HSTS outside production. Every HTML page is
parsed: a policy without inline scripts only holds if the pages need none, so no inline
``<script>``, no ``on*=`` handler, no ``javascript:`` URL, no inline style, and every POST
form carries the CSRF token. Error answers (404, 405, 413, 429, 500, the API's JSON errors,
the feed's plain 404) get the same headers. test_cookies_and_csrf.py covers the CSRF
refusals (their 400 pages included) and the cookies, with HSTS in production.

At rest: after the real flows (registration with its confirmation mail, a password reset
mail, an API token, calendar feeds) no table holds the password, the API token, a feed URL's
secret or a mailed link's token, and each of them with one character changed is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from schiller40 import create_app
from schiller40.accounts import tokens as api_tokens
from schiller40.core.time import FrozenClock
from schiller40.extensions import db
from tests import mailbox
from tests.factories import PASSWORD, Factory
from tests.helpers import log_in, mail_link
from tests.mail.helpers import run_tick

from .checks import header_problems, markup_problems, post_form
from .test_authz_matrix import (
    MATRIX,
    OUTSIDE,
    _token,
    build_scene,
    dev_mail_config,
    order,
    route_rules,
)
from .test_rate_limits import LIMITS

SWEEP_ROLES = ("anonymous", "member", "staff", "admin")  # "other" renders nothing new


@pytest.fixture
def app_config(tmp_path: Path) -> dict:
    """The matrix's settings with CSRF protection on: the forms must render their tokens.
    Unhandled errors become the 500 page, as in production, instead of reaching the test."""
    return {**dev_mail_config(tmp_path), "WTF_CSRF_ENABLED": True,
            "PROPAGATE_EXCEPTIONS": False}


def check(label: str, response: TestResponse) -> tuple[list[str], int, int]:
    """Problems of one answer (headers; markup for HTML), the POST forms it has, and
    whether it was a rendered page (1) or not (0)."""
    problems = [f"{label}: {p}" for p in header_problems(response)]
    forms = rendered = 0
    if response.mimetype == "text/html":
        found, forms = markup_problems(response.get_data(as_text=True))
        problems += [f"{label}: {p}" for p in found]
        rendered = int(response.status_code == 200)
    return problems, forms, rendered


def test_every_get_route_has_the_headers_and_its_page_no_inline_code(
    app: Flask, client: FlaskClient, place: Any, factory: Factory, clock: FrozenClock
) -> None:
    """Each role walks every GET row of the matrix in a browser of its own (the matrix's
    scene, built once), with the role's bearer token on the API."""
    scene, users = build_scene(app, client, place, factory, clock)
    rules = route_rules(app)
    gets = sorted((key for key in MATRIX if key[1] == "GET"), key=order)
    problems: list[str] = []
    answers = pages = forms = 0
    kinds: set[str] = set()
    for role in SWEEP_ROLES:
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = OUTSIDE
        bearer = {}
        if role != "anonymous":
            user = users[role]
            log_in(browser, user.email, PASSWORD, csrf=True)
            bearer = {"Authorization": f"Bearer {_token(browser, user)}"}
        for endpoint, _method in gets:
            url = scene.url(app, rules[(endpoint, "GET")])
            response = browser.get(url, headers=bearer if endpoint.startswith("api_v1.") else {})
            label = f"{role} GET {url} ({endpoint})"
            found, n_forms, rendered = check(label, response)
            problems += found
            if response.status_code >= 500:
                problems.append(f"{label}: status {response.status_code}")
            answers, forms, pages = answers + 1, forms + n_forms, pages + rendered
            kinds.add(response.mimetype)
    assert not problems, "\n".join(problems)
    assert answers == len(gets) * len(SWEEP_ROLES)
    # Not vacuous: pages were rendered and had forms; feeds and JSON were among the answers.
    assert pages > len(gets) and forms > 3 * pages, (pages, forms)
    assert {"text/html", "text/calendar", "application/json", "image/svg+xml"} <= kinds


@pytest.fixture
def failing_views(app: Flask) -> Flask:
    """A view that fails unexpectedly, as an HTML page and under /api/ (before any request:
    Flask takes no new routes after the first)."""

    def boom() -> str:
        raise RuntimeError("unexpected")

    def gone() -> str:
        abort(410)

    for prefix in ("/test", "/api/test"):
        app.add_url_rule(f"{prefix}/boom", f"{prefix}-boom", boom)
        app.add_url_rule(f"{prefix}/gone", f"{prefix}-gone", gone)
    return app


@pytest.fixture
def limited_app(database_url: str, clock: FrozenClock,
                smtp_server: mailbox.SmtpServer) -> Iterator[Flask]:
    """An app with the rate-limit tests' small limits, to see the 429 answers."""
    limited = create_app({"ENV_NAME": "testing", "DATABASE_URL": database_url,
                          **smtp_server.config(), **LIMITS}, clock=clock)
    yield limited
    with limited.app_context():
        db.engine.dispose()


def test_error_answers_have_the_headers_too(
    failing_views: Flask, client: FlaskClient, place: Any, limited_app: Flask
) -> None:
    """Error pages are pages: framed or sniffed, they are as exploitable as any other."""
    member = {"email": place.member.email, "password": "wrong password"}
    answers = {
        "404 page": client.get("/no/such/page"),
        "404 API": client.get("/api/v1/no-such-thing"),
        "404 feed": client.get("/feeds/1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics"),
        "405 page": client.get("/logout"),
        "405 API": client.put("/api/v1/tokens"),
        "401 API": client.get("/api/v1/bookings"),
        "410 page": client.get("/test/gone"),
        "410 API": client.get("/api/test/gone"),
        "413 page": post_form(client, "/login", {"email": "x" * (2 * 1024 * 1024)},
                              page="/login"),
        "413 API": client.post("/api/v1/tokens", data="x" * (2 * 1024 * 1024),
                               content_type="application/json"),
        "500 page": client.get("/test/boom"),
        "500 API": client.get("/api/test/boom"),
    }
    limited = limited_app.test_client()
    for _ in range(4):
        answers["429 page"] = limited.post("/login", data=member)
        answers["429 API"] = limited.post("/api/v1/tokens", json=member)
    problems = []
    for label, response in answers.items():
        expected = int(label.split()[0])
        if response.status_code != expected:
            problems.append(f"{label}: status {response.status_code}")
        problems += check(label, response)[0]
        if "API" in label and response.mimetype != "application/json":
            problems.append(f"{label}: {response.mimetype}, not the API's JSON error")
    assert not problems, "\n".join(problems)


# --- secrets at rest -------------------------------------------------------------------------

NEW_PASSWORD = "quartz-lantern-harbour-4711"  # the registration's password


def dump_every_table() -> str:
    """Every value of every row of every table as text: what a leaked backup shows."""
    db.session.commit()
    values = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)):
            values += [str(v) for v in row]
    db.session.rollback()
    return "\n".join(values)


def tampered(secret: str) -> str:
    """``secret`` with its last character changed so that the decoded bytes change too (in
    base64 the low bits of the last character may be padding that decoders ignore)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return secret[:-1] + alphabet[(alphabet.index(secret[-1]) + 32) % 64]


# The mails go to the test SMTP server here (not the matrix's mail folder).
@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}], ids=["smtp"])
def test_a_database_dump_holds_no_usable_secret(
    app: Flask, client: FlaskClient, clock: FrozenClock, inbox: mailbox.Inbox, factory: Factory
) -> None:
    """The password, API token, feed URL and mailed links exist only with the member (and,
    for links and feed URLs, as a MAC under SECRET_KEY); the database keeps a hash, a
    digest or a salt. Each secret works, and with its last character changed it does not:
    feed URLs and links are compared with hmac.compare_digest, API tokens are looked up by
    their SHA-256 digest (an attacker does not control the digest, so timing tells nothing)."""
    factory.location()
    email = "nora@example.org"
    registered = post_form(client, "/register", {
        "name": "Nora Neu", "email": email, "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    }, page="/register")
    assert registered.status_code == 302, registered.get_data(as_text=True)[:500]
    # Registering does not log in (it answers alike for taken addresses): log in.
    assert post_form(client, "/login", {"email": email, "password": NEW_PASSWORD},
                     page="/login").status_code == 302
    run_tick(clock)
    verify = mail_link(inbox.only(), "/account/verify/")
    inbox.clear()
    stranger = app.test_client()
    assert post_form(stranger, "/account/reset", {"email": email}).status_code == 200
    run_tick(clock)
    reset = mail_link(inbox.only(), "/account/reset/")
    token_answer = client.post("/api/v1/tokens", json={"email": email, "password": NEW_PASSWORD})
    assert token_answer.status_code == 201
    token = token_answer.get_json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    feeds = client.get("/api/v1/feeds", headers=bearer).get_json()["feeds"]
    feed_paths = [urlsplit(f["url"]).path for f in feeds]
    assert feed_paths and client.get("/account").status_code == 200  # the page shows them too

    secrets = {
        "password": NEW_PASSWORD, "API token": token,
        "confirmation link": verify.rsplit("/", 1)[1], "reset link": reset.rsplit("/", 1)[1],
    }
    for path in feed_paths:
        secrets[f"feed URL {path}"] = path.removesuffix(".ics").split(".", 1)[1]
    dump = dump_every_table()
    assert email in dump and api_tokens.digest(token) in dump  # the dump sees those rows
    leaked = sorted(name for name, value in secrets.items() if value in dump)
    assert not leaked, f"in the database in plain text: {leaked}"

    for path in feed_paths:
        stem = path.removesuffix(".ics")
        assert client.get(path).status_code == 200
        assert client.get(f"{tampered(stem)}.ics").status_code == 404
    assert client.get("/api/v1/bookings", headers=bearer).status_code == 200
    wrong = {"Authorization": f"Bearer {tampered(token)}"}
    assert client.get("/api/v1/bookings", headers=wrong).status_code == 401
    assert stranger.get(tampered(reset)).status_code == 400
    assert stranger.get(reset).status_code == 200
    assert stranger.get(tampered(verify)).status_code == 400
    assert stranger.get(verify).status_code == 200
