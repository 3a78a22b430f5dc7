"""The audit log in words: readable names for the dotted actions and object kinds, and the
recorded details as labelled lines with local times and amounts.

The log itself keeps the raw form (dotted action names, JSON details with UTC instants):
tools filter on it, the member's data export and the page's "raw data" disclosure show it
unchanged. This module only decides how a person reads it. Every action name the services
write must have a label here; tests/staff/test_audit_page.py finds them in the source and
fails on a new one without a label.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import format_date, format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..core.audit import Channel
from ..core.money import money

# Readable names of the actions the services write. An action not listed here is shown by
# its dotted name (stable, and still saying what happened), but the tests refuse that.
ACTION_LABELS: dict[str, Any] = {
    "api_token.created": _l("API token created"),
    "api_token.revoked": _l("API token revoked"),
    "block.created": _l("Block created"),
    "block.deleted": _l("Block removed"),
    "booking.approved": _l("Booking approved"),
    "booking.cancelled": _l("Booking cancelled"),
    "booking.checked_in": _l("Checked in at the desk"),
    "booking.confirmed": _l("Booking confirmed (paid)"),
    "booking.created": _l("Booking made"),
    "booking.hold_expired": _l("Reservation expired unpaid"),
    "booking.hold_released": _l("Reservation released"),
    "booking.no_show_released": _l("Desk released (no check-in)"),
    "booking.rejected": _l("Booking rejected"),
    "booking.rescheduled": _l("Booking moved"),
    "charge.created": _l("Manual charge entered"),
    "closure.created": _l("Closure day entered"),
    "closure.removed": _l("Closure day removed"),
    "company.created": _l("Company created"),
    "company.invitation_withdrawn": _l("Invitation to a company withdrawn"),
    "company.left": _l("Left the company"),
    "company.manager_set": _l("Company manager set or unset"),
    "company.member_caps_set": _l("Member's monthly caps changed"),
    "company.member_invited": _l("Invited to a company"),
    "company.member_joined": _l("Joined a company by invitation"),
    "company.member_removed": _l("Removed from the company"),
    "company.updated": _l("Company details changed"),
    "company.invoice_permission_set": _l("Company's payment on invoice allowed or withdrawn"),
    "demo.seeded": _l("Demo data loaded"),
    "feed.revoked": _l("Calendar feed revoked"),
    "feed.rotated": _l("Calendar feed address renewed"),
    "induction.granted": _l("Induction recorded"),
    "induction.revoked": _l("Induction withdrawn"),
    "location.hours_changed": _l("Opening hours changed"),
    "membership.assigned": _l("Membership assigned"),
    "membership.chosen": _l("Tier chosen online by the member"),
    "membership.request_confirmed": _l("Membership request confirmed"),
    "membership.request_declined": _l("Membership request declined"),
    "membership.requested": _l("Tier asked for online by the member"),
    "membership.ended": _l("Membership ended"),
    "membership.ending_announced": _l("Member told their membership ends"),
    "membership.withdrawn": _l("Membership withdrawn"),
    "membership.switched": _l("Member switched to another fee-less tier"),
    "membership.ended_by_member": _l("Member ended their fee-less membership"),
    "subscription.change_requested": _l("Change of tier requested"),
    "subscription.change_planned": _l("Change of tier planned for the next period"),
    "subscription.tier_changed": _l("Tier changed"),
    "subscription.change_withdrawn": _l("Planned change of tier withdrawn"),
    "subscription.cancel_requested": _l("Membership cancelled with notice"),
    "subscription.cancel_withdrawn": _l("Cancellation withdrawn"),
    "outbox.discarded": _l("Failed message discarded"),
    "outbox.retried": _l("Failed message sent again"),
    # payment.<status>: a payment reached that state (payments/apply.py).
    "payment.authorized": _l("Payment authorised (awaiting approval)"),
    "payment.cancelled": _l("Payment authorisation given back"),
    "payment.checkout_opened": _l("Checkout opened"),
    "payment.expired": _l("Payment expired"),
    "payment.failed": _l("Payment failed"),
    "payment.paid": _l("Payment received"),
    "payment.pending": _l("Payment waiting"),
    "payment.processing": _l("Payment processing"),
    "payment.recorded_at_desk": _l("Payment recorded at the front desk (or put on invoice)"),
    "payment.transfer_recorded": _l("Bank transfer recorded"),
    "refund.created": _l("Refund started"),
    "refund.failed": _l("Refund failed"),
    "refund.late_payment": _l("Late payment refunded"),
    "refund.recorded": _l("Refund recorded"),
    "refund.succeeded": _l("Refund completed"),
    "resource.created": _l("Space created"),
    "resource.deactivated": _l("Space taken out of service"),
    "resource.deleted": _l("Space deleted"),
    "resource.feed_for_members_changed": _l("Calendar for members switched"),
    "resource.reactivated": _l("Space back in service"),
    "resource.requires_approval_changed": _l("Approval requirement switched"),
    "resource.updated": _l("Space changed"),
    "subscription.activated": _l("Monthly fee started"),
    "subscription.cancelled": _l("Monthly fee sign-up given up"),
    "subscription.ended": _l("Monthly fee ended"),
    "subscription.failure_armed": _l("Test: next monthly charge set to fail"),
    "subscription.method_updated": _l("Payment method for the monthly fee changed"),
    "subscription.past_due": _l("Monthly fee past due"),
    "subscription.period_failed": _l("Monthly charge failed"),
    "subscription.period_paid": _l("Monthly charge paid"),
    "subscription.period_void": _l("Monthly charge written off"),
    "subscription.reactivated": _l("Monthly fee paid again"),
    "subscription.started": _l("Monthly fee sign-up started"),
    "subscription.suspended": _l("Membership suspended for an unpaid fee"),
    "tier.created": _l("Tier created"),
    "tier.deleted": _l("Tier deleted"),
    "tier.updated": _l("Tier changed"),
    "user.company_set": _l("Company of a person changed"),
    "user.invoice_permission_set": _l("Payment on invoice allowed or withdrawn"),
    "user.created": _l("Account created by staff"),
    "user.deleted": _l("Account deleted"),
    "user.email_verified": _l("E-mail address confirmed"),
    "user.logged_in": _l("Logged in"),
    "user.password_changed": _l("Password changed"),
    "user.password_reset": _l("Password was reset"),
    "user.password_reset_requested": _l("Password reset requested"),
    "user.profile_updated": _l("Profile changed"),
    "user.registered": _l("Registered"),
    "user.registration_repeated": _l("Someone tried to register again with this address"),
    "user.role_changed": _l("Role changed"),
    "user.verification_requested": _l("E-mail confirmation requested"),
    "waitlist.accepted": _l("Waiting list: offer accepted"),
    "waitlist.declined": _l("Waiting list: offer declined"),
    "waitlist.joined": _l("Joined the waiting list"),
    "waitlist.left": _l("Left the waiting list"),
    "waitlist.offer_lapsed": _l("Waiting list: offer lapsed"),
    "waitlist.offered": _l("Waiting list: slot offered"),
}

OBJECT_LABELS: dict[str, Any] = {
    "api_token": _l("API token"),
    "block": _l("Block"),
    "booking": _l("Booking"),
    "calendar_feed": _l("Calendar feed"),
    "closure": _l("Closure day"),
    "company": _l("Company"),
    "location": _l("Location"),
    "outbox": _l("Message"),
    "payment": _l("Payment"),
    "resource": _l("Space"),
    "tier": _l("Tier"),
    "user": _l("Person"),
    "waitlist_entry": _l("Waiting list entry"),
}

# Through which door a change came in (core/audit.py says how each is set).
CHANNEL_LABELS: dict[Channel, Any] = {
    Channel.WEB: _l("Web"),
    Channel.API: _l("API"),
    Channel.CLI: _l("Command line"),
    Channel.WORKER: _l("Background worker"),
    Channel.UNKNOWN: _l("Not recorded"),
}

# The keys the services write into details. A key not listed is shown with its
# underscores as spaces.
DETAIL_LABELS: dict[str, Any] = {
    "allowed": _l("Allowed"),
    "amount_cents": _l("Amount"),
    "api_tokens_revoked": _l("API tokens revoked"),
    "booking_id": _l("Booking"),
    "blocks": _l("Blocks"),
    "booking_ids": _l("Bookings"),
    "bookings": _l("Bookings"),
    "bookings_affected": _l("Bookings affected"),
    "bookings_cancelled": _l("Bookings cancelled"),
    "by": _l("By"),
    "cancels_bookings": _l("Cancels bookings"),
    "changed": _l("Changed"),
    "charge": _l("Charge"),
    "checkout": _l("Checkout"),
    "cap_desk_days": _l("Cap in desk days"),
    "cap_desk_days_was": _l("Cap in desk days before"),
    "cap_studio_hours": _l("Cap in studio hours"),
    "cap_studio_hours_was": _l("Cap in studio hours before"),
    "company": _l("Company"),
    "company_was": _l("Company before"),
    "created": _l("Created"),
    "credit_returned": _l("Credit returned"),
    "deadline": _l("Deadline"),
    "description": _l("Description"),
    "desk_limit": _l("Desk limit"),
    "email": _l("E-mail address"),
    "end": _l("End"),
    "ended": _l("Ended"),
    "expires_at": _l("Expires"),
    "fields": _l("Fields"),
    "first_day": _l("First day"),
    "from": _l("Before"),
    "gross_cents": _l("Amount (gross)"),
    "granted_at": _l("Granted"),
    "half_day_split": _l("Half days split at"),
    "induction": _l("Induction"),
    "invitation": _l("Invitation"),
    "kind": _l("Kind"),
    "lang": _l("Language"),
    "last_day": _l("Last day"),
    "last_error": _l("Last error"),
    "location": _l("Location"),
    "location_id": _l("Location"),
    "manager": _l("Manager"),
    "member": _l("Member"),
    "membership": _l("Membership"),
    "message": _l("Message"),
    "method": _l("Paid by"),
    "name": _l("Name"),
    "net_cents": _l("Net"),
    "new_name": _l("New name"),
    "note": _l("Note"),
    "on_behalf_of": _l("On behalf of person"),
    "opening_hours": _l("Opening hours"),
    "overrides": _l("Rules overridden"),
    "override_reason": _l("Reason for the exception"),
    "payment_id": _l("Payment"),
    "price_gross_cents": _l("Price"),
    "prices": _l("Prices"),
    "provider": _l("Payment provider"),
    "provider_refund_id": _l("Refund at the provider"),
    "quota": _l("Quota"),
    "reason": _l("Reason"),
    "reference": _l("Transfer reference"),
    "received_cents": _l("Received"),
    "refund_cents": _l("Refund"),
    "refund_id": _l("Refund"),
    "request": _l("Request"),
    "resource": _l("Space"),
    "role": _l("Role"),
    "role_was": _l("Role before"),
    "slug": _l("Short name"),
    "start": _l("Start"),
    "status": _l("Status"),
    "tax_cents": _l("VAT"),
    "tier": _l("Tier"),
    "to": _l("After"),
    "topic": _l("Topic"),
    "trained_on": _l("Trained on"),
    "user_id": _l("Person"),
    "subscription": _l("Monthly fee"),
    "starts_on": _l("Starts on"),
    "since": _l("Since"),
    "payment_method": _l("Payment method"),
    "mandate_reference": _l("Mandate reference"),
    "monthly_cents": _l("Monthly amount"),
    "first_amount_cents": _l("First amount"),
    "period_start": _l("Period from"),
    "period": _l("Billed period"),
    "invoice": _l("Invoice at the provider"),
    "attempts": _l("Attempts"),
    "error": _l("Error"),
    "periods": _l("Billed periods"),
    "was": _l("Status before"),
    "label": _l("Label"),
    "valid_from": _l("Valid from"),
    "valid_until": _l("Valid until"),
    "valid_until_was": _l("Valid until before"),
    "vat_percent": _l("VAT rate (%)"),
    "via_member": _l("Changed on the page of person"),
}

# Codes the services write as values of these keys (free text, such as a cancellation
# reason typed by staff, is shown as it is).
CODE_KEYS = frozenset({"by", "from", "reason", "status", "method"})
# Keys whose values people type (a cancellation reason may be free text, so "reason" is
# looked up as a code but never read as a date).
FREE_TEXT_KEYS = frozenset(
    {"note", "override_reason", "message", "name", "new_name", "description", "reference"}
)
VALUE_LABELS: dict[str, Any] = {
    "desk_card": _l("card at the front desk"),
    "desk_cash": _l("cash at the front desk"),
    "invoice": _l("on invoice (bank transfer)"),
    "online": _l("online"),
    "authorized": _l("authorised"),
    "cancelled": _l("cancelled"),
    "checkout_never_opened": _l("the checkout was never opened"),
    "confirmed": _l("confirmed"),
    "expired": _l("expired"),
    "failed": _l("failed"),
    "gateway_unavailable": _l("the payment provider could not be reached"),
    "held": _l("reserved, awaiting payment"),
    "paid": _l("paid"),
    "paid_after_the_end": _l("paid after the booking had ended"),
    "pending": _l("waiting for payment"),
    "processing": _l("processing"),
    "self": _l("the member"),
    "staff": _l("staff"),
    "superseded": _l("replaced by a new membership"),
    "unpaid": _l("unpaid"),
    "account_deleted": _l("the account was deleted"),
    "replaced": _l("replaced by a new sign-up"),
    "checkout_expired": _l("the checkout ran out"),
    "gateway": _l("by the payment provider"),
}

# An instant as the services write it: isoformat() of an aware UTC datetime.
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([+-]\d{2}:\d{2}|Z)$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class DetailLine:
    """One recorded detail as a person reads it; nested details (a moved booking's old and
    new place) as lines below it."""

    label: str
    value: str = ""
    children: list[DetailLine] = field(default_factory=list)


def action_label(action: str) -> str:
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def object_label(object_type: str) -> str:
    label = OBJECT_LABELS.get(object_type)
    return str(label) if label is not None else object_type.replace("_", " ")


def channel_label(channel: Channel) -> str:
    return str(CHANNEL_LABELS[channel])


def raw_details(details: Any) -> str:
    """The details as recorded: indented JSON (escaped by the template like any text)."""
    if not details:
        return ""
    return json.dumps(details, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def readable_details(details: Any, topics: Mapping[str, str] | None = None) -> list[DetailLine]:
    """The details as labelled lines: instants in the reader's zone (Europe/Berlin) and
    language, amounts in euros, yes/no, known codes in words. ``topics`` names the values of
    "topic" (an induction's spaces, a message's kind) where the log holds only a key."""
    if not isinstance(details, dict):
        return [DetailLine(_("Value"), _value("", details))] if details else []
    return [
        DetailLine(_label("topic"), str(topics[value]))
        if key == "topic" and topics and isinstance(value, str) and value in topics
        else _line(str(key), value)
        for key, value in sorted(details.items())
    ]


def _label(key: str) -> str:
    label = DETAIL_LABELS.get(key)
    return str(label) if label is not None else key.replace("_", " ")


def _line(key: str, value: Any) -> DetailLine:
    if isinstance(value, dict):
        return DetailLine(_label(key), children=[
            DetailLine(_label(str(k)), _change(v) if key == "changed" else _value(str(k), v))
            if not isinstance(v, dict) else _line(str(k), v)
            for k, v in sorted(value.items())
        ])
    if key in ("opening_hours", "half_day_split") and isinstance(value, list):
        return DetailLine(_label(key), _change(value))
    return DetailLine(_label(key), _value(key, value))


def _change(value: Any) -> str:
    """A recorded change [before, after] as "before → after"."""
    if isinstance(value, list) and len(value) == 2:
        return f"{_value('', value[0])} → {_value('', value[1])}"
    return _value("", value)


def _value(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, int) and key.endswith("_cents"):
        return money(value)
    if isinstance(value, list):
        return ", ".join(_value(key, v) for v in value) or "–"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    text = str(value)
    if key in FREE_TEXT_KEYS:  # what a person typed is shown as typed, never parsed
        return text
    # OverflowError: a year 1 or 9999 instant leaves the datetime range when it is moved
    # into the reader's zone (a date-shaped value is free text somewhere, so never a 500).
    if _INSTANT.match(text):
        try:
            return format_datetime(datetime.fromisoformat(text.replace("Z", "+00:00")),
                                   "medium")
        except (ValueError, OverflowError):
            return text
    if _DAY.match(text):
        try:
            return format_date(date.fromisoformat(text), "medium")
        except (ValueError, OverflowError):
            return text
    if key in CODE_KEYS and text in VALUE_LABELS:
        return str(VALUE_LABELS[text])
    return text
