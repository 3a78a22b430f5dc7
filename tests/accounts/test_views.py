"""Registration, log-in, log-out and password change through HTTP, as a browser uses them."""

from __future__ import annotations

import re
from functools import partial
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from schiller40.core.audit import AuditEntry
from schiller40.extensions import db
from schiller40.models import User

from ..factories import PASSWORD
from ..helpers import log_in
from ..html import page

GOOD = "blue tram to the Markthalle"
REGISTRATION = {
    "name": "Anna Schmidt",
    "email": "anna.schmidt@example.org",
    "password": GOOD,
    "password_confirm": GOOD,
}


@pytest.fixture
def member(factory):
    """Make members who read English (an account's language beats the browser's)."""

    def make(**kw):
        return factory.user(**{"locale": "en", **kw})

    return make


# The log-in form as a visitor sends it, whatever it answers: these tests check the answer.
login = partial(log_in, expect=None)


def is_logged_in(client) -> bool:
    response = client.get("/account/password")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def assert_field_error(response, field: str, message: str) -> None:
    """The message is listed beside ``field`` and tied to its input for screen readers."""
    html = page(response)
    errors = html.by_id(f"{field}-error")
    assert errors is not None, f"no #{field}-error on the page"
    assert errors.tag == "ul"
    assert message in errors.text
    control = html.by_id(field)
    assert control is not None
    assert control.attrs.get("aria-invalid") == "true"
    assert f"{field}-error" in (control.attrs.get("aria-describedby") or "").split()


def invalid_fields(response) -> set[str]:
    return {
        e.attrs["id"] or "" for e in page(response).elements
        if e.attrs.get("aria-invalid") == "true"
    }


# --- pages render ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fields"),
    [
        ("/register", ["name", "email", "password", "password_confirm"]),
        ("/login", ["email", "password", "remember"]),
    ],
)
def test_form_pages_render(client, url, fields):
    response = client.get(url)
    assert response.status_code == 200
    html = page(response)
    for name in fields:
        control = html.by_id(name)
        assert control is not None, name
        assert control.attrs.get("aria-invalid") is None
        labels = html.find_all("label", **{"for": name})
        assert labels or name == "remember", f"{name} has no label"
    assert html.by_id("email").attrs.get("type") == "email"
    assert html.by_id("password").attrs.get("type") == "password"


# --- registration ----------------------------------------------------------------------------


def registered(client, data) -> tuple[int, str, str]:
    """What a visitor sees after registering: status, where it leads, and that page's text
    with the typed address taken out (to compare two addresses' answers)."""
    response = client.post("/register", data=data)
    target = response.headers.get("Location", "")
    shown = page(client.get(target)).text if response.status_code == 302 else ""
    shown = shown.replace(data["email"].strip(), "<email>")
    return response.status_code, target, " ".join(shown.split())


def test_registration_creates_the_account_and_sends_the_member_to_log_in(client, factory):
    status, target, shown = registered(client, REGISTRATION)
    # Off to log in, and from there to choosing a tier.
    assert (status, target) == (302, "/login?next=/account/membership")
    assert "Thank you for registering." in shown and "<email>" in shown
    # Not logged in by registering: an address that has an account could not be (see below).
    assert not is_logged_in(client)

    (user,) = db.session.scalars(select(User)).all()
    assert user.email == "anna.schmidt@example.org"
    assert user.name == "Anna Schmidt"
    assert user.locale == "en"  # from the browser's Accept-Language
    assert user.check_password(GOOD)
    assert factory.count(AuditEntry, action="user.registered") == 1
    assert outbox_topics() == ["mail.verify_email"]
    assert login(client, "anna.schmidt@example.org", GOOD).status_code == 302
    assert is_logged_in(client)


def outbox_topics() -> list[str]:
    from schiller40.core.outbox import OutboxMessage

    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage.topic).order_by(OutboxMessage.id)))


