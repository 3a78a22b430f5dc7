"""Rate limits (Flask-Limiter) on the endpoints that cost a password check, a mail or a
booking, and the log-in lockout that hides whether an address has an account.

TestingConfig switches limits off (other tests log in hundreds of times from one address in
one process); this module switches them on with small limits of its own. Every app gets a
fresh in-memory store, so no test sees another's counts; the Redis tests use a key prefix of
their own.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from flask import Flask

from schiller40 import create_app
from schiller40.extensions import db
from tests.factories import PASSWORD
from tests.helpers import browser, text_of, tr, trn

LIMITS = {
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_LOGIN": "3 per minute",
    "RATELIMIT_REGISTER": "3 per minute",
    "RATELIMIT_PASSWORD_RESET": "3 per minute",
    "RATELIMIT_RESEND_VERIFICATION": "3 per minute",
    "RATELIMIT_API_TOKEN": "3 per minute",
    "RATELIMIT_BOOKING": "3 per minute",
    "LOGIN_LOCKOUT_FAILURES": 3,
    "LOGIN_LOCKOUT_WINDOW_MINUTES": 15,
    "LOGIN_LOCKOUT_MINUTES": 15,
    "LOGIN_LOCKOUT_ACCOUNT_FAILURES": 0,  # the tests of the ceiling switch it on
    "LOGIN_KNOWN_ADDRESS_DAYS": 90,
}
WRONG = "not the password at all"
UNKNOWN = "niemand@example.org"


@pytest.fixture
def app_config() -> dict:
    return dict(LIMITS)


def _limited_page(response) -> None:
    """The friendly German 429 page, with Retry-After."""
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert int(response.headers["Retry-After"]) > 0
    text = text_of(response)
    assert tr("Too many requests") in text
    assert "Zu viele" in text  # German, the default language
    # The page says how long to wait, as the header does.
    seconds = int(response.headers["Retry-After"])
    assert any(
        trn("Wait %(num)d second, then try again.", "Wait %(num)d seconds, then try again.", n)
        in text for n in (seconds, seconds + 1)
    )


def _limited_json(response) -> None:
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    body = response.get_json()
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["message"]
    assert body["error"]["fields"] == {}


# --- HTML endpoints, per client address --------------------------------------------------


def _login(client, n):
    # A different address each time: the per-address limit and the lockout stay out of it.
    return client.post("/login", data={"email": f"guest{n}@example.org", "password": WRONG})


def _register(client, n):
    return client.post("/register", data={"email": "not-an-address", "name": ""})


def _forgot(client, n):
    return client.post("/account/reset", data={"email": f"guest{n}@example.org"})


@pytest.mark.parametrize("send", [_login, _register, _forgot], ids=["login", "register",
                                                                     "password-reset"])
def test_anonymous_form_is_limited_per_client_address(app, place, send):
    client = app.test_client()
    for n in range(3):
        assert send(client, n).status_code != 429
    _limited_page(send(client, 3))
    # Only the POST counts: the form itself still opens.
    assert client.get({_login: "/login", _register: "/register",
                       _forgot: "/account/reset"}[send]).status_code == 200
    # Another client address has its own count.
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert send(other, 4).status_code != 429


def test_resend_verification_is_limited(app, place):
    client = browser(app, place.member)
    for _ in range(3):
        assert client.post("/account/verify/resend").status_code == 302
    _limited_page(client.post("/account/verify/resend"))


def test_html_booking_is_limited(app, place):
    client = browser(app, place.member)
    for _ in range(3):
        assert client.post(f"/resources/{place.room.slug}/book", data={}).status_code != 429
    _limited_page(client.post(f"/resources/{place.room.slug}/book", data={}))
    assert client.get(f"/resources/{place.room.slug}/book").status_code == 200
    # Per account, not per address: the staff member beside her (same address) is not held.
    colleague = browser(app, place.staff)
    assert colleague.post(f"/resources/{place.room.slug}/book", data={}).status_code != 429


def test_the_limited_page_speaks_english_too(app, place):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    for n in range(3):
        _forgot(client, n)
    response = _forgot(client, 3)
    assert response.status_code == 429
    assert "Too many requests" in text_of(response)


def test_trusted_proxy_limits_the_forwarded_client_not_the_proxy(
    database_url, clock, smtp_server
):
    """Behind one trusted proxy every request comes from the proxy; X-Forwarded-For names
    the client, and each client has a count of its own."""
    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": database_url,
                      **smtp_server.config(), **LIMITS, "TRUSTED_PROXIES": 1}, clock=clock)
    try:
        client = app.test_client()
        for n in range(3):
            response = client.post("/account/reset", data={"email": f"g{n}@example.org"},
                                   headers={"X-Forwarded-For": "198.51.100.1"})
            assert response.status_code != 429
        limited = client.post("/account/reset", data={"email": "g@example.org"},
                              headers={"X-Forwarded-For": "198.51.100.1"})
        assert limited.status_code == 429
        other = client.post("/account/reset", data={"email": "g@example.org"},
                            headers={"X-Forwarded-For": "198.51.100.2"})
        assert other.status_code != 429
    finally:
        with app.app_context():
            db.engine.dispose()


# --- API -----------------------------------------------------------------------------------


def test_api_token_creation_is_limited(app, place):
    app.config["LOGIN_LOCKOUT_FAILURES"] = 0
    client = app.test_client()
    for n in range(3):
        response = client.post("/api/v1/tokens",
                               json={"email": f"guest{n}@example.org", "password": WRONG})
        assert response.status_code == 401
    _limited_json(client.post("/api/v1/tokens",
                              json={"email": place.member.email, "password": PASSWORD}))


def test_api_booking_is_limited(app, place):
    client = app.test_client()
    token = client.post("/api/v1/tokens", json={"email": place.member.email,
                                                "password": PASSWORD}).get_json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(3):
        assert client.post("/api/v1/bookings", json={}, headers=auth).status_code == 422
    _limited_json(client.post("/api/v1/bookings", json={}, headers=auth))
    # Reading is not limited.
    assert client.get("/api/v1/bookings", headers=auth).status_code == 200
    # Per account, not per address or token: another member's token from the same address
    # books on; a second token of the same member does not.
    other = client.post("/api/v1/tokens", json={"email": place.staff.email,
                                                "password": PASSWORD}).get_json()["token"]
    assert client.post("/api/v1/bookings", json={},
                       headers={"Authorization": f"Bearer {other}"}).status_code == 422
    again = client.post("/api/v1/tokens", json={"email": place.member.email,
                                                "password": PASSWORD}).get_json()["token"]
    _limited_json(client.post("/api/v1/bookings", json={},
                              headers={"Authorization": f"Bearer {again}"}))


def test_only_a_429_carries_the_limits_retry_after(app, place, monkeypatch):
    """Issue 17: Flask-Limiter put Retry-After on every answer of a limited route: a 201
    said 60, and a 503 said 26-40 s over the app's own 10."""
    from sqlalchemy.exc import OperationalError

    from schiller40.api import bookings as api_bookings
    from schiller40.core import dbfaults
    from tests.helpers import TUE, span

    app.config["RATELIMIT_BOOKING"] = "3 per minute"
    client = app.test_client()
    token = client.post("/api/v1/tokens", json={"email": place.member.email,
                                                "password": PASSWORD})
    assert token.status_code == 201 and "Retry-After" not in token.headers
    auth = {"Authorization": f"Bearer {token.get_json()['token']}"}
    booked = client.post("/api/v1/bookings", headers=auth,
                         json={"resource": place.desks[0].slug, **span(TUE, 8, 13)})
    assert booked.status_code == 201, booked.get_json()
    assert "Retry-After" not in booked.headers

    def database_gone(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"),
                               connection_invalidated=True)

    monkeypatch.setattr(api_bookings, "create_bookings", database_gone)
    unavailable = client.post("/api/v1/bookings", headers=auth,
                              json={"resource": place.desks[1].slug, **span(TUE, 8, 13)})
    assert unavailable.status_code == 503
    assert unavailable.headers["Retry-After"] == str(dbfaults.RETRY_AFTER_SECONDS)
    assert client.post("/api/v1/bookings", headers=auth, json={}).status_code == 422
    limited = client.post("/api/v1/bookings", headers=auth, json={})
    _limited_json(limited)
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


