"""Words for monthly fees on staff pages (statuses, period kinds), and what the member page's
subscription section needs. Not a view module: the past-due page (``billing.py``) and the
member page (``members.py``) both use it."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from ..billing.past_due import member_billing
from ..extensions import db

SUBSCRIPTION_STATUS = {
    "incomplete": _l("Sign-up not completed"), "active": _l("Active"),
    "past_due": _l("Past due (retrying)"), "suspended": _l("Suspended"),
    "ended": _l("Ended"), "cancelled": _l("Never started"),
}
PERIOD_KIND = {"first": _l("First period"), "renewal": _l("Renewal"),
               "proration": _l("Change of tier (pro-rated)")}
PERIOD_STATUS = {"open": _l("Open"), "paid": _l("Paid"), "failed": _l("Failed"),
                 "void": _l("Written off")}
CHANGE_STATUS = {"pending": _l("in progress"), "planned": _l("planned"),
                 "applied": _l("applied"), "withdrawn": _l("withdrawn")}


def member_billing_context(member_id: int) -> dict[str, Any]:
    """What ``staff/_subscription.html`` needs on the member page."""
    return {
        "billing": member_billing(db.session, member_id),
        "subscription_status": lambda v: str(SUBSCRIPTION_STATUS.get(v, v)),
        "period_kind": lambda v: str(PERIOD_KIND.get(v, v)),
        "period_status": lambda v: str(PERIOD_STATUS.get(v, v)),
        "change_status": lambda v: str(CHANGE_STATUS.get(v, v)),
    }
