"""Regression tests for findings of the second review (see the commit that added them)."""

from __future__ import annotations

import pytest

from schiller40 import create_app
from schiller40.extensions import db
from schiller40.models import ResourceKind, User
from schiller40.settings import ConfigError
from tests.factories import PASSWORD


def test_a_desk_without_a_zone_does_not_break_the_resource_list(client, factory):
    location = factory.location()
    factory.resource(location=location, kind=ResourceKind.DESK, zone=None, name="Tresen 1")
    factory.resource(location=location, kind=ResourceKind.DESK, zone="Open Space A")
    response = client.get("/resources")
    assert response.status_code == 200
    assert "Tresen 1" in response.get_data(as_text=True)


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


def test_registration_keeps_the_language_the_visitor_switched_to(client, factory):
    client.post("/language", data={"lang": "en", "next": "/"})
    client.post("/register", headers={"Accept-Language": "de"}, data={
        "name": "Kim Example", "email": "kim@example.org", "password": "a long pass phrase",
        "password_confirm": "a long pass phrase"})
    db.session.expire_all()
    assert db.session.query(User).one().locale == "en"


@pytest.mark.parametrize("url", ["booking.schiller40.de", "ftp://x", "https://", "/path"])
def test_public_url_must_be_absolute_http(url):
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        create_app({"ENV_NAME": "testing", "DATABASE_URL": "sqlite://", "PUBLIC_URL": url})


def test_sql_errors_are_logged_without_their_parameters(app):
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["hide_parameters"] is True
    assert db.engine.hide_parameters is True