def test_limits_can_be_switched_off(app, place):
    """RATELIMIT_ENABLED is read when an app is built; another app in the same process keeps
    its own switch (Flask-Limiter alone would let the last app built decide for all)."""
    off = create_app({"ENV_NAME": "testing", "DATABASE_URL": app.config["DATABASE_URL"]})
    try:
        client = off.test_client()
        for n in range(10):
            assert _forgot(client, n).status_code == 200
        limited = app.test_client()
        for n in range(3):
            assert _forgot(limited, n).status_code == 200
        assert _forgot(limited, 3).status_code == 429
    finally:
        with off.app_context():
            db.engine.dispose()


# --- the per-address log-in limit and the lockout ----------------------------------------


def _attempt(client, email, password=WRONG):
    return client.post("/login", data={"email": email, "password": password})


def _same(response, email) -> str:
    """The page with the typed address taken out, to compare two addresses' answers."""
    return text_of(response).replace(email, "<email>")


def test_lockout_answers_the_same_for_known_and_unknown_addresses(app, place):
    app.config["RATELIMIT_LOGIN"] = "1000 per minute"
    answers = {}
    for email in (place.member.email, UNKNOWN):
        client = app.test_client()
        seen = []
        for _ in range(3):
            response = _attempt(client, email)
            seen.append((response.status_code, response.headers.get("Retry-After") is not None,
                         _same(response, email)))
        answers[email] = seen
    known, unknown = answers[place.member.email], answers[UNKNOWN]
    assert known == unknown
    assert [status for status, *_ in known] == [422, 422, 429]
    assert tr("E-mail address or password is not correct.") in known[0][2]
    locked = trn(
        "Too many failed log-ins with this e-mail address. Log-in with it is paused for "
        "%(num)d minute. If you have forgotten your password, you can reset it.",
        "Too many failed log-ins with this e-mail address. Log-in with it is paused for "
        "%(num)d minutes. If you have forgotten your password, you can reset it.",
        15,
    )
    assert locked in known[2][2]
    # The lock's own Retry-After, on the app's clock (Flask-Limiter's headers are off).
    locked_again = _attempt(app.test_client(), UNKNOWN)
    assert locked_again.headers["Retry-After"] == str(15 * 60)


