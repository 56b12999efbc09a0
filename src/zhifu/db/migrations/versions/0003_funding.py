"""Top-ups and withdrawals through the bank connector.

Revision ID: 0003
"""

from alembic import op

revision = "0003"
down_revision = "0002"

UPGRADE = """
-- One top-up or withdrawal. The order and its ledger hold are created in one transaction
-- (hold_id is set before that commits); the bank's answer posts or voids the hold and
-- moves the order out of 'pending' exactly once, under the row lock.
create table funding_order (
    id bigserial primary key,
    user_id bigint not null references app_user (id),
    card_id bigint not null references bank_card (id),
    kind text not null check (kind in ('topup', 'withdrawal')),
    amount bigint not null check (amount > 0),
    currency text not null,
    state text not null check (state in ('pending', 'succeeded', 'failed', 'review')),
    hold_id bigint references ledger_hold (id),
    bank_reference text,
    failure_code text,
    idempotency_key text not null,
    request_hash text not null,
    poll_attempts integer not null default 0 check (poll_attempts >= 0),
    next_poll_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    completed_at timestamptz,
    unique (user_id, idempotency_key),
    check ((state = 'pending') = (next_poll_at is not null)),
    check ((state = 'pending') = (completed_at is null)),
    check ((state = 'failed') = (failure_code is not null) or state = 'review')
);
create index funding_order_due on funding_order (next_poll_at) where state = 'pending';
create index funding_order_user on funding_order (user_id, id);
"""

DOWNGRADE = """
drop table funding_order;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
