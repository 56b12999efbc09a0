"""The bank simulator's own books: what it was asked to move, and what it answered.

These tables stand for an external bank, not for zhifu: nothing in zhifu reads them
except the simulator (zhifu learns results through the connector's answers, callbacks
and statement files). They live in PostgreSQL so the simulated bank remembers what it
charged and paid across a restart of zhifu.

Revision ID: 0004
"""

from alembic import op

revision = "0004"
down_revision = "0003"

UPGRADE = """
create table bank_sim_transfer (
    reference text primary key,
    bank_reference text not null unique,
    direction text not null check (direction in ('charge', 'payout')),
    card_token text not null,
    last4 text not null,
    amount bigint not null check (amount > 0),
    currency text not null,
    status text not null check (status in ('pending', 'succeeded', 'declined')),
    decline_reason text,
    received_at timestamptz not null,
    settle_at timestamptz,
    settled_at timestamptz,
    callbacks_due integer not null default 0 check (callbacks_due >= 0),
    next_callback_at timestamptz,
    check ((status = 'declined') = (decline_reason is not null)),
    check ((status = 'pending') = (settled_at is null)),
    check (status <> 'pending' or settle_at is not null),
    check ((callbacks_due > 0) = (next_callback_at is not null))
);
create index bank_sim_transfer_unsettled on bank_sim_transfer (settle_at)
    where status = 'pending';
create index bank_sim_transfer_callbacks on bank_sim_transfer (next_callback_at)
    where callbacks_due > 0;
create index bank_sim_transfer_settled on bank_sim_transfer (settled_at);
"""

DOWNGRADE = """
drop table bank_sim_transfer;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
