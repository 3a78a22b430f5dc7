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


def test_a_hold_past_its_time_shows_as_expired_everywhere(client, factory, clock):
    """Before any write marks it, the page, the API and the feed already call it expired,
    and the feed's ETag changes at that moment, so calendar apps refetch."""
    from datetime import timedelta
    from urllib.parse import urlsplit

    from schiller40.models import BookingStatus

    location = factory.location()
    room = factory.resource(location=location, kind=ResourceKind.ROOM, slug="room")
    member = factory.user(email="anna@example.org")
    held = factory.booking(resource=room, user=member, status=BookingStatus.HELD,
                           starts_at=clock() + timedelta(days=1),
                           hold_expires_at=clock() + timedelta(minutes=15),
                           price_gross_cents=1200, price_net_cents=1008, price_tax_cents=192)
    db.session.commit()
    client.post("/login", data={"email": "anna@example.org", "password": PASSWORD})
    token = client.post("/api/v1/tokens", json={"email": "anna@example.org",
                                                "password": PASSWORD}).get_json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    feed_url = client.get("/api/v1/feeds", headers=auth).get_json()["feeds"][0]["url"]
    feed_path = urlsplit(feed_url).path
    before = client.get(feed_path)
    assert "STATUS:TENTATIVE" in before.get_data(as_text=True)

    clock.advance(timedelta(minutes=16))
    api = client.get(f"/api/v1/bookings/{held.id}", headers=auth).get_json()["booking"]
    assert api["status"] == "expired" and api["payment"]["status"] == "expired"
    page = client.get(f"/bookings/{held.id}").get_data(as_text=True)
    assert "verfallen" in page or "expired" in page
    after = client.get(feed_path, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert "STATUS:CANCELLED" in after.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(type(held), held.id).status is BookingStatus.HELD  # nothing written
