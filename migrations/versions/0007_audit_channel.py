"""audit_entry.channel: through which door a change came in (web, api, cli, worker).

Written by hand. A VARCHAR with a CHECK, like every enum here, NOT NULL with the server default
'unknown': the entries written before this revision get it, because nobody can tell now whether
they came from a page, the API, a command or the worker (guessing from the action would put
a claim in the log that nobody recorded). The default stays, so a row written without a
channel is marked the same honest way, and app servers still on the previous release keep
writing entries while the others are upgraded.

The CHECK is part of the column (a named column constraint), not of the table: both databases
then add the column in place (SQLite's ALTER TABLE ADD COLUMN, no rebuild of a table that
only grows), and SQLite can drop the column in place again on downgrade, since a column's own
CHECK goes with it (a table CHECK naming it would block DROP COLUMN). The name is the one the
model's enum gives its CHECK (op.f: taken as it is, not run through the naming convention).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

CHANNELS = ('web', 'api', 'cli', 'worker', 'unknown')


def upgrade() -> None:
    allowed = ", ".join(f"'{c}'" for c in CHANNELS)
    op.add_column('audit_entry', sa.Column(
        'channel', sa.String(length=16),
        sa.CheckConstraint(f"channel IN ({allowed})",
                           name=op.f('ck_audit_entry_audit_channel')),
        nullable=False, server_default='unknown',
    ))


def downgrade() -> None:
    # In place on both databases (SQLite 3.35+); the column's CHECK is dropped with it.
    op.drop_column('audit_entry', 'channel')
