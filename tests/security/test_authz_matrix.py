"""Authorization matrix: every route of the app against every role.

One table, ``MATRIX``, maps each (endpoint, method) of ``app.url_map`` to the outcome expected
for the five roles ``anonymous``, ``member`` (owns the scene's objects), ``other`` (a second
member who owns none of them), ``staff`` and ``admin``. A route added without a row fails
``test_every_route_has_a_row``; a row for a route that no longer exists fails it as well.

Outcomes:

``ok``
    The request passes authorization: not 401/403/404, not a redirect to the log-in page,
    and no server error. For a POST sent with an empty (or minimal) body this includes the
    form being shown again with errors (200), a redirect after a refusal message (302), and
    the API's 400/409/422 answers for an invalid or impossible request: authorization comes
    first everywhere, so any of these means the role got past it.
``login``
    Anonymous on an HTML page: a 302 to ``/login``. On the API: 401.
``404`` / ``403`` / ``400`` / ``401``
    Exactly this status. Members get 404 (not 403) on staff pages and on other members'
    objects, so that they learn nothing about what exists; staff get 403 on admin-only pages.
    Webhooks are unauthenticated by design and answer 400 without a valid signature.

Anonymous and the other member must never see the member's name or e-mail address, in
any answer (except the two pages whose secret URL is the credential: the calendar feed and
the simulated checkout).

Signed-in roles also call every API route that needs a token without one, with their
browser session cookie: the API must answer 401 (it takes no CSRF token, so a session must
never count there).

For every outcome other than ``ok`` the test also checks that nothing changed: the row count
of every table and the status distribution of bookings, payments, waitlist entries, feeds
and users are the same before and after the request.

Each role walks all routes in one app (one test per role and database): GET routes first,
then the state-changing ones, with the few that end the session or delete their object last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String, cast, func, literal, select, union_all

from schiller40.booking.models import WaitlistEntry, WaitlistStatus
from schiller40.core import outbox
from schiller40.core.outbox import OutboxMessage
from schiller40.extensions import db
from schiller40.membership.models import MembershipRequest, RequestStatus
from schiller40.models import Company, CompanyInvitation, Role
from schiller40.payments.models import Payment
from schiller40.resources.models import Closure
from tests.factories import PASSWORD
from tests.helpers import TUE, WED, log_in, span

ROLES = ("anonymous", "member", "other", "staff", "admin")
OUTSIDE = "203.0.113.9"  # a non-loopback client address (matters for /dev/mail)


@pytest.fixture
def app_config(tmp_path: Path) -> dict:
    return dev_mail_config(tmp_path)


def dev_mail_config(tmp_path: Path) -> dict:
    """The folder mail backend with one stored message, so /dev/mail has something to show.

    /dev/mail exists only with the folder mail backend; the requests come from OUTSIDE, so
    only staff may read it (from the machine itself anyone may). Also used by the header
    sweep and the CSRF test (test_headers_and_secrets.py, test_cookies_and_csrf.py), which
    walk the same routes."""
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "20261123T080000-1.eml").write_bytes(
        b"From: a@example.org\r\nTo: b@example.org\r\nSubject: Hi\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n"
        b"--X\r\nContent-Type: text/plain\r\n\r\nHello\r\n"
        b"--X\r\nContent-Type: text/html\r\n\r\n<p>Hello</p>\r\n"
        b"--X\r\nContent-Type: text/calendar; method=REQUEST\r\n"
        b"Content-Disposition: attachment; filename=a.ics\r\n\r\nBEGIN:VCALENDAR\r\n"
        b"END:VCALENDAR\r\n--X--\r\n"
    )
    return {"MAIL_BACKEND": "folder", "MAIL_FOLDER": str(folder)}


def row(anonymous: str, member: str, other: str, staff: str, admin: str) -> tuple[str, ...]:
    return (anonymous, member, other, staff, admin)


PUBLIC = row("ok", "ok", "ok", "ok", "ok")
SIGNED_IN = row("login", "ok", "ok", "ok", "ok")
OWNED = row("login", "ok", "404", "ok", "ok")  # the member's object; staff see all
OWNED_ONLY = row("login", "ok", "404", "404", "404")  # the member's own, nobody else's
STAFF = row("login", "404", "404", "ok", "ok")
ADMIN = row("login", "404", "404", "403", "ok")
ADMIN_HIDDEN = row("login", "404", "404", "404", "ok")  # staff do not learn of it either
API_PUBLIC = PUBLIC
API_SIGNED_IN = row("401", "ok", "ok", "ok", "ok")
API_OWNED = row("401", "ok", "404", "ok", "ok")
API_OWNED_ONLY = row("401", "ok", "404", "404", "404")
API_STAFF = row("401", "404", "404", "ok", "ok")
# Without Stripe configured (the simulated gateway, as here) the webhook does not exist;
# test_webhook_checks_the_signature covers it with Stripe configured.
WEBHOOK = row("404", "404", "404", "404", "404")
DEV_MAIL = row("404", "404", "404", "ok", "ok")
# The caller's own company ("me"): the member manages company A, the other member company B;
# staff and the admin belong to none. Routes naming A's teammate or invitation are OWNED_ONLY.
OWN_COMPANY = row("login", "ok", "ok", "404", "404")
API_OWN_COMPANY = row("401", "ok", "ok", "404", "404")
BAD_LINK = row("400", "400", "400", "400", "400")  # an invitation link that is not valid

MATRIX: dict[tuple[str, str], tuple[str, ...]] = {
    # Public pages, health, static files
    ("main.index", "GET"): PUBLIC,
    ("main.resources", "GET"): PUBLIC,
    ("main.price_list", "GET"): PUBLIC,
    ("main.set_language", "POST"): PUBLIC,
    ("health.healthz", "GET"): PUBLIC,
    ("health.readyz", "GET"): PUBLIC,
    ("static", "GET"): PUBLIC,
    ("booking.availability", "GET"): PUBLIC,
    ("feeds.feed", "GET"): PUBLIC,  # the secret token in the URL is the credential
    # Accounts
    ("accounts.login", "GET"): PUBLIC,
    ("accounts.login", "POST"): PUBLIC,
    ("accounts.logout", "POST"): PUBLIC,
    ("accounts.register", "GET"): PUBLIC,
    ("accounts.register", "POST"): PUBLIC,
    ("account.forgot_password", "GET"): PUBLIC,
    ("account.forgot_password", "POST"): PUBLIC,
    ("account.reset_password", "GET"): PUBLIC,
    ("account.reset_password", "POST"): PUBLIC,
    ("account.verify_email", "GET"): PUBLIC,
    ("account.resend_verification", "POST"): SIGNED_IN,
    ("account.change_password", "GET"): SIGNED_IN,
    ("account.change_password", "POST"): SIGNED_IN,
    ("account.delete_account", "GET"): SIGNED_IN,
    ("account.delete_account", "POST"): SIGNED_IN,
    ("account.export", "GET"): SIGNED_IN,
    ("account.index", "GET"): SIGNED_IN,
    ("account.index", "POST"): SIGNED_IN,
    ("account.revoke_feed", "POST"): OWNED_ONLY,
    ("account.rotate_feed", "POST"): OWNED_ONLY,
    ("membership.index", "GET"): SIGNED_IN,
    ("membership.choose", "POST"): SIGNED_IN,  # the scene's tier is staff-only: refused
    ("membership.request_tier", "POST"): SIGNED_IN,
    # Company (HTML)
    ("company.index", "GET"): SIGNED_IN,
    ("company.new", "GET"): SIGNED_IN,
    ("company.new", "POST"): SIGNED_IN,
    ("company.details", "GET"): OWN_COMPANY,
    ("company.details", "POST"): OWN_COMPANY,
    ("company.invite", "POST"): OWN_COMPANY,
    ("company.leave", "POST"): OWN_COMPANY,  # the last manager of a team may not leave
    ("company.withdraw_invitation", "POST"): OWNED_ONLY,
    ("company.set_caps", "POST"): OWNED_ONLY,
    ("company.remove_member", "POST"): OWNED_ONLY,
    ("company.invitation", "GET"): BAD_LINK,
    ("company.invitation", "POST"): BAD_LINK,
    # Monthly fees (the member pays for the tier monthly; see build_scene)
    ("subscriptions.start", "GET"): SIGNED_IN,
    ("subscriptions.start", "POST"): SIGNED_IN,
    ("subscriptions.checkout_return", "GET"): OWNED_ONLY,
    ("subscriptions.overview", "GET"): SIGNED_IN,
    ("subscriptions.payment_method", "GET"): OWNED_ONLY,  # only whoever has a subscription
    ("subscriptions.payment_method", "POST"): OWNED_ONLY,
    # without ?session_id= there is nothing to come back from: 404 for everyone
    ("subscriptions.method_return", "GET"): row("login", "404", "404", "404", "404"),
    # the test switch: simulated gateway only, staff (or a development server)
    ("subscriptions.fail_next", "POST"): STAFF,
    # Booking (HTML)
    ("bookings.mine", "GET"): SIGNED_IN,
    ("booking.new", "GET"): SIGNED_IN,
    ("booking.new", "POST"): SIGNED_IN,
    ("booking.any_desk", "POST"): SIGNED_IN,
    ("booking.join_waitlist", "POST"): SIGNED_IN,
    ("booking.accept_offer", "POST"): OWNED_ONLY,
    ("booking.decline_offer", "POST"): OWNED_ONLY,
    ("bookings.check_in", "POST"): OWNED,
    ("bookings.reschedule", "GET"): OWNED_ONLY,  # staff move bookings in the calendar
    ("bookings.reschedule", "POST"): OWNED_ONLY,
    ("bookings.booking_ics", "GET"): OWNED,
    ("bookings.booking_detail", "GET"): OWNED,
    ("bookings.cancel", "GET"): OWNED,
    ("bookings.cancel", "POST"): OWNED,
    ("bookings.pay", "POST"): OWNED,  # staff may open the checkout, as in the API
    ("payments.payment_return", "GET"): OWNED,
    ("payments.simulated_checkout", "GET"): PUBLIC,
    ("payments.simulated_checkout", "POST"): PUBLIC,
    ("bookings.approve", "POST"): STAFF,
    ("bookings.reject", "POST"): STAFF,
    ("bookings.refund", "POST"): STAFF,
    ("webhooks.stripe_webhook", "POST"): WEBHOOK,
    # JSON API
    ("api_v1.openapi_document", "GET"): API_PUBLIC,
    ("api_v1.list_tiers", "GET"): API_PUBLIC,
    # one's own membership (no id: a member can only ever reach their own)
    ("api_v1.get_membership", "GET"): API_SIGNED_IN,
    ("api_v1.post_membership", "POST"): API_SIGNED_IN,
    ("membership.change_page", "GET"): SIGNED_IN,
    ("membership.change", "POST"): SIGNED_IN,
    ("membership.withdraw_change", "POST"): SIGNED_IN,
    ("membership.cancel_page", "GET"): SIGNED_IN,
    ("membership.cancel", "POST"): SIGNED_IN,
    ("membership.withdraw_cancellation", "POST"): SIGNED_IN,
    ("api_v1.create_token", "POST"): API_PUBLIC,
    ("api_v1.delete_current_token", "DELETE"): API_SIGNED_IN,
    ("api_v1.availability", "GET"): API_SIGNED_IN,
    ("api_v1.list_resources", "GET"): API_SIGNED_IN,
    ("api_v1.list_bookings", "GET"): API_SIGNED_IN,
    ("api_v1.create_booking", "POST"): API_SIGNED_IN,
    ("api_v1.get_booking", "GET"): API_OWNED,
    ("api_v1.reschedule_booking", "PATCH"): API_OWNED,
    ("api_v1.cancel_booking", "POST"): API_OWNED,
    ("api_v1.cancellation_terms", "GET"): API_OWNED,
    ("api_v1.check_in_booking", "POST"): API_OWNED,
    ("api_v1.open_checkout", "POST"): API_OWNED,
    ("api_v1.booking_payments", "GET"): API_OWNED,
    ("api_v1.approve_booking", "POST"): API_STAFF,
    ("api_v1.reject_booking", "POST"): API_STAFF,
    ("api_v1.create_refund", "POST"): API_STAFF,
    ("api_v1.my_company", "GET"): API_OWN_COMPANY,
    ("api_v1.my_company_members", "GET"): API_OWN_COMPANY,
    ("api_v1.update_company_member", "PATCH"): API_OWNED_ONLY,
    ("api_v1.list_feeds", "GET"): API_SIGNED_IN,
    ("api_v1.rotate_feed", "POST"): API_OWNED_ONLY,
    ("api_v1.revoke_feed", "DELETE"): API_OWNED_ONLY,
    ("api_v1.list_waitlist", "GET"): API_SIGNED_IN,
    ("api_v1.join_waitlist", "POST"): API_SIGNED_IN,
    ("api_v1.accept_offer", "POST"): API_OWNED_ONLY,
    ("api_v1.decline_offer", "POST"): API_OWNED_ONLY,
    # Developer mail folder
    ("devmail.index", "GET"): DEV_MAIL,
    ("devmail.show", "GET"): DEV_MAIL,
    ("devmail.html", "GET"): DEV_MAIL,
    ("devmail.attachment", "GET"): DEV_MAIL,
    # Staff area
    ("staff.index", "GET"): STAFF,
    ("staff.approvals", "GET"): STAFF,
    ("staff.approval_approve", "POST"): STAFF,
    ("staff.approval_reject", "POST"): STAFF,
    ("staff.audit_log", "GET"): STAFF,
    ("staff.blocks", "GET"): STAFF,
    ("staff.block_delete", "POST"): STAFF,
    ("staff.calendar", "GET"): STAFF,
    ("staff.calendar_week", "GET"): STAFF,
    ("staff.calendar_block", "POST"): STAFF,
    ("staff.calendar_book", "POST"): STAFF,
    ("staff.calendar_new", "GET"): STAFF,
    ("staff.calendar_move", "GET"): STAFF,
    ("staff.calendar_move", "POST"): STAFF,
    ("staff.closure_delete", "POST"): STAFF,
    ("staff.desks", "GET"): STAFF,
    ("staff.companies", "GET"): STAFF,
    ("staff.company_new", "GET"): STAFF,
    ("staff.company_new", "POST"): STAFF,
    ("staff.company", "GET"): STAFF,
    ("staff.company", "POST"): STAFF,
    ("staff.company_manager", "POST"): STAFF,
    ("staff.desk_index", "GET"): STAFF,
    ("staff.record_transfer", "POST"): STAFF,
    ("staff.add_charge", "GET"): STAFF,
    ("staff.add_charge", "POST"): STAFF,
    ("staff.invoice_permission", "GET"): STAFF,
    ("staff.invoice_permission", "POST"): STAFF,
    ("staff.location", "GET"): STAFF,
    ("staff.location_page", "GET"): STAFF,
    ("staff.closure_add", "POST"): STAFF,
    ("staff.location_hours", "POST"): STAFF,
    ("staff.members", "GET"): STAFF,
    ("staff.member", "GET"): STAFF,
    ("staff.set_company", "GET"): STAFF,
    ("staff.set_company", "POST"): STAFF,
    ("staff.revoke_induction", "GET"): STAFF,
    ("staff.revoke_induction", "POST"): STAFF,
    ("staff.grant_induction", "GET"): STAFF,
    ("staff.grant_induction", "POST"): STAFF,
    ("staff.end_membership", "GET"): STAFF,
    ("staff.end_membership", "POST"): STAFF,
    ("staff.withdraw_membership", "POST"): STAFF,
    ("staff.assign_tier", "GET"): STAFF,
    ("staff.assign_tier", "POST"): STAFF,
    ("staff.set_role", "GET"): ADMIN_HIDDEN,
    ("staff.set_role", "POST"): ADMIN_HIDDEN,
    ("staff.membership_requests", "GET"): STAFF,
    ("staff.confirm_membership_request", "POST"): STAFF,
    ("staff.decline_membership_request", "POST"): STAFF,
    ("staff.outbox", "GET"): STAFF,
    ("staff.outbox_discard", "POST"): STAFF,
    ("staff.outbox_retry", "POST"): STAFF,
    ("staff.resources", "GET"): STAFF,
    ("staff.resource_edit", "GET"): STAFF,
    ("staff.resource_edit", "POST"): STAFF,
    ("staff.resource_set_active", "POST"): STAFF,
    ("staff.resource_delete", "GET"): STAFF,
    ("staff.resource_delete", "POST"): STAFF,
    ("staff.resource_new", "GET"): STAFF,
    ("staff.resource_new", "POST"): STAFF,
    ("staff.tiers", "GET"): STAFF,
    ("staff.past_due_list", "GET"): STAFF,
    ("staff.tier_edit", "GET"): ADMIN,
    ("staff.tier_edit", "POST"): ADMIN,
    ("staff.tier_delete", "GET"): ADMIN,
    ("staff.tier_delete", "POST"): ADMIN,
    ("staff.tier_new", "GET"): ADMIN,
    ("staff.tier_new", "POST"): ADMIN,
    ("staff.utilisation_page", "GET"): STAFF,
    ("staff.utilisation_csv", "GET"): STAFF,
}

# Requests that end the session, delete their object or change what later rows rely on.
LAST = (
    "company.remove_member", "bookings.cancel", "api_v1.cancel_booking", "staff.resource_delete", "staff.tier_delete",
    "api_v1.delete_current_token", "account.delete_account", "accounts.logout",
)


def test_every_route_has_a_row(app):
    routes = set(route_rules(app))
    missing = sorted(routes - MATRIX.keys())
    stale = sorted(MATRIX.keys() - routes)
    assert not missing, f"routes without a row in the authorization matrix: {missing}"
    assert not stale, f"rows for routes that no longer exist: {stale}"


@dataclass
class Scene:
    args: dict[str, Any]  # URL argument name -> value
    per_endpoint: dict[str, dict[str, Any]]  # endpoint -> overrides
    bodies: dict[str, Any]  # API endpoint -> JSON body (default: {})

    def url(self, app, rule) -> str:
        """The path of ``rule`` with the scene's objects filled in."""
        from flask import url_for

        values = {**self.args, **self.per_endpoint.get(rule.endpoint, {})}
        with app.test_request_context():
            return url_for(rule.endpoint, **{a: values[a] for a in rule.arguments})


