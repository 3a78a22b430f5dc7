"""The pure arithmetic of a company member's share of the pooled credit (rules.credit_left)."""

from __future__ import annotations

from schiller40.booking.rules import Credit, CreditPool, credit_left


def test_without_caps_the_pool_less_what_was_used():
    assert credit_left(CreditPool(8, 240, 3, 60)) == Credit(half_days=5, minutes=180)


def test_a_cap_limits_the_members_share_by_what_they_used_themselves():
    pool = CreditPool(20, 600, 4, 60, own_half_days=2, own_minutes=60,
                      cap_desk_days=2, cap_studio_hours=3)
    assert credit_left(pool) == Credit(half_days=2, minutes=120)


def test_a_cap_never_gives_more_than_the_pool_has_and_nothing_goes_negative():
    assert credit_left(CreditPool(4, 60, 3, 60, own_half_days=0, cap_desk_days=5)) == Credit(1, 0)
    assert credit_left(CreditPool(4, 60, 0, 0, own_half_days=4, cap_desk_days=1)) == Credit(0, 60)
    assert credit_left(CreditPool(4, 60, 0, 0, cap_desk_days=0, cap_studio_hours=0)) == Credit()