def test_the_right_password_is_refused_during_the_lockout(app, place, clock):
    app.config["RATELIMIT_LOGIN"] = "1000 per minute"
    client = app.test_client()
    for _ in range(3):
        _attempt(client, place.member.email)
    clock.advance(timedelta(minutes=14))
    refused = _attempt(client, place.member.email, PASSWORD)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert client.get("/account").status_code in (302, 401)  # not logged in
    # The same answer as an unknown address locked just as long ago.
    for _ in range(3):
        _attempt(client, UNKNOWN)  # locked now, at 14 minutes
    # Once the lock has run out, the right password works again.
    clock.advance(timedelta(minutes=1, seconds=1))
    assert _attempt(client, place.member.email, PASSWORD).status_code == 302


def test_lockout_counts_the_normalised_address(app, place):
    app.config["RATELIMIT_LOGIN"] = "1000 per minute"
    client = app.test_client()
    for email in ("MIA@example.org", " mia@EXAMPLE.org", "mia@example.org"):
        _attempt(client, email)
    assert _attempt(client, "mia@example.org", PASSWORD).status_code == 429
    # Another address is not touched.
    other = app.test_client()
    assert _attempt(other, place.staff.email, PASSWORD).status_code == 302


def test_failures_in_another_window_do_not_add_up(app, place, clock):
    app.config["RATELIMIT_LOGIN"] = "1000 per minute"
    client = app.test_client()
    for _ in range(2):
        _attempt(client, place.member.email)
    clock.advance(timedelta(minutes=16))
    for _ in range(2):
        assert _attempt(client, place.member.email).status_code == 422
    assert _attempt(client, place.member.email, PASSWORD).status_code == 302


def test_a_successful_log_in_starts_the_count_afresh(app, place):
    app.config["RATELIMIT_LOGIN"] = "1000 per minute"
    for _ in range(2):
        _attempt(app.test_client(), place.member.email)
    assert _attempt(app.test_client(), place.member.email, PASSWORD).status_code == 302
    for _ in range(2):
        assert _attempt(app.test_client(), place.member.email).status_code == 422


