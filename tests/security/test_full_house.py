"""A full house on a Monday morning, with the rate limits as shipped (issue 17).

Some 60 members reach the app through the space's one public address (NAT). With limits
counted per client address, 23 of 40 log-ins and 50 of 80 bookings within a minute were
refused with 429. Now a signed-in member or API token is counted per account and anonymous
requests per address, generously; these tests replay that morning with every limit at its
default and check that real protection stays: one account hammering, and one address
sending anonymous requests by the thousand, are still refused.
"""

from __future__ import annotations

import pytest

from schiller40.extensions import db
from schiller40.models import ResourceKind
from tests.factories import PASSWORD
from tests.helpers import TUE, span

MEMBERS = 60
TUESDAY = TUE.isoformat()


@pytest.fixture
def app_config() -> dict:
    return {"RATELIMIT_ENABLED": True}  # every limit as shipped (config.Config)


@pytest.fixture
def full_house(factory, place) -> list[tuple[str, str]]:
    """60 members with a desk each (e-mail, desk slug)."""
    tier = factory.tier(included_desk_days=8)
    house = []
    for n in range(MEMBERS):
        desk = factory.resource(location=place.location, kind=ResourceKind.DESK,
                                slug=f"hot-desk-{n}", zone="Markthalle", position=n)
        member = factory.user(tier=tier, email=f"member{n}@example.org")
        house.append((member.email, desk.slug))
    db.session.commit()
    return house


def test_sixty_members_behind_one_address_log_in_and_book(app, full_house):
    statuses = []
    for email, desk in full_house:
        browser = app.test_client()  # all from 127.0.0.1, as behind the space's NAT
        statuses.append(browser.post("/login", data={"email": email, "password": PASSWORD})
                        .status_code)
        statuses.append(browser.post(f"/resources/{desk}/book",
                                     data={"day": TUESDAY, "part": "morning"}).status_code)
    assert 429 not in statuses
    assert statuses == [302] * (2 * MEMBERS)


def test_sixty_api_clients_behind_one_address_get_tokens_and_book(app, full_house):
    statuses = []
    for email, desk in full_house:
        client = app.test_client()
        answer = client.post("/api/v1/tokens", json={"email": email, "password": PASSWORD})
        statuses.append(answer.status_code)
        auth = {"Authorization": f"Bearer {answer.get_json()['token']}"}
        statuses.append(client.post("/api/v1/bookings", headers=auth,
                                    json={"resource": desk, **span(TUE, 8, 13)}).status_code)
    assert 429 not in statuses
    assert statuses == [201] * (2 * MEMBERS)


def test_one_account_hammering_is_still_refused(app, place):
    client = app.test_client()
    token = client.post("/api/v1/tokens", json={"email": place.member.email,
                                                "password": PASSWORD}).get_json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    statuses = [client.post("/api/v1/bookings", json={}, headers=auth).status_code
                for _ in range(31)]
    assert statuses == [422] * 30 + [429]  # RATELIMIT_BOOKING: 30 per minute per account


def test_one_address_sending_anonymous_log_ins_by_the_thousand_is_refused(app):
    """An empty form costs no password check, so this replays the thousands quickly."""
    client = app.test_client()
    statuses = []
    while 429 not in statuses and len(statuses) < 1300:
        statuses.append(client.post("/login", data={}).status_code)
    assert statuses[-1] == 429
    assert len(statuses) == 121  # RATELIMIT_LOGIN: 120 per minute per address, far more
    # than a full house needs
