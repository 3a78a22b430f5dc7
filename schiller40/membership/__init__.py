"""Membership tiers, members' memberships and studio inductions."""
