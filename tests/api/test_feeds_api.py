"""Calendar feeds through the API: list, rotate, revoke; someone else's feed is 404."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from schiller40.extensions import db
from schiller40.models import ResourceKind, Role


@pytest.fixture
def studio(factory):
    location = factory.location()
    studio = factory.resource(location=location, kind=ResourceKind.STUDIO, slug="studio")
    db.session.commit()
    return studio


def test_members_get_their_own_feed_and_opened_resources(api_as, factory, studio, client):
    member = factory.user()
    db.session.commit()
    api = api_as(member)
    feeds = api.get("/api/v1/feeds").get_json()["feeds"]
    assert [f["kind"] for f in feeds] == ["member"]
    url = feeds[0]["url"]
    assert feeds[0]["webcal"] == "webcal://" + url.split("://", 1)[1]
    assert client.get(urlsplit(url).path).status_code == 200
    studio.feed_for_members = True
    db.session.commit()
    feeds = api.get("/api/v1/feeds").get_json()["feeds"]
    assert [(f["kind"], f["resource"]) for f in feeds] == [("member", None),
                                                          ("resource", "studio")]


def test_staff_get_resource_and_location_feeds(api_as, factory, studio):
    staff = factory.user(role=Role.STAFF)
    db.session.commit()
    kinds = [f["kind"] for f in api_as(staff).get("/api/v1/feeds").get_json()["feeds"]]
    assert kinds == ["member", "resource", "location"]


def test_rotate_and_revoke(api_as, factory, studio, client):
    member = factory.user()
    db.session.commit()
    api = api_as(member)
    feed = api.get("/api/v1/feeds").get_json()["feeds"][0]
    old_path = urlsplit(feed["url"]).path
    rotated = api.post(f"/api/v1/feeds/{feed['id']}/rotate").get_json()["feed"]
    assert rotated["url"] != feed["url"]
    assert client.get(old_path).status_code == 404
    new_path = urlsplit(rotated["url"]).path
    assert client.get(new_path).status_code == 200
    assert api.delete(f"/api/v1/feeds/{feed['id']}").status_code == 204
    assert client.get(new_path).status_code == 404
    listed = api.get("/api/v1/feeds").get_json()["feeds"][0]
    assert (listed["active"], listed["url"]) == (False, None)
    again = api.post(f"/api/v1/feeds/{feed['id']}/rotate").get_json()["feed"]
    assert again["active"] is True
    assert client.get(urlsplit(again["url"]).path).status_code == 200


def test_someone_elses_feed_is_not_found(api_as, factory, studio):
    owner, other = factory.user(), factory.user()
    db.session.commit()
    feed_id = api_as(owner).get("/api/v1/feeds").get_json()["feeds"][0]["id"]
    api = api_as(other)
    assert api.post(f"/api/v1/feeds/{feed_id}/rotate").status_code == 404
    assert api.delete(f"/api/v1/feeds/{feed_id}").status_code == 404
    assert api.delete("/api/v1/feeds/99999999999999999999").status_code == 404


def test_feeds_need_a_token(anonymous_api):
    assert anonymous_api.get("/api/v1/feeds").status_code == 401