@pytest.mark.parametrize("typed", ["anna@example.org", " ANNA@Example.org "])
def test_registering_an_address_that_has_an_account_answers_as_for_a_new_one(
    app, factory, member, typed
):
    """Issue 17: "already registered" (422) told anyone which addresses have accounts. Now
    both get the same answer; the owner gets a mail instead, and nothing else changes."""
    owner = member(email="anna@example.org", name="Anna Existing")
    db.session.commit()
    new = registered(app.test_client(), {**REGISTRATION, "email": "nora@example.org"})
    taken = registered(app.test_client(), {**REGISTRATION, "email": typed})
    assert new == taken
    assert new[:2] == (302, "/login?next=/account/membership")

    db.session.expire_all()
    assert factory.count(User) == 2  # the owner and Nora: no second Anna
    assert db.session.get(User, owner.id).name == "Anna Existing"
    assert db.session.get(User, owner.id).check_password(PASSWORD)  # not the visitor's
    assert sorted(outbox_topics()) == ["mail.already_registered", "mail.verify_email"]
    assert factory.count(AuditEntry, action="user.registration_repeated") == 1
    # The visitor is not logged in to the owner's account, with either password.
    visitor = app.test_client()
    assert login(visitor, "anna@example.org", GOOD).status_code == 422
    assert not is_logged_in(visitor)


def test_registering_an_existing_address_again_soon_sends_no_second_mail(app, factory, member,
                                                                         clock):
    from datetime import timedelta

    member(email="anna@example.org")
    db.session.commit()
    data = {**REGISTRATION, "email": "anna@example.org"}
    for _ in range(3):
        assert app.test_client().post("/register", data=data).status_code == 302
    assert outbox_topics() == ["mail.already_registered"]
    clock.advance(timedelta(minutes=11))
    assert app.test_client().post("/register", data=data).status_code == 302
    assert outbox_topics() == ["mail.already_registered"] * 2


def test_registration_accepts_an_email_with_spaces_and_capitals(client, factory):
    """Autocomplete on phones often adds a trailing space; that is not an invalid address."""
    response = client.post(
        "/register", data={**REGISTRATION, "email": "  Anna.Schmidt@Example.ORG "}
    )
    assert response.status_code == 302, page(response).text
    assert db.session.scalars(select(User.email)).all() == ["anna.schmidt@example.org"]


def test_a_logged_in_member_is_sent_home_from_register(client, factory, member):
    user = member()
    login(client, user.email)
    response = client.get("/register")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.post("/register", data=REGISTRATION).status_code == 302
    assert factory.count(User) == 1


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        pytest.param({"email": "anna.schmidt@"}, "email", "valid e-mail address", id="malformed"),
        pytest.param({"email": "anna schmidt@example.org"}, "email", "valid e-mail address",
                     id="space-inside-email"),
        pytest.param({"password": "Tr4m-Bus!", "password_confirm": "Tr4m-Bus!"}, "password",
                     "at least 10 characters", id="short-password"),
        pytest.param({"password": "password123", "password_confirm": "password123"},
                     "password", "most common", id="common-password"),
        pytest.param({"password": "AnnaSchmidt1", "password_confirm": "AnnaSchmidt1"},
                     "password", "too close to your name", id="password-is-the-name"),
        pytest.param({"password_confirm": GOOD + "!"}, "password_confirm", "do not match",
                     id="mismatched-confirmation"),
        pytest.param({"name": ""}, "name", "Please enter your name.", id="missing-name"),
        pytest.param({"name": "   "}, "name", "Please enter your name.", id="blank-name"),
        pytest.param({"email": ""}, "email", "Please enter your e-mail address.",
                     id="missing-email"),
        pytest.param({"password": ""}, "password", "Please choose a password.",
                     id="missing-password"),
        pytest.param({"password_confirm": ""}, "password_confirm",
                     "Please repeat the password.", id="missing-confirmation"),
        pytest.param({"name": "x" * 201}, "name", "200", id="overlong-name"),
    ],
)
def test_bad_registration_is_refused_beside_the_field(client, factory, member, changes, field, message):
    member(email="anna@example.org", name="Anna Existing")
    users_before = factory.count(User)
    data = {**REGISTRATION, **changes}

    response = client.post("/register", data=data)

    assert response.status_code == 422
    assert_field_error(response, field, message)
    assert invalid_fields(response) <= {field, "password_confirm"}
    html = page(response)
    alert = html.find_all("div", role="alert")
    assert alert, "no summary for screen readers"
    # What was typed is kept, except passwords, which never come back in the page.
    assert html.by_id("name").attrs.get("value", "") == data["name"].strip()
    assert html.by_id("email").attrs.get("value", "") == data["email"].strip()
    for secret in {data["password"], data["password_confirm"]} - {""}:
        assert secret not in response.get_data(as_text=True)
    assert html.by_id("password").attrs.get("value") in (None, "")
    # Nothing was written.
    assert factory.count(User) == users_before
    assert factory.count(AuditEntry) == 0
    assert not is_logged_in(client)