def route_rules(app) -> dict[tuple[str, str], Any]:
    """Every (endpoint, method) of the app with its URL rule (HEAD and OPTIONS left out)."""
    return {
        (rule.endpoint, method): rule
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def _api(client, method, path, token=None, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.open(path, method=method, headers=headers, **kw)


def _token(client, user) -> str:
    response = _api(client, "POST", "/api/v1/tokens",
                    json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def booking_id(response) -> int:
    """The id of the booking a POST /api/v1/bookings made."""
    return response.get_json()["booking"]["id"]


def build_scene(app, client, place, factory, clock) -> tuple[Scene, dict[str, Any]]:
    place.member.name = MEMBER_NAME
    other = factory.user(tier=place.tier, email="otto@example.org")
    spare = factory.user(tier=place.tier, email="spare@example.org")  # staff act on them
    admin = factory.user(role=Role.ADMIN, email="admin@example.org")
    spare_induction = factory.induction(user=spare, topic="ar-vr-studio")
    spare_membership = spare.memberships[0]
    spare_resource = factory.resource(location=place.location, slug="spare-room")
    spare_tier = factory.tier(slug="spare-tier")
    spare_request = MembershipRequest(user=spare, tier=spare_tier, message="", decline_reason="",
                                      status=RequestStatus.OPEN, created_at=clock())
    db.session.add(spare_request)
    block = factory.block(resource=place.room, starts_at=clock() + timedelta(days=5))
    closure_day = (clock() + timedelta(days=20)).date()
    closure = Closure(location=place.location, first_day=closure_day, last_day=closure_day,
                      reason="Inventory")
    db.session.add(closure)
    db.session.commit()

    # Company A: the member manages it, with a teammate and an open invitation; company B:
    # the other member manages it, with a teammate of their own.
    company_a = Company(name="Alpha", created_at=clock())
    company_b = Company(name="Beta", created_at=clock())
    teammate = factory.user(tier=place.tier, email="tina@example.org")
    olga = factory.user(tier=place.tier, email="olga@example.org")
    place.member.join_company(company_a, manager=True)
    teammate.join_company(company_a)
    other.join_company(company_b, manager=True)
    olga.join_company(company_b)
    invitation = CompanyInvitation(company=company_a, email="ina@example.org", nonce="n" * 32,
                                   digest="d" * 64, created_at=clock(),
                                   expires_at=clock() + timedelta(days=14))
    db.session.add(invitation)
    db.session.commit()

    member_token = _token(client, place.member)
    other_token = _token(client, other)
    desk = _api(client, "POST", "/api/v1/bookings", member_token,
                json={"resource": "desk-a1", **span(WED, 8, 13)})
    assert desk.status_code == 201, desk.get_json()
    held = _api(client, "POST", "/api/v1/bookings", member_token,
                json={"resource": "room", **span(TUE, 10, 11)})
    assert held.status_code == 201, held.get_json()
    held_id = booking_id(held)
    checkout = _api(client, "POST", f"/api/v1/bookings/{held_id}/checkout", member_token)
    assert checkout.status_code == 200, checkout.get_json()
    otto = _api(client, "POST", "/api/v1/bookings", other_token,
                json={"resource": "desk-b1", **span(WED, 8, 13)})
    assert otto.status_code == 201, otto.get_json()
    feeds = _api(client, "GET", "/api/v1/feeds", member_token).get_json()["feeds"]
    feed = feeds[0]
    feed_token = re.search(r"/feeds/([^/]+)\.ics", feed["url"]).group(1)

    payment = db.session.scalars(select(Payment).where(Payment.user_id == place.member.id)).one()
    entry = WaitlistEntry(resource=place.studio, user=place.member,
                          starts_at=clock() + timedelta(days=3),
                          ends_at=clock() + timedelta(days=3, hours=1),
                          status=WaitlistStatus.WAITING, created_at=clock(),
                          updated_at=clock())
    db.session.add(entry)
    outbox.enqueue(db.session, topic="mail.booking_confirmed", now=clock(),
                   payload={"booking_ids": []}, user_id=place.member.id, key="authz")
    db.session.flush()
    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.key == "authz")).one()
    db.session.commit()
    subscription = _monthly_fee(place, clock)

    args = {
        "booking_id": booking_id(desk), "payment_id": payment.id, "entry_id": entry.id,
        "feed_id": feed["id"], "token": "not-a-valid-token", "slug": place.studio.slug,
        "checkout_id": payment.checkout_id, "member_id": place.member.id,
        "induction_id": spare_induction.id, "membership_id": spare_membership.id,
        "block_id": block.id, "closure_id": closure.id, "location_id": place.location.id,
        "resource_id": place.room.id, "tier_id": place.tier.id, "message_id": message.id,
        "filename": "favicon.svg", "name": "20261123T080000-1.eml", "index": 0,
        "request_id": spare_request.id,
        "invitation_id": invitation.id, "company_id": company_a.id,
        "subscription_id": subscription.id,
    }
    per_endpoint = {
        "feeds.feed": {"token": feed_token},
        "bookings.pay": {"booking_id": held_id},
        "bookings.booking_detail": {"booking_id": held_id},
        "api_v1.open_checkout": {"booking_id": held_id},
        "api_v1.booking_payments": {"booking_id": held_id},
        "staff.revoke_induction": {"member_id": spare.id},
        "staff.end_membership": {"member_id": spare.id},
        "staff.withdraw_membership": {"member_id": spare.id},
        "staff.add_charge": {"member_id": spare.id},
        "staff.invoice_permission": {"member_id": spare.id},
        "staff.resource_delete": {"resource_id": spare_resource.id},
        "staff.resource_set_active": {"resource_id": spare_resource.id},
        "staff.tier_delete": {"tier_id": spare_tier.id},
        "company.set_caps": {"member_id": teammate.id},
        "company.remove_member": {"member_id": teammate.id},
        "api_v1.update_company_member": {"member_id": teammate.id},
        "subscriptions.start": {"slug": place.tier.slug},
    }
    users = {"member": place.member, "other": other, "staff": place.staff, "admin": admin}
    # A valid body where the API would otherwise refuse the body before looking at the
    # booking (a 422 for everyone, which says nothing about authorization).
    bodies = {"api_v1.reschedule_booking": span(WED, 14, 19)}
    return Scene(args, per_endpoint, bodies), users


def _monthly_fee(place, clock):
    """The member pays for their tier monthly: signed up and paid on the simulated checkout."""
    from schiller40.billing import service
    from schiller40.billing.settings import current_billing
    from schiller40.core.time import to_local
    from schiller40.payments.setup import gateway

    def urls(subscription_id: int) -> service.CheckoutUrls:
        return service.CheckoutUrls("http://localhost/?session_id={CHECKOUT_SESSION_ID}",
                                    "http://localhost/")

    from schiller40.membership.models import SignupMode

    place.tier.signup_mode = SignupMode.SELF_SERVICE  # a tier members take online
    db.session.commit()
    sub = service.start_subscription(
        db.session, gateway(), member=place.member, tier_id=place.tier.id,
        starts_on=to_local(clock()).date(), payment_method="card", now=clock(),
        settings=current_billing(), urls=urls,
    )
    gateway().complete_subscription_checkout(sub.checkout_id, payment_method="card", iban=None,
                                             now=clock())
    return service.refresh_checkout(db.session, gateway(), subscription_id=sub.id, now=clock(),
                                    settings=current_billing())


MEMBER_NAME = "Mia Mustermann"
# Whose secret URL is the credential: they show the member's data to whoever holds it.
BY_SECRET_URL = ("feeds.feed", "payments.simulated_checkout")
# What must not appear in any answer to someone who is neither the member nor staff.
PRIVATE = (MEMBER_NAME, "mia@example.org")


SNAPSHOT_STATUSES = ("booking", "payment", "waitlist_entry", "user", OutboxMessage.__tablename__)


def snapshot() -> list[tuple]:
    """Row counts of every table, how many rows of the key tables are in which state, and
    the feeds' revocations and rotations (a rotation changes no count)."""
    queries = [
        select(literal(table.name), cast(literal(""), String), func.count()).select_from(table)
        for table in db.metadata.sorted_tables
    ]
    tables = {t.name: t for t in db.metadata.sorted_tables}
    for name in SNAPSHOT_STATUSES:
        column = tables[name].c.role if name == "user" else tables[name].c.status
        queries.append(
            select(literal(name), cast(column, String), func.count())
            .select_from(tables[name]).group_by(column)
        )
    feed = tables["calendar_feed"]
    db.session.rollback()
    rows = db.session.execute(union_all(*queries)).all()
    rows += db.session.execute(
        select(feed.c.id, feed.c.revoked_at, feed.c.rotated_at).order_by(feed.c.id)
    ).all()
    db.session.rollback()
    return sorted(tuple(str(v) for v in r) for r in rows)


def judge(expected: str, response, api: bool) -> bool:
    status = response.status_code
    location = response.headers.get("Location", "")
    if expected == "ok":
        to_login = status in (301, 302, 303) and "/login" in location
        return status < 500 and status not in (401, 403, 404) and not to_login
    if expected == "login":
        if api:
            return status == 401
        return status == 302 and "/login" in location
    return status == int(expected)


def order(item: tuple[str, str]) -> tuple[int, str, str]:
    endpoint, method = item
    if endpoint in LAST:
        return (2, str(LAST.index(endpoint)), method)
    return (0 if method == "GET" else 1, endpoint, method)


@pytest.mark.parametrize("role", ROLES)
def test_authorization_matrix(role, app, client, place, factory, clock):
    scene, users = build_scene(app, client, place, factory, clock)
    index = ROLES.index(role)
    client.environ_base["REMOTE_ADDR"] = OUTSIDE
    token = None
    if role != "anonymous":
        user = users[role]
        log_in(client, user)
        token = _token(client, user)

    rules = route_rules(app)
    failures = []
    checked = 0
    seen_private = False
    for endpoint, method in sorted(rules, key=order):
        url = scene.url(app, rules[(endpoint, method)])
        api = endpoint.startswith("api_v1.")
        expected = MATRIX[(endpoint, method)][index]
        before = snapshot() if expected != "ok" else None
        kw: dict[str, Any] = {}
        if api and method in ("POST", "PATCH"):
            kw["json"] = scene.bodies.get(endpoint, {})
        if api and token and MATRIX[(endpoint, method)][0] == "401":
            # The browser session is no API credential (the API takes no CSRF token).
            before_cookie = snapshot()
            by_cookie = _api(client, method, url, None, **kw)
            checked += 1
            if by_cookie.status_code != 401 or snapshot() != before_cookie:
                failures.append(f"{method} {url} ({endpoint}) with the session cookie and no "
                                f"token: expected 401, got {by_cookie.status_code}")
        response = _api(client, method, url, token if api else None, **kw)
        checked += 1
        if role == "member" and MEMBER_NAME.encode() in response.data:
            seen_private = True
        if not judge(expected, response, api):
            failures.append(f"{method} {url} ({endpoint}): expected {expected}, got "
                            f"{response.status_code} {response.headers.get('Location', '')}")
        elif role in ("anonymous", "other") and endpoint not in BY_SECRET_URL and any(
            secret.encode() in response.data for secret in PRIVATE
        ):
            failures.append(f"{method} {url} ({endpoint}): shows the member's data")
        elif before is not None and snapshot() != before:
            failures.append(f"{method} {url} ({endpoint}): refused ({response.status_code}) "
                            "but the database changed")
    assert checked >= len(MATRIX)
    assert not failures, "\n".join(failures)
    assert seen_private or role != "member", "the member's own pages never showed their name"


def test_webhook_checks_the_signature(app, client, place, factory, clock):
    """With Stripe configured the webhook takes no log-in, only Stripe's signature: without
    a valid one it answers 400 to everyone, signed in or not, and changes nothing."""
    scene, users = build_scene(app, client, place, factory, clock)
    app.config.update(PAYMENT_PROVIDER="stripe", STRIPE_WEBHOOK_SECRET="whsec_authz")
    client.environ_base["REMOTE_ADDR"] = OUTSIDE
    event = {"id": "evt_1", "type": "checkout.session.completed",
             "data": {"object": {"id": scene.args["checkout_id"]}}}
    bearer = {"Authorization": f"Bearer {_token(client, users['staff'])}"}
    before = snapshot()
    for headers in ({}, {"Stripe-Signature": "t=1,v1=00"}, bearer,
                    {**bearer, "Stripe-Signature": "t=1,v1=00"}):
        assert client.post("/webhooks/stripe", json=event, headers=headers).status_code == 400
    assert snapshot() == before
    log_in(client, users["admin"])
    before = snapshot()
    assert client.post("/webhooks/stripe", json=event).status_code == 400
    assert snapshot() == before
