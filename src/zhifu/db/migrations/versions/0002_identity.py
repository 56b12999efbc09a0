"""Users, sessions, payment PINs, KYC tiers, linked bank cards and accounts.

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"

UPGRADE = """
create table app_user (
    id bigserial primary key,
    phone text not null unique,
    password_hash text not null,
    pin_hash text,
    pin_failed_attempts integer not null default 0,
    pin_locked_until timestamptz,
    kyc_tier smallint not null default 0 check (kyc_tier between 0 and 3),
    created_at timestamptz not null
);

create table user_session (
    token_hash text primary key,
    user_id bigint not null references app_user (id),
    created_at timestamptz not null,
    expires_at timestamptz not null
);
create index user_session_user on user_session (user_id);

create table bank_card (
    id bigserial primary key,
    user_id bigint not null references app_user (id),
    kind text not null check (kind in ('card', 'account')),
    token text not null unique,
    fingerprint text not null,
    last4 text not null,
    brand text not null,
    bank text not null,
    holder_name text not null default '',
    status text not null check (status in ('active', 'unlinked')),
    created_at timestamptz not null,
    unlinked_at timestamptz
);
create unique index bank_card_active_once on bank_card (user_id, fingerprint)
    where status = 'active';
"""

DOWNGRADE = """
drop table bank_card;
drop table user_session;
drop table app_user;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
