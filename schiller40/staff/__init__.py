"""Staff pages: studio calendars, members, resources and tiers, utilisation, audit log.

Every route here is behind ``staff_required``: a member (or anyone not staff) gets a 404, so
the existence of the staff area is not advertised. Each area lives in its own module and adds
itself to the staff start page (``index.py``) with ``section``. This module holds the
blueprint and what the areas share, and no route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint
from flask_login import current_user, login_required

from ..errors import NotFound

bp = Blueprint("staff", __name__, url_prefix="/staff")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Section:
    title: Any  # a lazy string, translated when the page is drawn
    endpoint: str
    description: Any
    order: int
    # Something waiting for staff (e.g. approvals), shown beside the title; read per page view.
    count: Callable[[], int] | None = None


SECTIONS: list[Section] = []


def section(
    title: Any, endpoint: str, description: Any, *, order: int,
    count: Callable[[], int] | None = None,
) -> None:
    """Add an area to the staff start page (called once per module at import)."""
    SECTIONS.append(Section(title, endpoint, description, order, count))
    SECTIONS.sort(key=lambda s: s.order)


def staff_required(view: F) -> F:
    """Log-in first, then 404 for anyone who is not staff (members must not learn the URL)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_staff:
            raise NotFound()
        return view(*args, **kwargs)

    return login_required(wrapped)  # type: ignore[return-value]


# The areas register their routes and sections on import (one line per area module); the
# start page (``index.py``) lists the sections.
from . import (  # noqa: E402,F401
    approvals,
    audit,
    billing,
    blocks,
    calendar,
    calendar_desks,
    companies,
    desk,
    index,
    location,
    members,
    membership_requests,
    outbox,
    resources,
    tiers,
    utilisation,
)