def _from(app, address: str):
    """A browser at another client address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


ATTACKER, HOME, TRAVEL = "203.0.113.9", "198.51.100.20", "192.0.2.44"


def _token(client, email, password=WRONG):
    return client.post("/api/v1/tokens", json={"email": email, "password": password})


def test_failures_from_elsewhere_do_not_lock_the_owner_out(app, place):
    """Issue 17: ten wrong passwords from anywhere locked the account for everyone."""
    app.config["RATELIMIT_LOGIN"] = "1000 per minute"
    attacker = _from(app, ATTACKER)
    assert [_attempt(attacker, place.member.email).status_code for _ in range(3)] == [
        422, 422, 429]
    assert _attempt(attacker, place.member.email, PASSWORD).status_code == 429
    _limited_json(_token(attacker, place.member.email, PASSWORD))
    # The owner at her own address logs in, through the form and the API.
    assert _attempt(_from(app, HOME), place.member.email, PASSWORD).status_code == 302
    assert _token(_from(app, HOME), place.member.email, PASSWORD).status_code == 201


def test_the_api_lock_holds_only_for_its_client_address(app, place):
    app.config["RATELIMIT_API_TOKEN"] = "1000 per minute"
    attacker = _from(app, ATTACKER)
    assert [_token(attacker, place.member.email).status_code for _ in range(3)] == [
        401, 401, 429]
    assert _token(_from(app, HOME), place.member.email, PASSWORD).status_code == 201
    assert _attempt(_from(app, HOME), place.member.email, PASSWORD).status_code == 302


def test_an_ipv6_client_is_counted_by_its_network(app, place):
    """Changing the last 64 bits (privacy addresses, any host of a /64) is no way around."""
    app.config["RATELIMIT_LOGIN"] = "1000 per minute"
    for n in range(3):
        _attempt(_from(app, f"2001:db8:1:2::{n + 1}"), place.member.email)
    assert _attempt(_from(app, "2001:db8:1:2:ffff::9"), place.member.email,
                    PASSWORD).status_code == 429
    assert _attempt(_from(app, "2001:db8:1:3::1"), place.member.email, PASSWORD
                    ).status_code == 302


def _reset(app, user, new: str, now) -> None:
    """Complete a password reset through the link, as the member would."""
    from schiller40.accounts import links

    token = links.reset_token(user, secret_key=app.config["SECRET_KEY"], now=now)
    response = app.test_client().post(f"/account/reset/{token}", data={
        "new_password": new, "new_password_confirm": new})
    assert response.status_code == 302, text_of(response)


def test_a_completed_password_reset_lifts_the_lock(app, place, clock):
    """Issue 17: after a reset the new password was still refused with 429."""
    app.config["RATELIMIT_LOGIN"] = "1000 per minute"
    for address in (HOME, ATTACKER):
        for _ in range(3):
            _attempt(_from(app, address), place.member.email)
        assert _attempt(_from(app, address), place.member.email, PASSWORD).status_code == 429
    new = "copper-meadow-violin"
    _reset(app, place.member, new, clock())
    for address in (HOME, ATTACKER):
        assert _attempt(_from(app, address), place.member.email, new).status_code == 302
    assert _token(_from(app, ATTACKER), place.member.email, new).status_code == 201
    # Counting starts afresh, and locks again as before.
    attacker = _from(app, ATTACKER)
    assert [_attempt(attacker, place.member.email).status_code for _ in range(3)] == [
        422, 422, 429]


def test_the_epoch_a_reset_starts_outlives_the_locks_made_in_it(app, place, clock):
    """Counts and locks after a reset carry its epoch; had the epoch expired with the
    window (30 minutes), a lock set late in it would have been dropped early."""
    from schiller40.core import ratelimit
    from schiller40.extensions import limiter

    _reset(app, place.member, "copper-meadow-violin", clock())
    with app.test_request_context():
        key = ratelimit._key("epoch", ratelimit._email_key(place.member.email))
        kept = limiter.storage.get_expiry(key) - time.time()
    assert kept > 365 * 86400


def test_failures_from_many_addresses_lock_only_addresses_the_account_does_not_know(
    app, place
):
    """The ceiling across all client addresses slows guessing spread over many; the owner's
    usual address (a log-in within LOGIN_KNOWN_ADDRESS_DAYS) stays open."""
    app.config.update({"RATELIMIT_LOGIN": "1000 per minute",
                       "LOGIN_LOCKOUT_ACCOUNT_FAILURES": 6})
    assert _attempt(_from(app, HOME), place.member.email, PASSWORD).status_code == 302
    for email in (place.member.email, UNKNOWN):
        statuses = [_attempt(_from(app, f"203.0.113.{n // 2}"), email).status_code
                    for n in range(6)]  # two from each address: no pair reaches three
        assert statuses == [422] * 5 + [429], email
        # Locked now for a new address, even with the right password ...
        assert _attempt(_from(app, TRAVEL), email, PASSWORD).status_code == 429
        _limited_json(_token(_from(app, TRAVEL), email, PASSWORD))
    # ... but not where the owner logged in before.
    assert _attempt(_from(app, HOME), place.member.email, PASSWORD).status_code == 302
    assert _token(_from(app, HOME), place.member.email, PASSWORD).status_code == 201


def test_a_known_address_is_forgotten_after_the_configured_days(app, place, clock):
    app.config.update({"RATELIMIT_LOGIN": "1000 per minute",
                       "LOGIN_LOCKOUT_ACCOUNT_FAILURES": 2, "LOGIN_KNOWN_ADDRESS_DAYS": 90})
    assert _attempt(_from(app, HOME), place.member.email, PASSWORD).status_code == 302
    clock.advance(timedelta(days=91))
    for n in range(2):
        _attempt(_from(app, f"203.0.113.{n}"), place.member.email)
    assert _attempt(_from(app, HOME), place.member.email, PASSWORD).status_code == 429


def test_the_api_shares_the_lockout(app, place):
    app.config["RATELIMIT_API_TOKEN"] = "1000 per minute"
    client = app.test_client()
    answers = {}
    for email in (place.member.email, UNKNOWN):
        seen = []
        for _ in range(3):
            response = client.post("/api/v1/tokens", json={"email": email, "password": WRONG})
            seen.append((response.status_code, response.get_json()))
        answers[email] = seen
    assert answers[place.member.email] == answers[UNKNOWN]
    assert [s for s, *_ in answers[UNKNOWN]] == [401, 401, 429]
    _limited_json(client.post("/api/v1/tokens",
                              json={"email": place.member.email, "password": PASSWORD}))
    # The HTML log-in is locked too: one count per address, however it is tried.
    assert _attempt(client, place.member.email, PASSWORD).status_code == 429


def test_a_shorter_lock_ends_and_the_same_failures_lock_again(app, place, clock):
    app.config.update({"RATELIMIT_LOGIN": "1000 per minute", "LOGIN_LOCKOUT_MINUTES": 5,
                       "LOGIN_LOCKOUT_WINDOW_MINUTES": 60})
    client = app.test_client()
    statuses = [_attempt(client, UNKNOWN).status_code for _ in range(3)]
    assert statuses == [422, 422, 429]
    clock.advance(timedelta(minutes=5))
    statuses = [_attempt(client, UNKNOWN).status_code for _ in range(3)]
    assert statuses == [422, 422, 429]


def test_an_unreachable_store_lets_requests_through(database_url, clock, smtp_server, place,
                                                    caplog):
    """Fail open: a Redis outage is logged, and members can still log in (no 500)."""
    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": database_url,
                      **smtp_server.config(), **LIMITS,
                      "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"}, clock=clock)
    try:
        client = app.test_client()
        for n in range(5):
            assert _forgot(client, n).status_code == 200
        assert _attempt(client, place.member.email, PASSWORD).status_code == 302
        assert "lockout storage failed" in caplog.text
    finally:
        with app.app_context():
            db.engine.dispose()


# --- Redis: the store several app servers share --------------------------------------------

@pytest.fixture
def redis_apps(database_url, clock, smtp_server, redis_url, redis_prefix):
    """Two apps ("two app servers") sharing Redis, with a key prefix of this test's own."""
    config = {"ENV_NAME": "testing", "DATABASE_URL": database_url, **smtp_server.config(),
              **LIMITS, "RATELIMIT_STORAGE_URI": redis_url, "RATELIMIT_KEY_PREFIX": redis_prefix}
    apps = [create_app(config, clock=clock), create_app(config, clock=clock)]
    yield apps
    for each in apps:
        with each.app_context():
            db.engine.dispose()


