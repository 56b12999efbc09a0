"""Card payments: a trade paid from a linked card, by a top-up of exactly its amount.

One row per attempt: the funding order's idempotency key names the trade, the consumer,
the card and the attempt, so a double submission charges the card once. At most one
attempt per trade and consumer is in flight (`charging`) at a time.

Revision ID: 0007
"""

from alembic import op

revision = "0007"
down_revision = "0006"

UPGRADE = """
create table card_payment (
    id bigserial primary key,
    trade_id bigint not null references trade (id),
    trade_no text not null,
    user_id bigint not null references app_user (id),
    card_id bigint not null references bank_card (id),
    attempt integer not null check (attempt > 0),
    funding_key text not null,
    funding_order_id bigint,  -- the funding module's order: read through FundingService
    password_free boolean not null,
    method text not null,
    state text not null check (state in ('charging', 'paid', 'failed', 'kept_in_wallet')),
    failure_code text,
    checks integer not null default 0 check (checks >= 0),
    next_check_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    completed_at timestamptz,
    unique (user_id, funding_key),
    unique (trade_id, user_id, card_id, attempt),
    check ((state = 'charging') = (next_check_at is not null)),
    check ((state = 'charging') = (completed_at is null)),
    check ((state in ('failed', 'kept_in_wallet')) = (failure_code is not null))
);
create unique index card_payment_in_flight on card_payment (trade_id, user_id)
    where state = 'charging';
create index card_payment_due on card_payment (next_check_at) where state = 'charging';
create index card_payment_trade_user on card_payment (trade_id, user_id, id desc);
"""

DOWNGRADE = """
drop table card_payment;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
