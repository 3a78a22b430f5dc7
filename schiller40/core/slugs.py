"""The short names in addresses (``/resources/desk-a01``, tier and induction names): one rule
for every staff form that sets one, so resources and tiers refuse the same things."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from ..errors import InvalidInput
from .locking import is_unique_violation

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


def slug_taken(exc: IntegrityError, table: str) -> InvalidInput:
    """The form's answer when the database refused a row because another request took its
    slug meanwhile (the checks before the insert saw it free). Raised by the caller outside
    its ``write`` block, which has rolled back. Any other integrity error is not a form
    problem: it is raised again, as it is."""
    if not is_unique_violation(exc, table, "slug"):
        raise exc
    return InvalidInput(fields={"slug": [str(_l("This short name is already used."))]})
