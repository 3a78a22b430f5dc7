"""Property-based tests of ``POST /webhooks/stripe``: random bodies and headers, unsigned,
badly signed and correctly signed, against the local Stripe server (tests/payments).

Never a 5xx; whatever is refused (400) has written nothing.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.payments.conftest import (  # noqa: F401 (fixtures)
    WEBHOOK,
    WEBHOOK_SECRET,
    _stripe_server_process,
    stripe_config,
    stripe_server,
)
from tests.payments.stripe_server import signed_headers

from .test_fuzz_forms import snapshot

FUZZ = settings(max_examples=150, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture
def app_config(stripe_config):  # noqa: F811
    return stripe_config  # Stripe through the local server, not the simulated default


header_values = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
    st.sampled_from(["t=1,v1=00", "t=,v1=", "v1=" + "0" * 64, "t=99999999999999999999,v1=ab",
                     "t=-1,v0=x", ",,,", "t=1" * 50]),
)
headers = st.dictionaries(
    st.sampled_from(["Stripe-Signature", "Content-Type", "Content-Length", "X-Forwarded-For",
                     "Transfer-Encoding", "Content-Encoding"]),
    header_values, max_size=4,
).filter(lambda h: "Content-Length" not in h and "Transfer-Encoding" not in h)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=3),
    max_leaves=10,
)
ids = st.one_of(st.text(max_size=20), st.sampled_from(["", "x" * 256, "evt_1", "cs_test_1"]),
                st.integers(), st.none())
event_types = st.one_of(st.text(max_size=20), st.sampled_from([
    "checkout.session.completed", "checkout.session.expired", "charge.refunded",
    "payment_intent.succeeded", "refund.updated", "balance.available"]))
# Bodies shaped like events (with random parts), or any JSON at all.
events = st.one_of(
    st.fixed_dictionaries({"id": ids, "type": event_types, "object": st.just("event"),
                           "data": st.one_of(json_values, st.fixed_dictionaries(
                               {"object": st.one_of(json_values, st.fixed_dictionaries(
                                   {"id": ids, "object": st.text(max_size=10)}))}))}),
    json_values,
)


def test_unsigned_or_badly_signed_bodies_are_refused(client, place):
    @FUZZ
    @given(body=st.one_of(st.binary(max_size=300), events.map(json.dumps).map(str.encode)),
           headers=headers)
    def check(body, headers):
        before = snapshot()
        response = client.post(WEBHOOK, data=body, headers=headers)
        assert response.status_code == 400, (body, headers, response.status_code)
        assert response.get_json()["error"]["code"] == "bad_signature"
        assert snapshot() == before

    check()


def test_signed_bodies_never_fail(client, place):
    @FUZZ
    @given(body=st.one_of(events.map(json.dumps), st.text(max_size=200)))
    def check(body):
        before = snapshot()
        response = client.post(WEBHOOK, data=body.encode(),
                               headers=signed_headers(body, WEBHOOK_SECRET))
        assert response.status_code in (200, 400), (body, response.status_code)
        if response.status_code == 400:
            assert response.get_json()["error"]["code"] == "invalid"
            assert snapshot() == before

    check()
