"""Payouts (alipay.fund.trans.uni.transfer) and bill files.

Revision ID: 0011
"""

from alembic import op

revision = "0011"
down_revision = "0010"

UPGRADE = """
-- A merchant's payment to a zhifu user: one ledger entry, recorded with the merchant's
-- number for it (out_biz_no, unique per merchant: a retry finds the first payout).
create table payout (
    id bigserial primary key,
    merchant_id bigint not null references merchant (id),
    out_biz_no text not null,
    request_hash text not null,
    order_id text not null unique,
    pay_fund_order_id text not null unique,
    user_id bigint not null references app_user (id),
    amount bigint not null check (amount > 0),
    currency text not null,
    title text not null default '',
    remark text not null default '',
    -- paid at once or refused (nothing is stored then): no other state yet
    status text not null check (status in ('SUCCESS')),
    entry_id bigint not null unique references ledger_entry (id),
    created_at timestamptz not null,
    unique (merchant_id, out_biz_no)
);
create index payout_merchant_created on payout (merchant_id, created_at);

-- Bills read refunds by their time (and a merchant's trades by payment time, with the
-- index trade_merchant_paid that 0013_merchant_portal creates for its lists too).
create index refund_created on refund (created_at);

-- Links to bill files: the token is random and only its SHA-256 is kept.
create table open_bill_download (
    token_hash text primary key,
    merchant_id bigint not null references merchant (id),
    bill_type text not null check (bill_type in ('trade', 'signcustomer')),
    period_start date not null,
    period_end date not null,
    created_at timestamptz not null,
    expires_at timestamptz not null,
    check (period_end > period_start),
    check (expires_at > created_at)
);
create index open_bill_download_expiry on open_bill_download (expires_at);
"""

DOWNGRADE = """
drop table open_bill_download;
drop index refund_created;
drop table payout;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
