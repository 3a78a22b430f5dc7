"""The public price list: the active tiers as people who are not members yet may read them.

One query for the page (``/tarife``) and the API (``/api/v1/tiers``), so both always show the
same tiers in the same order. Inactive tiers stay off the list: they are kept only for the
memberships that still use them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..resources.models import ResourceKind
from .models import Tier, TierKindPrice

# Desks first, then studios and rooms: the order of the enum, on either database (the
# relationship's ORDER BY sorts a PostgreSQL enum by declaration but SQLite's text by name).
KIND_ORDER = {kind: i for i, kind in enumerate(ResourceKind)}


def active_tiers(session: Session) -> list[Tier]:
    """Every active tier in ``position`` order (then name, for tiers at one position)."""
    return list(session.scalars(
        select(Tier)
        .where(Tier.is_active.is_(True))
        .options(selectinload(Tier.prices))
        .order_by(Tier.position, Tier.name, Tier.id)
    ))


def kind_prices(tier: Tier) -> list[TierKindPrice]:
    """The kinds the tier may book, each with its prices beyond the included credit."""
    return sorted(tier.prices, key=lambda p: KIND_ORDER[p.kind])
