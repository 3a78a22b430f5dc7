"""Every error becomes a friendly page for people or a stable JSON body for programs."""

from __future__ import annotations

import logging
import re

import pytest
from flask import abort
from sqlalchemy import text
from werkzeug.exceptions import TooManyRequests

from schiller40.errors import Conflict, InvalidInput, NotEntitled
from schiller40.extensions import db
from schiller40.models import User

from .helpers import log_in
from .html import page

SECRET_DETAIL = "kaboom-internal-detail-4711"


@pytest.fixture
def app_config():
    # TESTING makes Flask re-raise unhandled exceptions into the test; production does not.
    return {"PROPAGATE_EXCEPTIONS": False}


@pytest.fixture
def routes(app):
    """Test-only views that fail in the ways real ones will."""

    def boom():
        raise RuntimeError(SECRET_DETAIL)

    def conflict():
        raise Conflict("Desk A01 is taken.", fields={"resource": ["Desk A01 is taken."]},
                       extra={"alternatives": [2, 3]})

    def invalid():
        raise InvalidInput(fields={"starts_at": ["Use ISO 8601."]})

    def forbidden():
        abort(403)

    def not_entitled():
        raise NotEntitled()

    def rate_limited():
        raise TooManyRequests(retry_after=30)

    def broken_transaction():
        """A logged-in member's request whose flush fails (say, a constraint the code missed).

        The session is left needing a rollback; the error page still has to render."""
        db.session.add(User(email="UPPER@EXAMPLE.ORG", name="x", password_hash="x",
                            created_at=app.extensions["schiller40.clock"]()))
        db.session.flush()
        return "unreachable"

    def broken_sql():
        db.session.execute(text("SELECT * FROM no_such_table"))
        return "unreachable"

    for prefix in ("/test", "/api/test"):
        app.add_url_rule(f"{prefix}/boom", f"{prefix}-boom", boom)
        app.add_url_rule(f"{prefix}/conflict", f"{prefix}-conflict", conflict)
        app.add_url_rule(f"{prefix}/invalid", f"{prefix}-invalid", invalid)
        app.add_url_rule(f"{prefix}/forbidden", f"{prefix}-forbidden", forbidden)
        app.add_url_rule(f"{prefix}/not-entitled", f"{prefix}-not-entitled", not_entitled)
        app.add_url_rule(f"{prefix}/rate-limited", f"{prefix}-rate-limited", rate_limited)
    app.add_url_rule("/test/broken-transaction", "broken-transaction", broken_transaction)
    app.add_url_rule("/test/broken-sql", "broken-sql", broken_sql)
    return app


# --- 404 -------------------------------------------------------------------------------------


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = page(response)
    assert html.find_all("h1")
    assert html.find_all("a", href="/"), "no link back to the start page"
    assert html.find_all("a", href="/resources")
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/api/no/such/thing", "/api/", "/webhooks/unknown"])
def test_unknown_api_url_is_json(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "fields"}
    assert error["code"] == "not_found"
    assert error["message"]
    assert error["fields"] == {}


def test_a_client_that_accepts_only_json_gets_json(client):
    response = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_a_browser_gets_html_even_if_it_also_accepts_json(client):
    response = client.get(
        "/no/such/page", headers={"Accept": "text/html,application/json;q=0.9,*/*;q=0.8"}
    )
    assert response.mimetype == "text/html"


# --- domain errors and other HTTP errors -----------------------------------------------------


def test_domain_error_as_json_keeps_code_fields_and_extras(client, routes):
    response = client.get("/api/test/conflict")
    assert response.status_code == 409
    assert response.get_json() == {"error": {
        "code": "conflict", "message": "Desk A01 is taken.",
        "fields": {"resource": ["Desk A01 is taken."]}, "alternatives": [2, 3],
    }}
    invalid = client.get("/api/test/invalid")
    assert invalid.status_code == 422
    assert invalid.get_json()["error"]["code"] == "invalid"
    assert invalid.get_json()["error"]["fields"] == {"starts_at": ["Use ISO 8601."]}


def test_domain_error_as_html_shows_the_message(client, routes):
    response = client.get("/test/conflict")
    assert response.status_code == 409
    assert response.mimetype == "text/html"
    assert "Desk A01 is taken." in page(response).text


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/test/forbidden", 403, "forbidden"), ("/api/test/forbidden", 403, "forbidden"),
])
def test_http_errors_keep_their_status(client, routes, path, status, code):
    response = client.get(path)
    assert response.status_code == status
    if path.startswith("/api/"):
        assert response.get_json()["error"]["code"] == code
    else:
        assert page(response).find_all("a", href="/")


def test_wrong_method_is_405_with_allow(client):
    response = client.get("/logout")
    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert "POST" in response.headers["Allow"]
    assert page(response).find_all("a", href="/")