def test_registration_with_nothing_posted_marks_every_field(client, factory):
    response = client.post("/register", data={})
    assert response.status_code == 422
    assert invalid_fields(response) == {"name", "email", "password", "password_confirm"}
    assert factory.count(User) == 0


# --- log-in ----------------------------------------------------------------------------------


def test_login_redirects_home_and_records_the_time(client, factory, member, clock):
    user = member(email="anna@example.org", name="Anna Schmidt")
    response = login(client, "Anna@Example.org")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "Anna Schmidt" in page(client.get("/")).by_id("membership-heading").text
    db.session.expire_all()
    assert db.session.get(User, user.id).last_login_at == clock()


@pytest.mark.parametrize("target", ["/resources", "/account/password?tab=1", "/"])
def test_login_follows_a_safe_next(client, factory, member, target):
    user = member()
    response = login(client, user.email, query=f"?next={target}")
    assert response.status_code == 302
    assert response.headers["Location"] == target


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "http://evil.example",
        "//evil.example",
        "//evil.example/login",
        "/\\evil.example",
        "\\\\evil.example",
        # Browsers read three or more slashes as a host too ("///evil.example" goes to
        # https://evil.example/); urlsplit sees a path.
        "///evil.example",
        "////evil.example/x",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
def test_login_does_not_follow_an_unsafe_next(client, factory, member, target):
    user = member()
    response = client.post(
        "/login", query_string={"next": target},
        data={"email": user.email, "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    # Also when already logged in and just visiting the log-in page.
    again = client.get("/login", query_string={"next": target})
    assert again.status_code == 302
    assert again.headers["Location"] == "/"


def test_wrong_password_and_unknown_email_look_the_same(client, factory, member):
    member(email="anna@example.org")
    wrong_password = login(client, "anna@example.org", "not the password at all")
    unknown_email = login(client, "nobody@example.org", PASSWORD)
    messages = []
    for response in (wrong_password, unknown_email):
        assert response.status_code == 422
        (alert,) = page(response).find_all("div", role="alert")
        assert "E-mail address or password is not correct." in alert.text
        assert invalid_fields(response) == set()  # no hint which of the two was wrong
        messages.append(alert.text)
    assert messages[0] == messages[1]
    assert not is_logged_in(client)
    assert factory.count(AuditEntry, action="user.logged_in") == 0


def test_failed_login_keeps_the_email_but_not_the_password(client, factory):
    response = login(client, "anna@example.org", "my secret attempt")
    assert response.status_code == 422
    html = page(response)
    assert html.by_id("email").attrs.get("value") == "anna@example.org"
    assert "my secret attempt" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "field"),
    [({"email": "", "password": PASSWORD}, "email"), ({"email": "a@example.org"}, "password")],
)
def test_login_with_a_missing_field(client, factory, data, field):
    response = client.post("/login", data=data)
    assert response.status_code == 422
    assert invalid_fields(response) == {field}


def test_a_deactivated_member_cannot_log_in(client, factory, member):
    user = member(is_active_account=False)
    response = login(client, user.email)
    assert response.status_code == 422
    assert "E-mail address or password is not correct." in page(response).text
    assert not is_logged_in(client)
    db.session.expire_all()
    assert db.session.get(User, user.id).last_login_at is None


