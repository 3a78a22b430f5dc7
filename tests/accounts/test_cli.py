"""``flask users create``: the way staff and scripts make accounts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from schiller40.core.audit import AuditEntry
from schiller40.extensions import db
from schiller40.models import Membership, Role, User

GOOD = "blue tram to the Markthalle"


@pytest.fixture
def app_config():
    """Read the messages in English; the last test checks the German default."""
    return {"BABEL_DEFAULT_LOCALE": "en"}


def create(cli, *args: str):
    return cli("users", "create", *args)


def assert_nothing_written(factory, users: int = 0) -> None:
    assert factory.count(User) == users
    assert factory.count(Membership) == 0
    assert factory.count(AuditEntry) == 0


@pytest.mark.parametrize("role", [Role.MEMBER, Role.STAFF, Role.ADMIN])
def test_create_a_user_for_each_role(cli, factory, clock, role):
    result = create(cli, "--email", "Kim.Berg@Example.org", "--password", GOOD,
                    "--name", "Kim Berg", "--role", role.value)
    assert result.exit_code == 0, result.output
    (user,) = db.session.scalars(select(User)).all()
    assert result.output.strip() == f"Created {role.value} kim.berg@example.org (id {user.id})."
    assert (user.email, user.name, user.role) == ("kim.berg@example.org", "Kim Berg", role)
    assert user.check_password(GOOD)
    assert user.created_at == clock()
    assert user.memberships == []
    (entry,) = db.session.scalars(select(AuditEntry)).all()
    assert entry.action == "user.registered"  # the CLI has no acting user


def test_role_defaults_to_member_and_name_to_the_local_part(cli, factory):
    result = create(cli, "--email", "kim@example.org", "--password", GOOD)
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User))
    assert user.role is Role.MEMBER
    assert user.name == "kim"


def test_create_with_a_tier_gives_a_membership_from_today(cli, factory, clock):
    tier = factory.tier(slug="flex")
    result = create(cli, "--email", "kim@example.org", "--password", GOOD, "--tier", "flex")
    assert result.exit_code == 0, result.output
    (membership,) = db.session.scalars(select(Membership)).all()
    assert membership.tier_id == tier.id
    assert membership.valid_from == clock().date()  # 09:00 local: the same date in UTC
    assert membership.user.email == "kim@example.org"


def test_duplicate_email_in_other_case_is_refused(cli, factory):
    factory.user(email="kim@example.org")
    result = create(cli, "--email", "KIM@Example.ORG", "--password", GOOD)
    assert result.exit_code == 1
    assert "Error: An account with this e-mail address already exists." in result.output
    assert "Traceback" not in result.output
    assert factory.count(User) == 1
    assert factory.count(AuditEntry) == 0


def test_unknown_tier_is_refused(cli, factory):
    factory.tier(slug="flex")
    result = create(cli, "--email", "kim@example.org", "--password", GOOD, "--tier", "gold")
    assert result.exit_code == 1
    assert "Error: There is no tier gold. Unknown tier." in result.output
    assert_nothing_written(factory)


def test_bad_role_is_a_usage_error(cli, factory):
    result = create(cli, "--email", "kim@example.org", "--password", GOOD, "--role", "owner")
    assert result.exit_code == 2
    assert "Invalid value for '--role'" in result.output
    assert "'owner' is not one of 'member', 'staff', 'admin'" in result.output
    assert_nothing_written(factory)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "Use at least 10 characters."),
        ("Password123", "This password is one of the most common ones. Choose another."),
        ("kimberly2026", "This password is too close to your name or e-mail address."),
    ],
)
def test_weak_password_is_refused_with_the_reason(cli, factory, password, message):
    result = create(cli, "--email", "kimberly@example.org", "--password", password)
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {message}"
    assert_nothing_written(factory)


@pytest.mark.parametrize("email", ["kim", "kim@", "kim@example", "kim @example.org"])
def test_invalid_email_is_refused(cli, factory, email):
    result = create(cli, "--email", email, "--password", GOOD, "--name", "Kim")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: Please enter a valid e-mail address."
    assert_nothing_written(factory)


@pytest.mark.parametrize("missing", ["--email", "--password"])
def test_email_and_password_are_required(cli, factory, missing):
    args = {"--email": "kim@example.org", "--password": GOOD}
    del args[missing]
    result = create(cli, *[part for pair in args.items() for part in pair])
    assert result.exit_code == 2
    assert f"Missing option '{missing}'" in result.output
    assert_nothing_written(factory)


def test_messages_are_english_whatever_the_default_language(cli, factory, app):
    """Operators read the CLI in English; service messages must not switch to German inside
    an English "Error:" line just because German is the app's default language."""
    app.config["BABEL_DEFAULT_LOCALE"] = "de"
    result = create(cli, "--email", "kim@example.org", "--password", "short")
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith("Error: ")
    assert "Use at least 10 characters" in line
    assert "Zeichen" not in line
    assert_nothing_written(factory)
