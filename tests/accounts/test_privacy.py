"""The member's data: download everything (GDPR art. 15/20) and delete the account (art. 17),
end to end on the embedded default (the simulated gateway), in both databases."""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import partial

import pytest
from flask import current_app
from sqlalchemy import select

from schiller40.accounts import tokens
from schiller40.accounts.models import ApiToken
from schiller40.booking.models import Booking, BookingStatus, WaitlistEntry, WaitlistStatus
from schiller40.booking.settings import current_settings
from schiller40.core.audit import AuditEntry
from schiller40.errors import NotFound
from schiller40.extensions import db
from schiller40.feeds import service as feed_service
from schiller40.feeds import tokens as feed_tokens
from schiller40.feeds.models import CalendarFeed
from schiller40.members import privacy
from schiller40.models import Induction, Membership, MembershipStatus, Role, User
from schiller40.payments.models import Payment, PaymentStatus, RefundStatus, SimulatedCheckout
from schiller40.payments.setup import gateway
from tests.factories import PASSWORD
from tests.helpers import TUE, WED, book_hours, browser, count_rows, fresh, pay, text_of, tr, trn
from tests.html import page


@pytest.fixture
def mia(app, place):
    return browser(app, place.member)


# Rows as the database has them now (the test session's transaction ends first).
count = partial(count_rows, rollback=True)


def feed_url_path(user) -> str:
    (feed,) = [f for f in feed_service.feeds_for(db.session, user=user, now=datetime_now())
               if f.scope == "member"]
    return f"/feeds/{feed_tokens.token_for(feed, current_app.config['SECRET_KEY'])}.ics"


def datetime_now():
    return current_app.extensions["schiller40.clock"]()


def waiting(user, resource, clock) -> WaitlistEntry:
    start = clock() + timedelta(days=3)
    entry = WaitlistEntry(resource=resource, user=user, starts_at=start,
                          ends_at=start + timedelta(hours=1), status=WaitlistStatus.WAITING,
                          created_at=clock(), updated_at=clock())
    db.session.add(entry)
    db.session.commit()
    return entry


@pytest.fixture
def jonas(factory, place, clock):
    """Another member, with things of his own that must never leak into Mia's data."""
    user = factory.user(tier=place.tier, email="jonas.geheim@example.org", name="Jonas Geheim")
    factory.booking(resource=place.room, user=user, note="JONAS-PRIVATE-NOTE",
                    starts_at=clock() + timedelta(days=2))
    db.session.commit()
    return user


# --- export ---------------------------------------------------------------------------------


