"""Account use cases, called directly as the views and the CLI call them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import create_engine, event, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from schiller40.accounts import service
from schiller40.accounts.service import EmailTaken, WrongPassword
from schiller40.core.audit import AuditEntry
from schiller40.errors import InvalidInput, NotFound
from schiller40.extensions import db
from schiller40.models import Company, Membership, MembershipStatus, Role, User

from ..factories import PASSWORD

GOOD = "blue tram to the Markthalle"


def create(now: datetime, **kw) -> User:
    values = dict(email="anna@example.org", name="Anna Schmidt", password=GOOD, now=now)
    values.update(kw)
    return service.create_user(db.session, **values)


def assert_nothing_written(factory, users: int, audits: int = 0) -> None:
    """Nothing committed and nothing left pending that a later commit would write."""
    assert not db.session.new
    assert factory.count(User) == users
    assert factory.count(Membership) == 0
    assert factory.count(AuditEntry) == audits


def audit_entries(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# --- create_user -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["Anna.Schmidt@Example.ORG", "  anna.schmidt@example.org  ", "\tANNA.SCHMIDT@EXAMPLE.ORG\n"],
)
def test_create_user_normalises_the_email(factory, clock, typed):
    user = create(clock(), email=typed)
    assert user.email == "anna.schmidt@example.org"
    db.session.expire_all()
    stored = db.session.scalar(select(User.email))
    assert stored == "anna.schmidt@example.org"


def test_create_user_stores_what_was_given(factory, clock):
    user = create(clock(), name="  Anna Schmidt ", role=Role.STAFF, locale="en")
    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert user.name == "Anna Schmidt"
    assert user.role is Role.STAFF
    assert user.locale == "en"
    assert user.created_at == clock()
    assert user.is_active_account is True
    assert user.last_login_at is None
    assert user.check_password(GOOD)
    assert GOOD not in user.password_hash
    assert user.memberships == []


@pytest.mark.parametrize("other_case", ["ANNA@EXAMPLE.ORG", "Anna@example.org", " anna@example.org"])
def test_create_user_refuses_a_taken_email_in_any_case(factory, clock, other_case):
    factory.user(email="anna@example.org")
    db.session.commit()
    with pytest.raises(EmailTaken) as exc_info:
        create(clock(), email=other_case)
    assert exc_info.value.code == "email_taken"
    assert exc_info.value.status == 409
    assert exc_info.value.fields["email"]
    assert_nothing_written(factory, users=1)


@pytest.mark.postgresql_only  # SQLite has one writer at a time; see the next test
@pytest.mark.postgresql_only
def test_a_registration_that_loses_the_race_gets_email_taken(factory, clock, database_url):
    """Another request commits the same address between the check and the insert.

    The unique index decides; the service must turn its IntegrityError into EmailTaken.
    PostgreSQL only: on SQLite the service holds the write lock from the check to the
    commit, so a rival registration waits instead of racing.
    """
    other = create_engine(make_url(database_url))
    fired = []

    def rival_commits_first(session, flush_context, instances):
        if fired:
            return
        fired.append(True)
        with other.begin() as conn:
            conn.execute(insert(User).values(
                email="anna@example.org", name="Rival", password_hash="x", role=Role.MEMBER,
                locale="de", is_active_account=True, created_at=clock(),
            ))

    event.listen(Session, "before_flush", rival_commits_first)
    try:
        with pytest.raises(EmailTaken) as exc_info:
            create(clock())
    finally:
        event.remove(Session, "before_flush", rival_commits_first)
        other.dispose()
    assert fired
    assert exc_info.value.fields["email"]
    assert db.session.scalars(select(User.name)).all() == ["Rival"]
    assert factory.count(AuditEntry) == 0


def test_a_log_in_survives_a_write_committed_during_it(factory, clock, backend, database_url,
                                                      monkeypatch, request):
    """Any other write (say, a booking) that commits while a log-in runs must not break it.

    On SQLite the log-in's transaction starts with a read; after another connection commits,
    upgrading it to a write fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT in
    WAL mode, which no busy timeout retries), so the member would get a 500. The service
    therefore checks the password first and then starts its write in a ``write`` block
    (``BEGIN IMMEDIATE`` on SQLite).
    """
    user = factory.user(email="anna@example.org")
    db.session.commit()
    other = create_engine(make_url(database_url))
    original = User.check_password

    def check_password_while_someone_writes(self, password):
        with other.begin() as conn:
            conn.execute(insert(Company).values(name="Wolfsbyte", created_at=clock()))
        return original(self, password)

    monkeypatch.setattr(User, "check_password", check_password_while_someone_writes)
    try:
        assert service.authenticate(
            db.session, email="anna@example.org", password=PASSWORD, now=clock()
        ) == user
    finally:
        other.dispose()


def test_create_user_with_unknown_tier_is_not_found(factory, clock):
    factory.tier(slug="flex")
    db.session.commit()
    with pytest.raises(NotFound) as exc_info:
        create(clock(), tier_slug="flexx")
    assert exc_info.value.status == 404
    assert exc_info.value.fields["tier"]
    assert "flexx" in exc_info.value.message
    assert_nothing_written(factory, users=0)


def test_create_user_with_tier_starts_the_membership_on_the_local_date(factory):
    tier = factory.tier(slug="flex")
    db.session.commit()
    # 23:30 UTC on 23 November is already 00:30 on the 24th in Wolfsburg.
    late = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    user = create(late, tier_slug="flex")
    db.session.expire_all()
    (membership,) = db.session.get(User, user.id).memberships
    assert membership.tier_id == tier.id
    assert membership.valid_from == date(2026, 11, 24)
    assert membership.valid_until is None
    assert membership.status is MembershipStatus.ACTIVE
    assert membership.created_at == late
    assert db.session.get(User, user.id).active_membership(late + timedelta(hours=1)) is not None


def test_self_registration_is_audited_as_registered(factory, clock):
    user = create(clock())
    (entry,) = db.session.scalars(select(AuditEntry)).all()
    assert entry.action == "user.registered"
    assert entry.actor_id == user.id
    assert (entry.object_type, entry.object_id) == ("user", user.id)
    assert entry.at == clock()
    assert entry.details == {"role": "member", "tier": None}


def test_creation_by_staff_is_audited_as_created(factory, clock):
    staff = factory.user(role=Role.STAFF)
    factory.tier(slug="resident")
    db.session.commit()
    user = create(clock(), actor_id=staff.id, tier_slug="resident")
    assert audit_entries("user.registered") == []
    (entry,) = audit_entries("user.created")
    assert entry.actor_id == staff.id
    assert entry.object_id == user.id
    assert entry.details == {"role": "member", "tier": "resident"}


@pytest.mark.parametrize(
    "email",
    ["", "anna", "anna@", "@example.org", "anna@example", "anna example@example.org",
     "anna@@example.org", "a" * 250 + "@example.org"],
)
def test_create_user_refuses_an_invalid_email(factory, clock, email):
    with pytest.raises(InvalidInput) as exc_info:
        create(clock(), email=email)
    assert exc_info.value.code == "invalid"
    assert exc_info.value.fields["email"]
    assert_nothing_written(factory, users=0)


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_create_user_refuses_a_missing_or_overlong_name(factory, clock, name):
    with pytest.raises(InvalidInput) as exc_info:
        create(clock(), name=name)
    assert exc_info.value.fields["name"]
    assert_nothing_written(factory, users=0)


@pytest.mark.parametrize(
    "password",
    ["short", "password123", "aaaaaaaaaaaa", "9876543210", "anna.schmidt!", "x" * 201],
)
def test_create_user_refuses_a_weak_password_and_writes_nothing(factory, clock, password):
    with pytest.raises(InvalidInput) as exc_info:
        create(clock(), email="anna.schmidt@example.org", password=password)
    assert exc_info.value.fields["password"] == [exc_info.value.message]
    assert_nothing_written(factory, users=0)


# --- authenticate ----------------------------------------------------------------------------


def authenticate(email: str, password: str, now: datetime) -> User | None:
    return service.authenticate(db.session, email=email, password=password, now=now)


def test_authenticate_with_the_right_password(factory, clock):
    user = factory.user(email="anna@example.org")
    db.session.commit()
    later = clock() + timedelta(days=3, minutes=7)
    assert authenticate("anna@example.org", PASSWORD, later) == user
    db.session.expire_all()
    assert db.session.get(User, user.id).last_login_at == later
    (entry,) = audit_entries("user.logged_in")
    assert (entry.actor_id, entry.object_id, entry.at) == (user.id, user.id, later)


def test_authenticate_ignores_case_and_spaces_in_the_email(factory, clock):
    user = factory.user(email="anna@example.org")
    db.session.commit()
    assert authenticate("  Anna@Example.ORG ", PASSWORD, clock()) == user


@pytest.mark.parametrize(
    ("email", "password"),
    [
        pytest.param("anna@example.org", PASSWORD + "x", id="wrong-password"),
        pytest.param("anna@example.org", PASSWORD.upper(), id="password-in-other-case"),
        pytest.param("anna@example.org", "", id="empty-password"),
        pytest.param("nobody@example.org", PASSWORD, id="unknown-email"),
        pytest.param("", PASSWORD, id="empty-email"),
    ],
)
def test_authenticate_refuses(factory, clock, email, password):
    user = factory.user(email="anna@example.org")
    db.session.commit()
    assert authenticate(email, password, clock()) is None
    db.session.expire_all()
    assert db.session.get(User, user.id).last_login_at is None
    assert audit_entries("user.logged_in") == []


def test_an_unknown_email_costs_a_password_check_too(factory, clock, monkeypatch):
    """Otherwise the response time tells an attacker which addresses have accounts."""
    checked = []
    real_check = service.check_password_hash

    def spy(pwhash, password):
        checked.append(pwhash)
        return real_check(pwhash, password)

    monkeypatch.setattr(service, "check_password_hash", spy)
    assert authenticate("nobody@example.org", PASSWORD, clock()) is None
    assert checked == [service._dummy_hash()]
    # made like real hashes, so it costs as much as a real account's check
    method = service.account_models.PASSWORD_HASH_METHOD
    assert checked[0].startswith(method.split(":")[0] + ":")


def test_authenticate_refuses_a_deactivated_user(factory, clock):
    user = factory.user(email="anna@example.org", is_active_account=False)
    db.session.commit()
    assert authenticate("anna@example.org", PASSWORD, clock()) is None
    db.session.expire_all()
    assert db.session.get(User, user.id).last_login_at is None
    assert audit_entries("user.logged_in") == []


# --- change_password -------------------------------------------------------------------------


def test_change_password_with_the_wrong_current_password(factory, clock):
    user = factory.user()
    db.session.commit()
    before = user.password_hash
    with pytest.raises(WrongPassword) as exc_info:
        service.change_password(
            db.session, user=user, current="not it at all", new=GOOD, now=clock()
        )
    assert exc_info.value.code == "wrong_password"
    assert exc_info.value.fields["current_password"]
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == before
    assert audit_entries("user.password_changed") == []


@pytest.mark.parametrize("new", ["short", "qwertzuiop", "1111111111", "x" * 201])
def test_change_password_refuses_a_weak_new_password(factory, clock, new):
    user = factory.user()
    db.session.commit()
    before = user.password_hash
    with pytest.raises(InvalidInput) as exc_info:
        service.change_password(db.session, user=user, current=PASSWORD, new=new, now=clock())
    assert exc_info.value.fields["new_password"]
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == before


def test_change_password_refuses_a_new_password_close_to_the_name(factory, clock):
    user = factory.user(email="maximilian@example.org", name="Maximilian Berg")
    db.session.commit()
    with pytest.raises(InvalidInput) as exc_info:
        service.change_password(
            db.session, user=user, current=PASSWORD, new="Maximilian2026", now=clock()
        )
    assert exc_info.value.fields["new_password"]


def test_change_password(factory, clock):
    user = factory.user()
    db.session.commit()
    before = user.password_hash
    service.change_password(db.session, user=user, current=PASSWORD, new=GOOD, now=clock())
    db.session.expire_all()
    stored = db.session.get(User, user.id)
    assert stored.password_hash != before
    assert stored.check_password(GOOD)
    assert not stored.check_password(PASSWORD)
    (entry,) = audit_entries("user.password_changed")
    assert (entry.actor_id, entry.object_id, entry.at) == (user.id, user.id, clock())


def test_services_run_outside_a_request(app, clock):
    """A service called by the CLI or a worker has an app context but no request; its
    translated messages must not need one."""
    import contextvars

    def outside_any_request():
        with app.app_context():
            service.create_user(
                db.session, email="not an address", name="Anna", password=GOOD, now=clock()
            )

    with pytest.raises(InvalidInput):
        contextvars.Context().run(outside_any_request)


@pytest.mark.parametrize("name", ["Mia\nBcc: x@example.org", "Mia\u2028Tester", "Mia\x1bX"])
def test_names_must_be_one_line(app, clock, name):
    from schiller40.accounts.service import InvalidInput, create_user

    with pytest.raises(InvalidInput) as exc_info:
        create_user(db.session, email="mia@example.org", name=name,
                    password="Markthalle-Test-2026", now=clock())
    assert "name" in exc_info.value.fields
