"""Merchants, stores, terminals, API keys; trades, refunds; consumer payment devices.

Revision ID: 0006
"""

from alembic import op

revision = "0006"
down_revision = "0005"

UPGRADE = """
create table merchant (
    id bigserial primary key,
    name text not null,
    fee_rate_ppm integer not null check (fee_rate_ppm between 0 and 1000000),
    category_code text not null default '5999' check (category_code ~ '^[0-9]{4}$'),
    city text not null default 'Shanghai',
    refund_window_days integer not null default 90 check (refund_window_days > 0),
    settlement_token text,
    settlement_last4 text,
    settlement_bank text,
    created_at timestamptz not null
);

create table merchant_api_key (
    id bigserial primary key,
    merchant_id bigint not null references merchant (id),
    prefix text not null unique,
    secret_hash text not null,
    created_at timestamptz not null,
    revoked_at timestamptz
);
create index merchant_api_key_merchant on merchant_api_key (merchant_id);

create table store (
    id bigserial primary key,
    merchant_id bigint not null references merchant (id),
    name text not null,
    created_at timestamptz not null
);

create table terminal (
    id bigserial primary key,
    store_id bigint not null references store (id),
    merchant_id bigint not null references merchant (id),
    label text not null,
    created_at timestamptz not null
);

create table trade (
    id bigserial primary key,
    trade_no text not null unique,
    merchant_id bigint not null references merchant (id),
    out_trade_no text not null,
    request_hash text not null,
    amount bigint not null check (amount > 0),
    currency text not null,
    subject text not null,
    state text not null check (state in
        ('WAIT_BUYER_PAY', 'TRADE_SUCCESS', 'TRADE_FINISHED', 'TRADE_CLOSED')),
    method text,
    escrow boolean not null default false,
    escrow_state text,
    buyer_user_id bigint references app_user (id),
    fee bigint not null default 0 check (fee >= 0),
    refunded_amount bigint not null default 0,
    refunded_fee bigint not null default 0,
    store_id bigint references store (id),
    terminal_id bigint references terminal (id),
    hold_id bigint references ledger_hold (id),
    entry_id bigint references ledger_entry (id),
    notify_url text,
    return_url text,
    close_reason text,
    password_free boolean not null default false,
    expires_at timestamptz not null,
    paid_at timestamptz,
    refund_window_ends_at timestamptz,
    auto_confirm_at timestamptz,
    closed_at timestamptz,
    finished_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    unique (merchant_id, out_trade_no),
    check (refunded_amount between 0 and amount),
    check (refunded_fee between 0 and fee)
);
create index trade_merchant_created on trade (merchant_id, id desc);
create index trade_buyer on trade (buyer_user_id, id desc) where buyer_user_id is not null;
create index trade_open_expiry on trade (expires_at) where state = 'WAIT_BUYER_PAY';
create index trade_refund_window on trade (refund_window_ends_at) where state = 'TRADE_SUCCESS';
create index trade_escrow_due on trade (auto_confirm_at)
    where escrow_state in ('PAID', 'SHIPPED');

create table refund (
    id bigserial primary key,
    trade_id bigint not null references trade (id),
    out_request_no text not null,
    request_hash text not null,
    amount bigint not null check (amount > 0),
    fee_refund bigint not null check (fee_refund >= 0),
    reason text not null default '',
    entry_id bigint references ledger_entry (id),
    created_at timestamptz not null,
    unique (trade_id, out_request_no)
);

-- A consumer's phone: the secret behind its one-time payment codes and the public key
-- that signs its tap-to-pay cryptograms.
create table payment_device (
    id bigserial primary key,
    user_id bigint not null references app_user (id),
    name text not null,
    code_secret bytea not null,
    tap_token text not null unique,
    tap_public_key text,
    created_at timestamptz not null,
    revoked_at timestamptz
);
create index payment_device_user on payment_device (user_id);

-- Each one-time credential is used once: a payment code (device, time step) or a tap
-- cryptogram (token, counter). The primary keys refuse a replay.
create table used_payment_code (
    device_id bigint not null references payment_device (id),
    counter bigint not null,
    trade_id bigint not null references trade (id),
    primary key (device_id, counter)
);
create table used_tap (
    tap_token text not null,
    counter bigint not null,
    trade_id bigint not null references trade (id),
    primary key (tap_token, counter)
);

-- Password-free payments: small amounts skip the PIN up to these allowances.
alter table app_user
    add column password_free_single bigint not null default 20000
        check (password_free_single >= 0),
    add column password_free_daily bigint not null default 200000
        check (password_free_daily >= 0),
    add column password_free_day date,
    add column password_free_used bigint not null default 0
        check (password_free_used >= 0);
"""

DOWNGRADE = """
alter table app_user drop column password_free_single, drop column password_free_daily,
    drop column password_free_day, drop column password_free_used;
drop table used_tap;
drop table used_payment_code;
drop table payment_device;
drop table refund;
drop table trade;
drop table terminal;
drop table store;
drop table merchant_api_key;
drop table merchant;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
