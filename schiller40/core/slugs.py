"""The short names in addresses (``/resources/desk-a01``, tier and induction names): one rule
for every staff form that sets one, so resources and tiers refuse the same things."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX = 64


def check_slug(value: str, errors: dict[str, list[str]], name: str = "slug") -> None:
    """Add a message for field ``name`` to ``errors`` if ``value`` is not a usable slug."""
    if not value:
        errors.setdefault(name, []).append(str(_l("Please enter a short name for the address.")))
    elif len(value) > SLUG_MAX or not SLUG_RE.match(value):
        errors.setdefault(name, []).append(str(_l(
            "Use lower-case letters a–z, digits and single hyphens (at most 64), "
            "for example “meeting-room-2”."
        )))