def test_deactivating_a_member_ends_their_session(client, factory, member):
    user = member()
    login(client, user.email)
    assert is_logged_in(client)
    user.is_active_account = False
    assert not is_logged_in(client)


def test_deactivation_also_ends_a_remember_me_login(client, factory, member):
    user = member()
    login(client, user.email, remember="y")
    client.delete_cookie("session")  # the browser was closed; only the remember cookie is left
    assert is_logged_in(client)
    user.is_active_account = False
    client.delete_cookie("session")
    assert not is_logged_in(client)
    assert not is_logged_in(client)  # and the cookie does not log them in again


@pytest.mark.parametrize(("remember", "expected"), [({"remember": "y"}, True), ({}, False)])
def test_remember_me_sets_a_lasting_cookie_only_when_asked(client, factory, member, remember, expected):
    user = member()
    response = login(client, user.email, **remember)
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    remember_cookies = [c for c in cookies if c.startswith("remember_token=")]
    assert bool(remember_cookies) is expected
    for cookie in remember_cookies:
        assert "HttpOnly" in cookie


# --- log-out ---------------------------------------------------------------------------------


def test_logout_is_post_only(client, factory, member):
    user = member()
    login(client, user.email)
    response = client.get("/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert is_logged_in(client)


def test_logout(client, factory, member):
    user = member()
    login(client, user.email)
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert not is_logged_in(client)


# --- password change -------------------------------------------------------------------------


def test_password_change_needs_a_login(client, factory, member):
    response = client.get("/account/password")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/account/password"]
    assert client.post("/account/password", data={}).status_code == 302

    user = member()
    back = login(client, user.email, query="?" + location.query)
    assert back.status_code == 302
    assert back.headers["Location"] == "/account/password"


def change(client, current: str, new: str, confirm: str | None = None):
    return client.post("/account/password", data={
        "current_password": current, "new_password": new,
        "new_password_confirm": new if confirm is None else confirm,
    })


def test_password_change_end_to_end(client, factory, member):
    user = member()
    login(client, user.email)
    assert client.get("/account/password").status_code == 200

    response = change(client, PASSWORD, GOOD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert factory.count(AuditEntry, action="user.password_changed") == 1

    client.post("/logout")
    assert login(client, user.email, PASSWORD).status_code == 422
    assert login(client, user.email, GOOD).status_code == 302
    assert is_logged_in(client)


def test_a_new_password_logs_out_every_other_browser_but_this_one(app, client, factory,
                                                                  member):
    user = member()
    login(client, user.email)
    other = app.test_client()
    remembered = app.test_client()
    login(other, user.email)
    login(remembered, user.email, remember="y")
    assert is_logged_in(other) and is_logged_in(remembered)

    response = change(client, PASSWORD, GOOD)
    assert response.status_code == 302
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Other browsers where you were logged in have been logged out." in shown
    assert is_logged_in(client)
    assert not is_logged_in(other)
    # The "stay logged in" cookie of the old password logs no one in either.
    remembered.delete_cookie("session")
    assert not is_logged_in(remembered)


def test_a_session_of_a_bare_or_forged_id_is_no_session(app, client, factory, member):
    user = member()
    for forged in (str(user.id), f"{user.id}:0000000000000000", f"{user.id}:", "x:y"):
        with client.session_transaction() as session:
            session["_user_id"] = forged
            session["_fresh"] = True
        assert not is_logged_in(client), forged


@pytest.mark.parametrize(
    ("current", "new", "confirm", "field", "message"),
    [
        pytest.param("not my password", GOOD, None, "current_password", "not correct",
                     id="wrong-current"),
        pytest.param(PASSWORD, "short", None, "new_password", "at least 10", id="weak-new"),
        pytest.param(PASSWORD, GOOD, GOOD + "!", "new_password_confirm", "do not match",
                     id="mismatch"),
        pytest.param("", GOOD, None, "current_password", "current password",
                     id="missing-current"),
    ],
)
def test_bad_password_change_is_refused_beside_the_field(
    client, factory, member, current, new, confirm, field, message
):
    user = member()
    login(client, user.email)
    before = user.password_hash

    response = change(client, current, new, confirm)

    assert response.status_code == 422
    assert_field_error(response, field, message)
    for secret in {current, new, confirm} - {None, ""}:
        assert secret not in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == before
    assert factory.count(AuditEntry, action="user.password_changed") == 0


# --- CSRF ------------------------------------------------------------------------------------

CSRF_ON = pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}], ids=["csrf"])


