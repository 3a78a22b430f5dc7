"""The payment state machine and the refund policy: pure functions, no database, no clock.

Webhooks arrive late, twice and out of order, and the gateway is polled as well. Whatever we
learn is mapped to a ``PaymentStatus`` and applied only if it lies *ahead* of what we have:
the order below is the only order a payment can take, so stale news changes nothing.

    pending -> processing -> failed | expired -> authorized -> cancelled -> paid

"expired" and "failed" sit below "authorized" and "paid" on purpose: money (or an
authorisation) that turns up for a checkout we had already given up on is a fact we must
record and then give back (see the late-payment refund in ``apply.py``).
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..resources.kinds import ResourceKind
from .gateway import Checkout, IntentStatus


class PaymentStatus(enum.StrEnum):
    """The states themselves live here, beside their order, so that ``Payment`` (models.py)
    can move forward through ``advance`` without this module importing the models."""

    PENDING = "pending"  # checkout opened (or about to be); nothing paid yet
    PROCESSING = "processing"  # paid with a slow method (SEPA); the money is on its way
    FAILED = "failed"  # the slow method failed, or the checkout could not be opened
    EXPIRED = "expired"  # the checkout ran out unpaid
    AUTHORIZED = "authorized"  # card authorised, not captured: waits for staff approval
    CANCELLED = "cancelled"  # an authorisation given back (rejected or run out)
    PAID = "paid"


# Still waiting for the member or the gateway: reconciliation looks at these.
OPEN_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.AUTHORIZED)

RANK: dict[PaymentStatus, int] = {
    PaymentStatus.PENDING: 0,
    PaymentStatus.PROCESSING: 1,
    PaymentStatus.FAILED: 2,
    PaymentStatus.EXPIRED: 2,
    PaymentStatus.AUTHORIZED: 3,
    PaymentStatus.CANCELLED: 4,
    PaymentStatus.PAID: 5,
}


def advance(current: PaymentStatus, observed: PaymentStatus) -> PaymentStatus:
    """The status after learning ``observed``: it, if it lies ahead, else ``current``."""
    return observed if RANK[observed] > RANK[current] else current


def observed_status(checkout: Checkout) -> PaymentStatus:
    """What the gateway's view of a checkout means for our payment."""
    intent = checkout.intent
    if intent is not None:
        if intent.status is IntentStatus.SUCCEEDED:
            return PaymentStatus.PAID
        if intent.status is IntentStatus.REQUIRES_CAPTURE:
            return PaymentStatus.AUTHORIZED
        if intent.status is IntentStatus.PROCESSING:
            return PaymentStatus.PROCESSING
        if intent.status is IntentStatus.CANCELED:
            # An authorisation given back: "cancelled" if one was ever given, which only
            # manual capture does; a plain checkout's intent is cancelled when it expires.
            return (
                PaymentStatus.CANCELLED if checkout.manual_capture else PaymentStatus.EXPIRED
            )
        if checkout.status == "complete":
            # Completed but the intent needs a new payment method: an asynchronous
            # payment (SEPA) that failed.
            return PaymentStatus.FAILED
    if checkout.status == "expired":
        return PaymentStatus.EXPIRED
    return PaymentStatus.PENDING


# --- refund policy -------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundStep:
    """Cancelled at least ``notice`` before the start: this percentage comes back."""

    notice: timedelta
    percent: int


@dataclass(frozen=True)
class RefundQuote:
    percent: int
    amount_cents: int
    # The step that applied (None: too late for any refund).
    step: RefundStep | None


DEFAULT_POLICY: dict[ResourceKind, tuple[RefundStep, ...]] = {
    ResourceKind.DESK: (RefundStep(timedelta(hours=24), 100),),
    ResourceKind.STUDIO: (
        RefundStep(timedelta(hours=48), 100),
        RefundStep(timedelta(hours=24), 50),
    ),
    ResourceKind.ROOM: (
        RefundStep(timedelta(hours=48), 100),
        RefundStep(timedelta(hours=24), 50),
    ),
}


def refund_quote(
    steps: tuple[RefundStep, ...], *, paid_cents: int, starts_at: datetime, now: datetime
) -> RefundQuote:
    """The refund for cancelling now: the first step whose notice is still met.

    Rounded down to the cent, so a refund never exceeds its percentage of what was paid.
    """
    for step in sorted(steps, key=lambda s: s.notice, reverse=True):
        if now <= starts_at - step.notice:
            return RefundQuote(step.percent, paid_cents * step.percent // 100, step)
    return RefundQuote(0, 0, None)


def parse_policy(raw: object) -> dict[ResourceKind, tuple[RefundStep, ...]]:
    """Read ``REFUND_POLICY`` from the config: ``{"studio": [[48, 100], [24, 50]], ...}``.

    Hours of notice and a percentage per step. Kinds left out keep their default. Raises
    ``ValueError`` with a message fit for an operator on anything else.
    """
    policy = dict(DEFAULT_POLICY)
    if raw in (None, "", {}):
        return policy
    if not isinstance(raw, dict):
        raise ValueError("REFUND_POLICY must map a resource kind to [[hours, percent], ...]")
    for kind_name, rows in raw.items():
        try:
            kind = ResourceKind(kind_name)
        except ValueError:
            raise ValueError(f"REFUND_POLICY: unknown resource kind {kind_name!r}") from None
        if not isinstance(rows, list):
            raise ValueError(f"REFUND_POLICY[{kind_name}] must be a list of [hours, percent]")
        steps = []
        for row in rows:
            if (
                not isinstance(row, list | tuple)
                or len(row) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)
                or not 0 <= row[0] <= 24 * 365
                or not 0 <= row[1] <= 100
                # 50.5 would be cut to 50 without a word
                or row[1] != int(row[1])
            ):
                raise ValueError(
                    f"REFUND_POLICY[{kind_name}]: {row!r} is not [hours >= 0, percent 0..100]"
                )
            steps.append(RefundStep(timedelta(hours=row[0]), int(row[1])))
        steps.sort(key=lambda s: s.notice, reverse=True)
        for earlier, later in itertools.pairwise(steps):
            if earlier.notice == later.notice:
                raise ValueError(
                    f"REFUND_POLICY[{kind_name}]: two steps with "
                    f"{earlier.notice.total_seconds() / 3600:g} hours of notice"
                )
            if later.percent > earlier.percent:
                raise ValueError(
                    f"REFUND_POLICY[{kind_name}]: the percentage must not rise as the notice "
                    f"gets shorter ({later.percent} % at "
                    f"{later.notice.total_seconds() / 3600:g} h, {earlier.percent} % at "
                    f"{earlier.notice.total_seconds() / 3600:g} h)"
                )
        policy[kind] = tuple(steps)
    return policy
