"""The payment state machine and the refund policy: pure functions, no database, no clock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from schiller40.payments.gateway import Checkout, Intent, IntentStatus
from schiller40.payments.models import PaymentStatus as S
from schiller40.payments.states import (
    DEFAULT_POLICY,
    RefundStep,
    advance,
    observed_status,
    parse_policy,
    refund_quote,
)
from schiller40.resources.models import ResourceKind

# --- advance: forward only ------------------------------------------------------------------

# The only order a payment can take. Statuses on one level are alternatives: neither
# replaces the other.
LEVELS = [
    {S.PENDING},
    {S.PROCESSING},
    {S.FAILED, S.EXPIRED},
    {S.AUTHORIZED},
    {S.CANCELLED},
    {S.PAID},
]
LEVEL = {status: n for n, level in enumerate(LEVELS) for status in level}


def test_every_status_has_a_place_in_the_order():
    assert set(LEVEL) == set(S)


@pytest.mark.parametrize(
    ("current", "observed"), list(itertools.product(S, S)), ids=lambda s: s.value
)
def test_advance_moves_only_forward(current, observed):
    after = advance(current, observed)
    if LEVEL[observed] > LEVEL[current]:
        assert after is observed
    else:
        assert after is current, f"{current} must not become {observed}"


def test_applying_news_in_any_order_ends_in_the_furthest_status():
    path = [S.PENDING, S.PROCESSING, S.AUTHORIZED, S.PAID]
    for order in itertools.permutations(path):
        status = S.PENDING
        for seen in order:
            status = advance(status, seen)
        assert status is S.PAID, order


@pytest.mark.parametrize(
    ("current", "observed", "expected"),
    [
        (S.PAID, S.PENDING, S.PAID),  # a stale "open" after payment
        (S.PAID, S.EXPIRED, S.PAID),
        (S.EXPIRED, S.PAID, S.PAID),  # money after the expiry: recorded (then refunded)
        (S.FAILED, S.PAID, S.PAID),
        (S.FAILED, S.EXPIRED, S.FAILED),  # alternatives: the first one stays
        (S.EXPIRED, S.FAILED, S.EXPIRED),
        (S.AUTHORIZED, S.PROCESSING, S.AUTHORIZED),
        (S.CANCELLED, S.AUTHORIZED, S.CANCELLED),
        (S.AUTHORIZED, S.CANCELLED, S.CANCELLED),
    ],
)
def test_advance_examples(current, observed, expected):
    assert advance(current, observed) is expected


# --- observed_status: what the gateway's picture means ----------------------------------------

EXPIRES = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


def checkout(status: str, intent: IntentStatus | None = None, *, manual: bool = False,
             received: int = 0) -> Checkout:
    return Checkout(
        id="cs_1", status=status, url="https://pay.example/cs_1", expires_at=EXPIRES,
        manual_capture=manual,
        intent=Intent("pi_1", intent, 1200, received) if intent is not None else None,
    )


@pytest.mark.parametrize(
    ("status", "intent", "manual", "expected"),
    [
        ("open", None, False, S.PENDING),
        ("open", IntentStatus.REQUIRES_PAYMENT_METHOD, False, S.PENDING),
        ("expired", None, False, S.EXPIRED),
        ("expired", IntentStatus.REQUIRES_PAYMENT_METHOD, False, S.EXPIRED),
        ("complete", IntentStatus.SUCCEEDED, False, S.PAID),
        ("complete", IntentStatus.SUCCEEDED, True, S.PAID),  # captured after approval
        ("complete", IntentStatus.REQUIRES_CAPTURE, True, S.AUTHORIZED),
        ("complete", IntentStatus.PROCESSING, False, S.PROCESSING),
        # SEPA failed: the session is complete, the intent wants a new payment method.
        ("complete", IntentStatus.REQUIRES_PAYMENT_METHOD, False, S.FAILED),
        # An authorisation given back, versus a plain checkout's intent cancelled at expiry.
        ("complete", IntentStatus.CANCELED, True, S.CANCELLED),
        ("expired", IntentStatus.CANCELED, False, S.EXPIRED),
        # Paid, even if the session had meanwhile been marked expired (a race at Stripe).
        ("expired", IntentStatus.SUCCEEDED, False, S.PAID),
    ],
)
def test_observed_status(status, intent, manual, expected):
    assert observed_status(checkout(status, intent, manual=manual)) is expected


def test_checkout_metadata_names_our_payment_only_if_it_is_a_number():
    base = checkout("open")
    assert Checkout(**{**base.__dict__, "metadata": {"payment_id": "42"}}).payment_id == 42
    for raw in ("", "4a", "-1", " 4"):
        assert Checkout(**{**base.__dict__, "metadata": {"payment_id": raw}}).payment_id is None
    assert base.payment_id is None


# --- refund_quote: the policy at its boundaries ---------------------------------------------

STUDIO = DEFAULT_POLICY[ResourceKind.STUDIO]
DESK = DEFAULT_POLICY[ResourceKind.DESK]
START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def quote(steps, *, before: timedelta, paid: int = 3500):
    return refund_quote(steps, paid_cents=paid, starts_at=START, now=START - before)


@pytest.mark.parametrize(
    ("before", "percent", "amount"),
    [
        (timedelta(days=10), 100, 3500),
        (timedelta(hours=48), 100, 3500),  # exactly 48 h before: still in full
        (timedelta(hours=48) - SECOND, 50, 1750),
        (timedelta(hours=24), 50, 1750),  # exactly 24 h before: still half
        (timedelta(hours=24) - SECOND, 0, 0),
        (timedelta(0), 0, 0),
        (-timedelta(hours=1), 0, 0),  # after the start
    ],
)
def test_studio_and_room_policy_boundaries(before, percent, amount):
    for steps in (STUDIO, DEFAULT_POLICY[ResourceKind.ROOM]):
        result = quote(steps, before=before)
        assert (result.percent, result.amount_cents) == (percent, amount)
        assert (result.step is None) == (percent == 0)


@pytest.mark.parametrize(
    ("before", "percent"),
    [(timedelta(hours=24), 100), (timedelta(hours=24) - SECOND, 0), (timedelta(days=3), 100)],
)
def test_desk_policy_boundary(before, percent):
    assert quote(DESK, before=before, paid=1200).percent == percent


@pytest.mark.parametrize(("paid", "expected"), [(3333, 1666), (1, 0), (999, 499), (1200, 600)])
def test_refunds_round_down_to_the_cent(paid, expected):
    assert quote(STUDIO, before=timedelta(hours=30), paid=paid).amount_cents == expected


def test_a_third_rounds_down_too():
    steps = (RefundStep(timedelta(hours=1), 33),)
    assert quote(steps, before=timedelta(hours=2), paid=1000).amount_cents == 330
    assert quote(steps, before=timedelta(hours=2), paid=1001).amount_cents == 330


def test_steps_are_tried_longest_notice_first_whatever_their_order():
    shuffled = (RefundStep(timedelta(hours=24), 50), RefundStep(timedelta(hours=48), 100))
    assert quote(shuffled, before=timedelta(hours=50)).percent == 100
    assert quote(shuffled, before=timedelta(hours=30)).percent == 50


def test_no_steps_means_no_refund():
    result = quote((), before=timedelta(days=30))
    assert (result.percent, result.amount_cents, result.step) == (0, 0, None)


# --- parse_policy: what operators may write ----------------------------------------------------


def hours_and_percents(steps) -> list[tuple[float, int]]:
    return [(s.notice.total_seconds() / 3600, s.percent) for s in steps]


@pytest.mark.parametrize("raw", [None, "", {}])
def test_no_policy_keeps_the_defaults(raw):
    assert parse_policy(raw) == DEFAULT_POLICY


def test_a_policy_replaces_only_the_kinds_it_names_and_is_sorted():
    policy = parse_policy({"studio": [[12, 25], [72, 100]], "desk": []})
    assert hours_and_percents(policy[ResourceKind.STUDIO]) == [(72, 100), (12, 25)]
    assert policy[ResourceKind.DESK] == ()  # no refund for desks at all
    assert policy[ResourceKind.ROOM] == DEFAULT_POLICY[ResourceKind.ROOM]


def test_fractional_hours_and_integral_floats_are_accepted():
    policy = parse_policy({"room": [(1.5, 100.0), [0, 0]]})
    assert hours_and_percents(policy[ResourceKind.ROOM]) == [(1.5, 100), (0, 0)]
    assert isinstance(policy[ResourceKind.ROOM][0].percent, int)


def test_parsing_does_not_change_the_defaults():
    parse_policy({"desk": [[1, 10]]})
    assert hours_and_percents(DEFAULT_POLICY[ResourceKind.DESK]) == [(24, 100)]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([[24, 100]], "must map a resource kind"),
        ("studio", "must map a resource kind"),
        ({"boat": [[24, 100]]}, "unknown resource kind 'boat'"),
        ({"studio": [24, 100]}, "is not [hours >= 0, percent 0..100]"),
        ({"studio": ((24, 100),)}, "must be a list"),
        ({"studio": "24:100"}, "must be a list"),
        ({"studio": [[24]]}, "is not [hours >= 0, percent 0..100]"),
        ({"studio": [[24, 100, 1]]}, "is not [hours >= 0, percent 0..100]"),
        ({"studio": [[-1, 100]]}, "is not [hours >= 0, percent 0..100]"),
        ({"studio": [[24, 101]]}, "is not [hours >= 0, percent 0..100]"),
        ({"studio": [[24, -5]]}, "is not [hours >= 0, percent 0..100]"),
        ({"studio": [[24 * 365 + 1, 100]]}, "is not [hours >= 0, percent 0..100]"),
        ({"studio": [["24", 100]]}, "is not [hours >= 0, percent 0..100]"),
        ({"studio": [[24, True]]}, "is not [hours >= 0, percent 0..100]"),
        ({"studio": [[None, 100]]}, "is not [hours >= 0, percent 0..100]"),
        ({"studio": [[float("nan"), 100]]}, "is not [hours >= 0, percent 0..100]"),
        ({"studio": [[float("inf"), 100]]}, "is not [hours >= 0, percent 0..100]"),
        # A percentage with a fraction would be cut off silently: say so instead.
        ({"studio": [[24, 50.5]]}, "is not [hours >= 0, percent 0..100]"),
        # Two steps for one notice: which one applies?
        ({"studio": [[24, 100], [24, 50]]}, "two steps with 24 hours"),
        # Cancelling later may never give back more than cancelling earlier.
        ({"studio": [[48, 50], [24, 100]]}, "must not rise"),
    ],
)
def test_bad_policies_are_refused_with_a_message(raw, message):
    with pytest.raises(ValueError, match="REFUND_POLICY") as exc_info:
        parse_policy(raw)
    assert message in str(exc_info.value)
