"""Merchant portal: sign-in for merchant staff, portal sessions, takings by day.

A merchant login is a staff member's name (and optionally phone) with an argon2id
password hash and a lockout counter; a portal session stores only the SHA-256 of the
token the browser holds. The index on paid trades serves the dashboard's takings.

Revision ID: 0013
"""

from alembic import op

revision = "0013"
down_revision = "0012"

UPGRADE = """
create table merchant_login (
    id bigserial primary key,
    merchant_id bigint not null references merchant (id),
    login text not null unique check (login ~ '^[a-z][a-z0-9._-]{2,63}$'),
    phone text unique,
    password_hash text not null,
    failed_attempts integer not null default 0 check (failed_attempts >= 0),
    locked_until timestamptz,
    created_at timestamptz not null,
    last_login_at timestamptz
);
create index merchant_login_merchant on merchant_login (merchant_id);

create table merchant_portal_session (
    token_hash text primary key,
    login_id bigint not null references merchant_login (id),
    merchant_id bigint not null references merchant (id),
    created_at timestamptz not null,
    expires_at timestamptz not null
);
create index merchant_portal_session_login on merchant_portal_session (login_id);

create index trade_merchant_paid on trade (merchant_id, paid_at) where paid_at is not null;
"""

DOWNGRADE = """
drop index trade_merchant_paid;
drop table merchant_portal_session;
drop table merchant_login;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
