"""Import every model so that SQLAlchemy's registry and Alembic see the whole schema."""

from .accounts.models import ApiToken, Company, Role, User
from .billing.models import BillingPeriod, Subscription, SubscriptionStatus
from .booking.models import Booking, BookingStatus, WaitlistEntry, WaitlistStatus
from .core.audit import AuditEntry
from .core.outbox import OutboxMessage, OutboxStatus
from .feeds.models import CalendarFeed, FeedKind
from .membership.models import Induction, Membership, MembershipStatus, Tier, TierKindPrice
from .payments.models import (
    Payment,
    PaymentStatus,
    Refund,
    SimulatedCheckout,
    SimulatedSubscription,
    WebhookEvent,
)
from .resources.models import (
    Block,
    BlockKind,
    BookingUnit,
    Closure,
    Location,
    OpeningHours,
    Resource,
    ResourceKind,
)

__all__ = [
    "ApiToken",
    "AuditEntry",
    "BillingPeriod",
    "Block",
    "BlockKind",
    "Booking",
    "BookingStatus",
    "BookingUnit",
    "CalendarFeed",
    "Closure",
    "Company",
    "FeedKind",
    "Induction",
    "Location",
    "Membership",
    "MembershipStatus",
    "OpeningHours",
    "OutboxMessage",
    "OutboxStatus",
    "Payment",
    "PaymentStatus",
    "Refund",
    "Resource",
    "ResourceKind",
    "Role",
    "SimulatedCheckout",
    "SimulatedSubscription",
    "Subscription",
    "SubscriptionStatus",
    "Tier",
    "TierKindPrice",
    "User",
    "WaitlistEntry",
    "WaitlistStatus",
    "WebhookEvent",
]