def test_redis_counts_are_shared_between_app_servers(redis_apps: list[Flask], place):
    first, second = (each.test_client() for each in redis_apps)
    assert _forgot(first, 0).status_code == 200
    assert _forgot(second, 1).status_code == 200
    assert _forgot(first, 2).status_code == 200
    _limited_page(_forgot(second, 3))


def test_redis_lockout_is_shared_between_app_servers(redis_apps: list[Flask], place):
    for each in redis_apps:
        each.config["RATELIMIT_LOGIN"] = "1000 per minute"
    first, second = (each.test_client() for each in redis_apps)
    assert _attempt(first, place.member.email).status_code == 422
    assert _attempt(second, place.member.email).status_code == 422
    assert _attempt(first, place.member.email).status_code == 429
    assert _attempt(second, place.member.email, PASSWORD).status_code == 429


def test_redis_pair_locks_and_a_reset_are_shared_between_app_servers(
    redis_apps: list[Flask], place, clock
):
    for each in redis_apps:
        each.config.update({"RATELIMIT_LOGIN": "1000 per minute",
                            "LOGIN_LOCKOUT_ACCOUNT_FAILURES": 100})
    first, second = redis_apps
    for _ in range(3):
        _attempt(_from(first, ATTACKER), place.member.email)
    assert _attempt(_from(second, ATTACKER), place.member.email, PASSWORD).status_code == 429
    assert _attempt(_from(second, HOME), place.member.email, PASSWORD).status_code == 302
    new = "copper-meadow-violin"
    _reset(first, place.member, new, clock())
    assert _attempt(_from(second, ATTACKER), place.member.email, new).status_code == 302