def csrf_token(client, url: str) -> str:
    tokens = {t.attrs["value"] for t in page(client.get(url)).find_all("input", name="csrf_token")}
    (value,) = tokens  # every form on the page (log-in, language switch) carries the same one
    assert value and re.fullmatch(r"[\w.-]+", value)
    return value


@CSRF_ON
def test_registration_without_a_csrf_token_is_refused(client, factory):
    response = client.post("/register", data=REGISTRATION)
    assert response.status_code == 400
    assert factory.count(User) == 0
    assert factory.count(AuditEntry) == 0

    # The same form with its token goes through, so the token was the only thing missing.
    token = csrf_token(client, "/register")
    response = client.post("/register", data={**REGISTRATION, "csrf_token": token})
    assert response.status_code == 302
    assert factory.count(User) == 1


@CSRF_ON
def test_login_without_a_csrf_token_is_refused(client, factory, member):
    user = member()
    response = login(client, user.email)
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(User, user.id).last_login_at is None
    assert factory.count(AuditEntry) == 0

    token = csrf_token(client, "/login")
    assert login(client, user.email, csrf_token=token).status_code == 302
    assert is_logged_in(client)


@CSRF_ON
def test_logout_and_password_change_need_the_token(client, factory, member):
    user = member()
    login(client, user.email, csrf_token=csrf_token(client, "/login"))
    before = user.password_hash

    assert client.post("/logout").status_code == 400
    assert is_logged_in(client)
    assert change(client, PASSWORD, GOOD).status_code == 400
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == before


# --- service errors on forms -----------------------------------------------------------------


def test_a_service_error_for_a_field_the_form_lacks_is_still_shown():
    """Unit test (no database): messages must never be dropped on the way to the page."""
    from schiller40 import create_app
    from schiller40.accounts.forms import RegistrationForm
    from schiller40.accounts.views import apply_field_errors
    from schiller40.errors import InvalidInput, NotFound

    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": "sqlite://"})
    with app.test_request_context(method="POST", data={}):
        form = RegistrationForm()
        apply_field_errors(form, NotFound("There is no tier x.", fields={"tier": ["Unknown."]}))
        assert form.form_errors == ["There is no tier x.", "Unknown."]
        assert not any(f.errors for f in form)

        form = RegistrationForm()
        apply_field_errors(form, InvalidInput("Bad.", fields={"email": ["Taken."]}))
        assert form.email.errors == ["Taken."]
        assert form.form_errors == []

        form = RegistrationForm()
        apply_field_errors(form, InvalidInput("Something else is wrong."))
        assert form.form_errors == ["Something else is wrong."]


@pytest.mark.parametrize(
    "data",
    [
        {"name": "Nul\x00Name", "email": "nul@example.org", "password": "a long pass phrase",
         "password_confirm": "a long pass phrase"},
        {"name": "Nul", "email": "nul@example.org", "password": "a long\x00pass phrase",
         "password_confirm": "a long\x00pass phrase"},
    ],
)
def test_nul_characters_in_registration_are_a_form_error(client, factory, data):
    response = client.post("/register", data=data)
    assert response.status_code == 422
    assert factory.count(User) == 0


def test_nul_characters_in_log_in_are_a_failed_log_in(client, factory):
    factory.user(email="anna@example.org")
    response = client.post("/login", data={"email": "anna@example.org\x00",
                                           "password": PASSWORD})
    assert response.status_code == 422


def test_remember_me_survives_a_changed_client_address(client, factory):
    factory.user(email="anna@example.org")
    client.post("/login", data={"email": "anna@example.org", "password": PASSWORD,
                                "remember": "y"}, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    response = client.get("/account", environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert response.status_code == 200