def test_wrong_method_under_api_is_json_405(client, routes):
    response = client.post("/api/test/boom")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_body_larger_than_the_limit_is_413(client, app, factory):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post(
        "/register", data={"name": "x" * (limit + 1), "email": "a@example.org"}
    )
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert factory.count(User) == 0


def test_body_just_under_the_limit_is_read(client, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/register", data={"name": "x" * (limit - 1000)})
    assert response.status_code == 422  # read and validated (the name is too long)


# --- 500 -------------------------------------------------------------------------------------


def test_unexpected_error_is_a_500_page_with_the_request_id(client, routes, caplog):
    with caplog.at_level(logging.ERROR, logger="schiller40.errors"):
        response = client.get("/test/boom")
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{16}", request_id)
    (reference,) = page(response).find_all("code")
    assert reference.text == request_id
    assert SECRET_DETAIL not in body
    assert "Traceback" not in body
    assert "RuntimeError" not in body
    assert page(response).find_all("a", href="/")

    (record,) = [r for r in caplog.records if r.name == "schiller40.errors"]
    assert record.levelno == logging.ERROR
    assert request_id in record.getMessage()
    assert "GET /test/boom" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError  # the traceback goes to the log, not the page


def test_unexpected_error_under_api_is_json_with_the_request_id(client, routes):
    response = client.get("/api/test/boom", headers={"X-Request-ID": "client-chosen-id-1"})
    assert response.status_code == 500
    error = response.get_json()["error"]
    assert error["code"] == "internal"
    assert error["request_id"] == "client-chosen-id-1"
    assert SECRET_DETAIL not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/test/broken-transaction", "/test/broken-sql"])
def test_500_page_renders_for_a_logged_in_member_after_a_database_error(
    client, factory, routes, path
):
    """The error page needs the current user; loading it must not fail on the broken
    transaction (which would turn our page into the server's bare error)."""
    log_in(client, factory.user())
    response = client.get(path)
    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    (reference,) = page(response).find_all("code")
    assert reference.text == request_id
    # The broken request wrote nothing, and the next request works normally.
    assert factory.count(User) == 1
    assert client.get("/account/password").status_code == 200


def test_500_falls_back_to_a_bare_page_if_the_error_page_fails(client, routes, monkeypatch):
    import schiller40.errors

    def broken_template(*args, **kwargs):
        raise RuntimeError("the template is broken too")

    monkeypatch.setattr(schiller40.errors, "render_template", broken_template)
    response = client.get("/test/boom", headers={"X-Request-ID": "<b>not-an-id</b>"})
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    request_id = response.headers["X-Request-ID"]
    (reference,) = page(response).find_all("code")
    assert reference.text == request_id
    assert SECRET_DETAIL not in response.get_data(as_text=True)


# --- request ids and headers -----------------------------------------------------------------


@pytest.mark.parametrize("incoming", ["abc-123_XYZ.42", "a" * 64, "0123456789abcdef"])
def test_a_valid_incoming_request_id_is_reused(client, routes, incoming):
    response = client.get("/test/boom", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming
    assert page(response).find_all("code")[0].text == incoming


@pytest.mark.parametrize(
    "incoming", ["short", "a" * 65, "has space 123", "<script>alert(1)</script>", "ümlaut-123456",
                 "semi;colon-123"],
)
def test_a_malformed_incoming_request_id_is_replaced(client, routes, incoming):
    response = client.get("/test/boom", headers={"X-Request-ID": incoming})
    replaced = response.headers["X-Request-ID"]
    assert replaced != incoming
    assert re.fullmatch(r"[0-9a-f]{16}", replaced)
    assert incoming not in response.get_data(as_text=True)


def test_every_response_has_a_fresh_request_id(client):
    first = client.get("/").headers["X-Request-ID"]
    second = client.get("/").headers["X-Request-ID"]
    assert first != second


@pytest.mark.parametrize("path", ["/", "/login", "/no/such/page", "/api/nothing"])
def test_security_headers(client, path):
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    csp = [part.strip() for part in response.headers["Content-Security-Policy"].split(";")]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp


def test_security_headers_on_a_500(client, routes):
    response = client.get("/test/boom")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


# --- friendly pages in both languages --------------------------------------------------------

# (path, status, German heading, English heading): each page names the problem in the
# reader's language, says what happened and what to do next, and links back.
FRIENDLY = [
    ("/test/forbidden", 403, "Zugriff nicht erlaubt", "Access not allowed"),
    ("/test/not-entitled", 403, "Zugriff nicht erlaubt", "Access not allowed"),
    ("/no/such/page", 404, "Seite nicht gefunden", "Page not found"),
    ("/test/conflict", 409, "Das ist nicht mehr möglich", "That is no longer possible"),
    ("/test/rate-limited", 429, "Zu viele Anfragen", "Too many requests"),
    ("/test/boom", 500, "Bei uns ist ein Fehler aufgetreten", "Something went wrong on our side"),
    ("/logout", 405, "Das hat leider nicht funktioniert", "That did not work"),
]
NEXT_STEPS = {"de": "Was Sie tun können", "en": "What you can do"}


@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.parametrize(("path", "status", "german", "english"), FRIENDLY,
                         ids=[f"{s}-{p}" for p, s, *_ in FRIENDLY])
def test_friendly_error_page_in_both_languages(
    client, routes, lang, path, status, german, english
):
    response = client.get(path, headers={"Accept-Language": lang})
    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = page(response)
    assert html.find_all("html")[0].attrs["lang"] == lang
    heading = german if lang == "de" else english
    (h1,) = html.find_all("h1")
    assert h1.text == heading
    assert html.find_all("title")[0].text.startswith(heading)
    # The status as text (not only a colour or an icon), then what to do next.
    code = "Fehler" if lang == "de" else "Error"
    assert html.find_all("p", **{"class": "error-code"})[0].text == f"{code} {status}"
    assert any(h.text == NEXT_STEPS[lang] for h in html.find_all("h2"))
    (steps,) = html.find_all("ul", **{"class": "error-next"})
    assert steps.text
    assert html.find_all("a", href="/"), "no link back to the start page"
    assert html.find_all("a", href="/resources")
    other = english if lang == "de" else german
    assert other not in html.text
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and SECRET_DETAIL not in body


def test_the_403_page_says_why_and_offers_log_in_to_visitors(client, routes):
    html = page(client.get("/test/not-entitled", headers={"Accept-Language": "en"}))
    assert "Your membership does not allow this." in html.text
    assert html.find_all("a", href="/login")
    assert html.find_all("a", href="/register")


def test_the_403_page_points_members_to_the_team(client, factory, routes):
    log_in(client, factory.user())
    html = page(client.get("/test/forbidden"))
    assert "Empfang" in html.text  # ask the team at the front desk
    assert not html.find_all("a", href="/login")
    assert html.find_all("a", href="/bookings")


def test_the_409_page_shows_the_conflict_and_what_was_not_changed(client, routes):
    german = page(client.get("/test/conflict"))
    assert "Desk A01 is taken." in german.text
    assert "Es wurde nichts geändert." in german.text
    english = page(client.get("/test/conflict", headers={"Accept-Language": "en"}))
    assert "Nothing was changed." in english.text


def test_the_429_page_says_how_long_to_wait(client, routes):
    response = client.get("/test/rate-limited", headers={"Accept-Language": "en"})
    assert response.headers["Retry-After"] == "30"
    assert "Wait 30 seconds, then try again." in page(response).text
    german = client.get("/test/rate-limited")
    assert "Warten Sie 30 Sekunden" in page(german).text


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_500_page_shows_the_reference_in_both_languages(client, routes, lang):
    response = client.get("/test/boom", headers={"Accept-Language": lang})
    (reference,) = page(response).find_all("code")
    assert reference.text == response.headers["X-Request-ID"]
    quote = "nennen Sie diese Referenz" if lang == "de" else "quote this reference"
    assert quote in page(response).text


def test_a_link_back_to_the_page_the_reader_came_from(client, routes):
    html = page(client.get("/test/conflict", headers={"Referer": "http://localhost/resources?x=1"}))
    assert html.find_all("a", href="/resources?x=1")


@pytest.mark.parametrize("referrer", [
    "https://evil.example/phish", "http://localhost//evil.example", "javascript:alert(1)",
    "http://localhost/test/conflict",  # the failing page itself is no way back
])
def test_no_link_back_to_another_site_or_the_same_page(client, routes, referrer):
    html = page(client.get("/test/conflict", headers={"Referer": referrer}))
    labels = [a.text for a in html.find_all("a")]
    assert "Zurück zur vorigen Seite" not in labels
    assert not [a for a in html.find_all("a") if "evil" in (a.attrs.get("href") or "")]


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/api/test/forbidden", 403, "forbidden"),
    ("/api/test/not-entitled", 403, "not_entitled"),
    ("/api/no/such/page", 404, "not_found"),
    ("/api/test/conflict", 409, "conflict"),
    ("/api/test/rate-limited", 429, "rate_limited"),
    ("/api/test/boom", 500, "internal"),
])
@pytest.mark.parametrize("lang", ["de", "en"])
def test_json_requests_still_get_the_json_error_body(client, routes, path, status, code, lang):
    response = client.get(path, headers={"Accept-Language": lang})
    assert response.status_code == status
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert "fields" in error