def test_the_export_holds_the_members_data_and_nothing_secret(app, mia, place, factory, clock,
                                                               jonas):
    company = factory.company(name="Pixelwerk GmbH")
    place.member.company = company
    jonas.company = company  # a colleague: his data is still his own
    db.session.commit()
    (paid,) = book_hours(place.member, place.room, clock, day=TUE, start=10, end=11, note="Beamer")
    pay(mia, paid.id)
    assert mia.post(f"/bookings/{paid.id}/cancel", data={"reason": "Krank"}).status_code == 302
    entry = waiting(place.member, place.room, clock)
    feed_path = feed_url_path(place.member)
    api_token, token_row = tokens.issue(db.session, email=place.member.email,
                                        password=PASSWORD, now=clock())
    password_hash = place.member.password_hash

    response = mia.get("/account/export.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="schiller40-my-data-2026-11-23.json"')
    assert "no-store" in response.headers["Cache-Control"]
    raw = response.get_data(as_text=True)
    data = json.loads(raw)

    assert data["format"] == "schiller40-personal-data" and data["version"] == 1
    assert data["generated_at"] == "2026-11-23T09:00:00+01:00"
    assert data["profile"]["email"] == "mia@example.org"
    assert data["profile"]["name"] == place.member.name
    assert data["company"]["name"] == "Pixelwerk GmbH"
    (membership,) = data["memberships"]
    assert membership["tier"]["slug"] == "flex" and membership["valid_from"] == "2026-01-01"
    assert [i["topic"] for i in data["inductions"]] == ["ar-vr-studio"]
    (booking,) = data["bookings"]
    assert booking["id"] == paid.id and booking["note"] == "Beamer"
    assert (booking["start"], booking["end"]) == ("2026-11-24T10:00:00+01:00",
                                                  "2026-11-24T11:00:00+01:00")
    assert booking["status"] == "cancelled" and booking["cancel_reason"] == "Krank"
    assert booking["price"]["gross_cents"] == 1200
    (payment,) = data["payments"]
    assert payment["status"] == "paid" and payment["booking_ids"] == [paid.id]
    (refund,) = payment["refunds"]
    assert (refund["amount_cents"], refund["status"]) == (600, "succeeded")
    (waitlisted,) = data["waitlist_entries"]
    assert waitlisted["id"] == entry.id and waitlisted["status"] == "waiting"
    assert {f["scope"] for f in data["calendar_feeds"]} >= {"member"}
    assert all(set(f) == {"kind", "scope", "active", "created_at", "address_changed_at",
                          "switched_off_at", "last_fetched_at"} for f in data["calendar_feeds"])
    (token,) = data["api_tokens"]
    assert token["id"] == token_row.id and set(token) == {
        "id", "created_at", "expires_at", "last_used_at", "revoked_at"}
    actions = [e["action"] for e in data["audit_entries"]]
    assert {"user.logged_in", "booking.created", "booking.cancelled",
            "api_token.created"} <= set(actions)
    assert all(e["actor"] in ("you", "staff", "system") for e in data["audit_entries"])

    # No secret: the feed's URL token and salt, the API token and its digest, the password
    # hash, the checkout's address.
    feed = db.session.scalar(select(CalendarFeed).where(
        CalendarFeed.owner_id == place.member.id, CalendarFeed.scope == "member"))
    secrets = [feed_path.split("/")[-1][:-4], feed.salt, api_token,
               tokens.digest(api_token), password_hash]
    checkout_url = fresh(Payment, payment["id"]).checkout_url
    assert checkout_url
    secrets.append(checkout_url)
    for secret in secrets:
        assert secret not in raw
    # Nothing of another member, not even a colleague's.
    for theirs in ("Jonas Geheim", "jonas.geheim@example.org", "JONAS-PRIVATE-NOTE"):
        assert theirs not in raw


def test_staff_exports_carry_no_details_about_other_members(app, place, clock, jonas):
    (booking_id,) = [b.id for b in db.session.scalars(
        select(Booking).where(Booking.user_id == jonas.id))]
    staff = browser(app, place.staff)
    done = staff.post(f"/bookings/{booking_id}/cancel",
                      data={"reason": "Jonas Geheim asked by phone", "refund": "none"})
    assert done.status_code == 302
    raw = staff.get("/account/export.json").get_data(as_text=True)
    data = json.loads(raw)
    (entry,) = [e for e in data["audit_entries"] if e["action"] == "booking.cancelled"]
    assert entry["actor"] == "you" and entry["details"] == {}
    assert "Jonas" not in raw and "JONAS-PRIVATE-NOTE" not in raw
    assert data["bookings"] == []


def test_the_export_service_reads_only_the_member(app, place, jonas, clock):
    data = privacy.export_data(db.session, user=jonas, now=clock())
    assert data["profile"]["email"] == "jonas.geheim@example.org"
    assert len(data["bookings"]) == 1 and data["bookings"][0]["note"] == "JONAS-PRIVATE-NOTE"
    assert "mia@example.org" not in json.dumps(data)
    assert data["inductions"] == []  # Mia's induction is hers


# --- deletion -------------------------------------------------------------------------------


@pytest.fixture
def mias_things(app, mia, place, factory, clock):
    """Mia with everything deletion must deal with; ids and secrets to check afterwards."""
    place.studio.requires_approval = True
    company = factory.company(name="Pixelwerk GmbH")
    place.member.company = company
    db.session.commit()
    # Paid room, 25 hours ahead: the policy gives half back (6,00 of 12,00 €).
    (paid,) = book_hours(place.member, place.room, clock, day=TUE, start=10, end=11, note="Beamer")
    pay(mia, paid.id)
    # A studio booking awaiting the studio team's approval (card authorised, not charged).
    (pending,) = book_hours(place.member, place.studio, clock, day=TUE, start=14, end=16)
    pay(mia, pending.id)
    assert fresh(Booking, pending.id).payment.status is PaymentStatus.AUTHORIZED
    # Included in the tier: a desk morning.
    (included,) = book_hours(place.member, place.desks[0], clock, day=WED, start=8, end=13)
    # Started an hour ago: not cancelled, kept.
    ongoing = factory.booking(resource=place.desks[1], user=place.member,
                              starts_at=clock() - timedelta(hours=1), duration=timedelta(hours=3),
                              note="Schlüssel bei Frau Meier")
    db.session.commit()
    entry = waiting(place.member, place.room, clock)
    feed_path = feed_url_path(place.member)
    api_token, _row = tokens.issue(db.session, email=place.member.email, password=PASSWORD,
                                   now=clock())
    assert fresh(Booking, included.id).price_gross_cents == 0
    return type("Things", (), dict(paid=paid.id, pending=pending.id, included=included.id,
                                   ongoing=ongoing.id, entry=entry.id, feed_path=feed_path,
                                   api_token=api_token, company=company.id))


def test_the_delete_page_shows_the_refunds_first(mia, place, mias_things):
    response = mia.get("/account/delete")
    assert response.status_code == 200
    shown = text_of(response)
    assert tr("%(amount)s of %(paid)s (%(percent)d %%)", amount="6,00\xa0€",
              paid="12,00\xa0€", percent=50) in shown
    assert tr("Nothing charged yet, nothing to pay") in shown
    assert tr("Included credit; nothing to refund") in shown
    assert tr("Refunded to your card in total: %(amount)s", amount="6,00\xa0€") in shown
    assert trn("%(num)d booking has already started; it is not cancelled or refunded.",
               "%(num)d bookings have already started; they are not cancelled or refunded.",
               1) in shown
    html = page(response)
    table = html.find_all("table")[0]
    assert html.find_all("caption") and html.find_all("th", scope="col")
    assert table is not None
    region = [d for d in html.find_all("div") if d.attrs.get("role") == "region"]
    assert region and region[0].attrs.get("tabindex") == "0"
    assert html.by_id("password").attrs.get("autocomplete") == "current-password"
    # Only shown: nothing is cancelled by looking.
    assert fresh(Booking, mias_things.paid).status is BookingStatus.CONFIRMED


@pytest.mark.parametrize(("password", "message"), [
    ("not my password", "The password is not correct."),
    ("", "Please enter your password to confirm."),
])
def test_a_wrong_password_changes_nothing(mia, place, mias_things, password, message):
    response = mia.post("/account/delete", data={"password": password})
    assert response.status_code == 422
    html = page(response)
    errors = html.by_id("password-error")
    assert errors is not None and tr(message) in " ".join(errors.text.split())
    assert html.by_id("password").attrs.get("aria-invalid") == "true"
    user = fresh(User, place.member.id)
    assert user.is_active and user.deleted_at is None and user.email == "mia@example.org"
    assert fresh(Booking, mias_things.paid).status is BookingStatus.CONFIRMED
    assert fresh(Booking, mias_things.pending).status is BookingStatus.HELD
    assert count(WaitlistEntry, WaitlistEntry.user_id == place.member.id) == 1
    assert count(AuditEntry, AuditEntry.action == "user.deleted") == 0
    assert mia.get(mias_things.feed_path).status_code == 200


def test_deleting_the_account_end_to_end(app, client, mia, place, mias_things, clock):
    member_id = place.member.id
    name = place.member.name
    # Cancelled earlier with a reason she typed: kept, but without what she wrote.
    (earlier,) = book_hours(place.member, place.desks[0], clock, day=date(2026, 11, 26), start=8,
                      end=13)
    assert mia.post(f"/bookings/{earlier.id}/cancel",
                    data={"reason": "Arzttermin bei Dr. Weber"}).status_code == 302
    done = mia.post("/account/delete", data={"password": PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/"
    landing = mia.get("/")
    assert tr("Your account has been deleted. %(amount)s will be refunded to your card (this "
              "takes a few days).", amount="6,00\xa0€") in text_of(landing)
    # Logged out: the account page asks for a log-in again.
    assert mia.get("/account").status_code == 302

    # The paid booking is cancelled and half refunded, on the simulated gateway itself.
    paid = fresh(Booking, mias_things.paid)
    assert paid.status is BookingStatus.CANCELLED
    (refund,) = paid.payment.refunds
    assert (refund.amount_cents, refund.status) == (600, RefundStatus.SUCCEEDED)
    assert paid.payment.refunded_cents == 600
    remote = db.session.get(SimulatedCheckout, paid.payment.checkout_id)
    assert [int(r["amount"]) for r in remote.refunds] == [600]
    # The booking awaiting approval is cancelled and the card authorisation given back.
    pending = fresh(Booking, mias_things.pending)
    assert pending.status is BookingStatus.CANCELLED
    assert pending.payment.status is PaymentStatus.CANCELLED
    assert pending.payment.received_cents == 0
    assert fresh(Booking, mias_things.included).status is BookingStatus.CANCELLED
    # The ongoing booking stays (it is happening), without its note.
    ongoing = fresh(Booking, mias_things.ongoing)
    assert ongoing.status is BookingStatus.CONFIRMED and ongoing.note == ""
    assert paid.note == "" and paid.user_id == member_id  # kept for accounting, anonymous

    user = fresh(User, member_id)
    assert user.name == "Gelöschtes Konto"
    assert user.email == f"deleted-{member_id}@invalid"
    assert not user.is_active and user.deleted_at == clock()
    assert user.company_id is None and user.last_login_at is None
    assert not user.check_password(PASSWORD) and not user.check_password("")
    assert count(Induction, Induction.user_id == member_id) == 0
    assert count(WaitlistEntry, WaitlistEntry.user_id == member_id) == 0
    assert count(CalendarFeed, CalendarFeed.owner_id == member_id) == 0
    assert count(ApiToken, ApiToken.user_id == member_id) == 0
    (membership,) = db.session.scalars(
        select(Membership).where(Membership.user_id == member_id)).all()
    assert membership.status is MembershipStatus.CANCELLED
    assert membership.valid_until == date(2026, 11, 23)

    # Feeds, API tokens and log-in stop working.
    assert client.get(mias_things.feed_path).status_code == 404
    api = client.get("/api/v1/bookings",
                     headers={"Authorization": f"Bearer {mias_things.api_token}"})
    assert api.status_code == 401
    again = client.post("/login", data={"email": "mia@example.org", "password": PASSWORD})
    assert again.status_code == 422
    assert client.post("/login", data={"email": f"deleted-{member_id}@invalid",
                                       "password": PASSWORD}).status_code == 422

    # One audit entry says so, without personal data; free text about her is gone.
    (entry,) = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "user.deleted")).all()
    assert (entry.actor_id, entry.object_type, entry.object_id) == (member_id, "user", member_id)
    assert entry.details == {"bookings_cancelled": 3, "refund_cents": 600}
    every_detail = json.dumps([e.details for e in db.session.scalars(select(AuditEntry))])
    assert "mia@example.org" not in every_detail and name not in every_detail
    assert "Arzttermin" not in every_detail
    assert fresh(Booking, earlier.id).cancel_reason is None
    assert fresh(Booking, mias_things.paid).cancel_reason == tr("Account deleted")
    # The address is free again: she may register anew.
    assert client.post("/register", data={
        "name": "Mia Neu", "email": "mia@example.org", "password": "blue tram to the Markthalle",
        "password_confirm": "blue tram to the Markthalle"}).status_code == 302


def test_the_delete_page_in_english(app, place):
    place.member.locale = "en"
    db.session.commit()
    member = browser(app, place.member)
    shown = text_of(member.get("/account/delete"))
    assert "What happens when you delete your account" in shown
    assert "You have no upcoming bookings." in shown
    done = member.post("/account/delete", data={"password": PASSWORD})
    assert done.status_code == 302
    landing = member.get("/")
    assert "Your account has been deleted." in text_of(landing)
    # Logged out, and still in her language (not the browser's or the site's default).
    assert page(landing).find_all("html")[0].attrs["lang"] == "en"


def test_the_last_administrator_cannot_delete_their_account(app, place, factory):
    admin = factory.user(role=Role.ADMIN, email="admin@example.org")
    db.session.commit()
    client = browser(app, admin)
    refused = client.post("/account/delete", data={"password": PASSWORD})
    assert refused.status_code == 409
    assert tr("You are the last administrator. Make another person an administrator before "
              "you delete your account.") in text_of(refused)
    assert fresh(User, admin.id).is_active

    factory.user(role=Role.ADMIN, email="admin2@example.org")
    db.session.commit()
    assert client.post("/account/delete", data={"password": PASSWORD}).status_code == 302
    deleted = fresh(User, admin.id)
    assert deleted.deleted_at is not None and deleted.role is Role.MEMBER


def test_only_the_member_can_delete_their_own_account(app, place, clock):
    with pytest.raises(NotFound):
        privacy.delete_account(
            db.session, gateway(), actor=place.staff, user=place.member, password=PASSWORD,
            now=clock(), settings=current_settings(),
        )
    assert fresh(User, place.member.id).is_active


def test_a_booking_made_while_deleting_is_cancelled_too(app, place, clock, monkeypatch):
    """Another tab books after the cancellations but before the final step: the final step
    notices, and the new booking is cancelled in the next round."""
    settings = current_settings()
    (first,) = book_hours(place.member, place.desks[0], clock, day=TUE, start=8, end=13)
    made: list[int] = []
    original = privacy._open_waitlist_ids

    def booking_sneaks_in(session, user_id):
        if not made:
            made.extend(b.id for b in book_hours(place.member, place.desks[1], clock, day=WED,
                                           start=8, end=13))
        return original(session, user_id)

    monkeypatch.setattr(privacy, "_open_waitlist_ids", booking_sneaks_in)
    report = privacy.delete_account(
        db.session, gateway(), actor=place.member, user=place.member, password=PASSWORD,
        now=clock(), settings=settings,
    )
    assert sorted(report.cancelled_booking_ids) == sorted([first.id, *made])
    assert all(fresh(Booking, i).status is BookingStatus.CANCELLED for i in [first.id, *made])
    assert fresh(User, place.member.id).deleted_at is not None
