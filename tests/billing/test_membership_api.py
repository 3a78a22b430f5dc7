"""``GET``/``POST /api/v1/membership``: your own membership, changed or ended through the API;
bad input is a 4xx that changes nothing; a double submit makes one change."""

from __future__ import annotations

from collections import Counter

import pytest

from schiller40.billing.change_models import SubscriptionChange
from schiller40.billing.models import BillingPeriod, Subscription
from schiller40.core.audit import AuditEntry
from schiller40.extensions import db
from schiller40.membership.models import SignupMode
from schiller40.models import ResourceKind
from tests.api.conftest import Api
from tests.booking.test_concurrency import Call, race, wait_config
from tests.factories import PASSWORD
from tests.helpers import count_rows

from .test_service import subscribe


@pytest.fixture
def app_config() -> dict:
    return wait_config()


@pytest.fixture
def startup(billing_place, factory):
    tier = factory.tier(signup_mode=SignupMode.SELF_SERVICE, slug="startup", name="Startup", monthly_price_cents=14900,
                        position=2, prices={ResourceKind.DESK: (None, 600, 1000)})
    db.session.commit()
    return tier


def api_for(client, user) -> Api:
    response = Api(client).post("/api/v1/tokens", json={"email": user.email,
                                                        "password": PASSWORD})
    assert response.status_code == 201
    return Api(client, response.get_json()["token"])


def unchanged() -> tuple[int, ...]:
    return (count_rows(SubscriptionChange), count_rows(BillingPeriod),
            count_rows(AuditEntry, action="subscription.change_requested"),
            count_rows(AuditEntry, action="subscription.cancel_requested"))


def test_get_shows_the_own_subscription(billing_place, startup, client, clock):
    subscribe(billing_place, clock)
    api = api_for(client, billing_place.member)
    body = api.get("/api/v1/membership").get_json()
    sub = body["subscription"]
    assert body["membership"]["tier"] == "flex" and body["membership"]["billed"] is True
    assert (sub["tier"], sub["status"], sub["period_start"], sub["period_end"]) == (
        "flex", "active", "2026-12-17", "2026-12-31")
    assert (sub["next_charge_on"], sub["next_charge_cents"]) == ("2027-01-01", 8900)
    assert sub["payment_method"] == "sepa_debit" and sub["mandate_reference"].startswith("SIM-")
    assert body["may"] == {"change": True, "cancel": True, "withdraw_cancellation": False,
                           "end": False}
    assert [t["slug"] for t in body["tiers"]] == ["startup"]
    # the staff member (no membership) sees their own, empty
    staff = api_for(client, billing_place.staff).get("/api/v1/membership").get_json()
    assert staff["subscription"] is None and staff["membership"] is None


def test_preview_then_change_then_cancel_and_withdraw(billing_place, startup, client, clock):
    subscribe(billing_place, clock)
    api = api_for(client, billing_place.member)
    before = unchanged()
    preview = api.post("/api/v1/membership",
                       json={"action": "change", "tier": "startup", "preview": True})
    assert preview.status_code == 200
    quote = preview.get_json()["quote"]
    assert (quote["kind"], quote["effective_on"], quote["charge_now"]["amount_cents"]) == (
        "upgrade", "2026-12-18", 2710)
    assert unchanged() == before
    done = api.post("/api/v1/membership", json={"action": "change", "tier": "startup"})
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["change"]["status"] == "applied" and body["change"]["proration_cents"] == 2710
    assert body["subscription"]["tier"] == "startup"
    cancel_preview = api.post("/api/v1/membership", json={"action": "cancel", "preview": True})
    ends_on = cancel_preview.get_json()["quote"]["ends_on"]
    assert ends_on == "2026-12-31"
    cancelled = api.post("/api/v1/membership", json={"action": "cancel", "ends_on": ends_on})
    assert cancelled.get_json()["subscription"]["cancel_at"] == ends_on
    again = api.post("/api/v1/membership", json={"action": "cancel", "ends_on": ends_on})
    assert again.status_code == 200
    kept = api.post("/api/v1/membership", json={"action": "withdraw_cancellation"})
    assert kept.status_code == 200 and kept.get_json()["subscription"]["cancel_at"] is None
    missing = api.post("/api/v1/membership", json={"action": "withdraw_cancellation"})
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "nothing_to_withdraw"


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"action": "change"}, 422, "invalid"),
    ({"action": "change", "tier": "no-such-tier"}, 422, "invalid"),
    ({"action": "change", "tier": "Startup!"}, 422, "invalid"),
    ({"action": "change", "tier": "flex"}, 409, "same_tier"),
    ({"action": "change", "tier": "day-pass"}, 409, "use_cancel"),
    ({"action": "pause"}, 422, "invalid"),
    ({"action": "cancel", "ends_on": "2027-05-31"}, 409, "terms_changed"),
    ({"action": "cancel", "ends_on": "31.12.2026"}, 422, "invalid"),
    ({"action": "change", "tier": "startup", "extra": 1}, 422, "invalid"),
    ({"action": "end"}, 409, "use_cancel"),
    ({"action": "withdraw_change"}, 404, "nothing_to_withdraw"),
    ([], 422, "invalid"),
])
def test_bad_input_is_a_4xx_and_changes_nothing(billing_place, startup, client, clock, body,
                                                status, code):
    subscribe(billing_place, clock)
    api = api_for(client, billing_place.member)
    before = unchanged()
    response = api.post("/api/v1/membership", json=body)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert unchanged() == before
    assert db.session.scalars(db.select(Subscription)).one().cancel_at is None


def test_not_json_and_no_token(billing_place, client, clock):
    api = api_for(client, billing_place.member)
    assert api.post("/api/v1/membership", data="x", content_type="text/plain").status_code == 415
    assert api.post("/api/v1/membership", data="{", content_type="application/json"
                    ).status_code == 400
    assert Api(client).get("/api/v1/membership").status_code == 401
    assert Api(client).post("/api/v1/membership", json={"action": "end"}).status_code == 401


def test_a_double_submit_of_a_change_makes_one_change(app, billing_place, startup, client,
                                                      clock):
    subscribe(billing_place, clock)
    token = api_for(client, billing_place.member).token
    assert token is not None
    body = {"action": "change", "tier": "startup"}
    answers = race(app, [Call("POST", "/api/v1/membership", token, body) for _ in range(3)])
    assert Counter(a.status for a in answers) == Counter({200: 3}), answers
    assert {a.body["change"]["id"] for a in answers} == {answers[0].body["change"]["id"]}
    db.session.expire_all()
    assert count_rows(SubscriptionChange) == 1
    assert count_rows(BillingPeriod, kind="proration") == 1
    assert db.session.scalars(db.select(Subscription)).one().tier.slug == "startup"

