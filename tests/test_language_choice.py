"""The language a visitor chooses is remembered: across pages, and when they log in.

The rest of the language switch (cookie, account, Accept-Language, safe redirects) is in
test_i18n.py; tests/e2e/test_accessibility.py walks the same path in a real browser.
"""

from __future__ import annotations

from flask.testing import FlaskClient

from schiller40.extensions import db
from schiller40.i18n import LANG_COOKIE
from schiller40.models import User

from .factories import PASSWORD, Factory
from .test_i18n import html_lang


def test_a_choice_made_before_log_in_is_kept_and_saved_on_the_account(
    client: FlaskClient, factory: Factory
) -> None:
    user = factory.user(locale="de")
    client.post("/language", data={"lang": "en", "next": "/"})
    assert html_lang(client.get("/resources")) == "en"

    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert html_lang(client.get("/bookings")) == "en"
    db.session.expire_all()
    assert db.session.get(User, user.id).locale == "en"

    # Another device without the cookie now gets English too.
    client.post("/logout")
    client.delete_cookie(LANG_COOKIE)
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert html_lang(client.get("/", headers={"Accept-Language": "de"})) == "en"


def test_without_a_choice_in_this_browser_the_account_language_stays(
    client: FlaskClient, factory: Factory
) -> None:
    user = factory.user(locale="en")
    client.post("/login", data={"email": user.email, "password": PASSWORD},
                headers={"Accept-Language": "de"})
    db.session.expire_all()
    assert db.session.get(User, user.id).locale == "en"
    assert html_lang(client.get("/", headers={"Accept-Language": "de"})) == "en"


def test_a_failed_log_in_changes_no_account(client: FlaskClient, factory: Factory) -> None:
    user = factory.user(locale="de")
    client.post("/language", data={"lang": "en", "next": "/"})
    response = client.post("/login", data={"email": user.email, "password": "wrong password"})
    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(User, user.id).locale == "de"


def test_registration_keeps_the_language_the_visitor_switched_to(client, factory):
    client.post("/language", data={"lang": "en", "next": "/"})
    client.post("/register", headers={"Accept-Language": "de"}, data={
        "name": "Kim Example", "email": "kim@example.org", "password": "a long pass phrase",
        "password_confirm": "a long pass phrase"})
    db.session.expire_all()
    assert db.session.query(User).one().locale == "en"
