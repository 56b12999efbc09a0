"""Sandbox money: every ledger account belongs to a book, `live` or `sandbox`, and an
entry or hold never joins accounts of two books (the engine refuses it; `ledger verify`
proves it). Sandbox users and merchants (and so sandbox apps) own only sandbox accounts,
and the platform keeps a separate set of system accounts for the sandbox book.

Revision ID: 0012
"""

from alembic import op

revision = "0012"
down_revision = "0011"

UPGRADE = """
alter table ledger_account
    add column book text not null default 'live' check (book in ('live', 'sandbox'));
alter table app_user add column sandbox boolean not null default false;
alter table merchant add column sandbox boolean not null default false;
"""

DOWNGRADE = """
alter table merchant drop column sandbox;
alter table app_user drop column sandbox;
alter table ledger_account drop column book;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
