"""Top-ups and withdrawals through the bank connector.

Revision ID: 0003
"""

from alembic import op

revision = "0003"
down_revision = "0002"

UPGRADE = """
create table funding_order (
    id bigserial primary key,
    user_id bigint not null references app_user (id),
    card_id bigint not null references bank_card (id),
    direction text not null check (direction in ('topup', 'withdrawal')),
    amount bigint not null check (amount > 0),
    currency text not null,
    state text not null check (state in ('pending', 'succeeded', 'failed')),
    hold_id bigint references ledger_hold (id),
    bank_reference text unique,
    failure_code text,
    idempotency_key text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    unique (user_id, idempotency_key)
);
create index funding_order_pending on funding_order (updated_at) where state = 'pending';
"""

DOWNGRADE = """
drop table funding_order;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
