"""The migrations build exactly the schema the models describe, and can be undone.

Models and migrations are written separately (migrations are reviewed by hand), so nothing
else would notice a column added to a model but forgotten in a revision, until a deploy.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import Column, MetaData, String, create_engine, inspect, text
from sqlalchemy.engine import make_url

from schiller40 import MIGRATIONS_DIR, create_app
from schiller40.extensions import db

HEAD = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def schema_diff(connection, metadata: MetaData = db.metadata) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    # No filtering: on these two backends every difference autogenerate reports today is
    # real. (CHECK constraints and the hand-written overlap guards are invisible to it, so
    # they can neither cause false alarms nor be checked here; test_overlap_guard does that.)
    return compare_metadata(context, metadata)


def test_there_is_one_head():
    heads = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
    assert heads == [HEAD]


def test_migrated_schema_matches_the_models(app):
    """The test database was built by the real migrations (see conftest)."""
    with db.engine.connect() as connection:
        assert schema_diff(connection) == []
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == HEAD


def test_the_comparison_notices_drift(app):
    """Guards the guard: a model change without a migration must show up as a difference."""
    drifted = MetaData(naming_convention=db.metadata.naming_convention)
    for table in db.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["user"].append_column(Column("nickname", String(50), nullable=True))
    index = next(i for i in drifted.tables["booking"].indexes if i.name == "ix_booking_user_starts")
    drifted.tables["booking"].indexes.remove(index)
    with db.engine.connect() as connection:
        diff = schema_diff(connection, drifted)
    kinds = {(d[0], getattr(d[-1], "name", None)) for d in diff if isinstance(d, tuple)}
    assert ("add_column", "nickname") in kinds
    assert ("remove_index", "ix_booking_user_starts") in kinds


@pytest.fixture
def fresh_url(backend, database_server, tmp_path) -> Iterator[str]:
    """An empty database of its own, not the one the other tests share."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    admin = make_url(database_server.pg_admin_url)
    name = f"schiller40_migrations_{secrets.token_hex(4)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def overlap_guards(connection) -> set[str]:
    if connection.dialect.name == "sqlite":
        rows = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
    else:
        rows = connection.execute(text("SELECT conname FROM pg_constraint WHERE contype = 'x'"))
    return {name for (name,) in rows}


def test_downgrade_to_base_and_upgrade_again(fresh_url):
    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": fresh_url})
    expected_tables = set(db.metadata.tables) | {"alembic_version"}
    with app.app_context():
        try:
            upgrade(directory=str(MIGRATIONS_DIR))
            with db.engine.connect() as connection:
                assert set(inspect(connection).get_table_names()) == expected_tables
                assert overlap_guards(connection)

            downgrade(directory=str(MIGRATIONS_DIR), revision="base")
            with db.engine.connect() as connection:
                assert inspect(connection).get_table_names() == ["alembic_version"]
                assert overlap_guards(connection) == set()
                assert connection.execute(text("SELECT * FROM alembic_version")).all() == []

            upgrade(directory=str(MIGRATIONS_DIR))
            with db.engine.connect() as connection:
                assert set(inspect(connection).get_table_names()) == expected_tables
                assert schema_diff(connection) == []
                guards = overlap_guards(connection)
                version = connection.execute(text("SELECT version_num FROM alembic_version"))
                assert version.scalar() == HEAD
        finally:
            db.engine.dispose()
    if make_url(fresh_url).get_backend_name() == "sqlite":
        assert guards == {"booking_no_overlap_insert", "booking_no_overlap_update"}
    else:
        assert guards == {"booking_no_overlap"}


@pytest.mark.sqlite_only
def test_a_sqlite_batch_migration_keeps_rows_that_point_at_the_rebuilt_table(fresh_url):
    """Downgrading 0002 rebuilds ``company`` on SQLite (batch mode: copy, drop, rename).

    With foreign keys on, SQLite's DROP TABLE deletes the rows first, so every
    ``user.company_id`` (ON DELETE SET NULL) is cleared; a table with ON DELETE CASCADE
    children (``user``: memberships, inductions) would lose them outright. migrations/env.py
    therefore switches foreign keys off around migrations on SQLite (Alembic's advice) and
    checks them afterwards.
    """
    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": fresh_url})
    with app.app_context():
        try:
            upgrade(directory=str(MIGRATIONS_DIR), revision="0002")
            with db.engine.begin() as connection:
                connection.execute(text(
                    "INSERT INTO company (id, name, created_at) "
                    "VALUES (1, 'Wolfsbyte', '2026-01-01 00:00:00.000000')"
                ))
                connection.execute(text(
                    "INSERT INTO user (email, name, password_hash, role, locale, company_id, "
                    "is_active_account, created_at) VALUES ('kim@example.org', 'Kim', 'x', "
                    "'member', 'de', 1, 1, '2026-01-01 00:00:00.000000')"
                ))
            downgrade(directory=str(MIGRATIONS_DIR), revision="0001")
            with db.engine.connect() as connection:
                company_ids = connection.execute(text("SELECT company_id FROM user")).all()
        finally:
            db.engine.dispose()
    assert company_ids == [(1,)]


def test_0009_keeps_existing_companies_working(fresh_url):
    """A company from before 0009 gets its name as the legal name and Germany as the country;
    its members stay in it, none of them a manager, with the company's caps (no own ones)."""
    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": fresh_url})
    with app.app_context():
        try:
            upgrade(directory=str(MIGRATIONS_DIR), revision="0007")
            with db.engine.begin() as connection:
                connection.execute(text(
                    "INSERT INTO company (id, name, created_at, member_cap_desk_days) "
                    "VALUES (1, 'Wolfsbyte', '2026-01-01 00:00:00+00:00', 3)"
                ))
                connection.execute(text(
                    'INSERT INTO "user" (email, name, password_hash, role, locale, company_id, '
                    "is_active_account, created_at) VALUES ('kim@example.org', 'Kim', 'x', "
                    "'member', 'de', 1, true, '2026-01-01 00:00:00+00:00')"
                ))
            upgrade(directory=str(MIGRATIONS_DIR))
            with db.engine.connect() as connection:
                company = connection.execute(text(
                    "SELECT name, legal_name, country, member_cap_desk_days FROM company"
                )).one()
                user = connection.execute(text(
                    'SELECT company_id, company_manager, company_cap_desk_days FROM "user"'
                )).one()
        finally:
            db.engine.dispose()
    assert tuple(company) == ("Wolfsbyte", "Wolfsbyte", "DE", 3)
    assert (user[0], bool(user[1]), user[2]) == (1, False, None)
