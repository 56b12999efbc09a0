"""Security: failed-attempt limits kept in the database, and KYC tier requests.

`rate_limit` counts failures of one kind (scope) by one subject (a client address, a
merchant, a terminal) per fixed window. `sign_in_lockout` is the lockout of one secret
(a consumer's phone, a merchant login): consecutive failures, how many times it has
locked (each lock is longer, up to a cap), and until when. The merchant portal's own
lockout columns move into it. `kyc_request` is a user's request for another KYC tier,
pending until an identity check or an operator approves or rejects it.

Revision ID: 0018
"""

from alembic import op

revision = "0018"
down_revision = "0017"

UPGRADE = """
create table rate_limit (
    scope text not null,
    subject text not null,
    window_start timestamptz not null,
    failures integer not null check (failures >= 0),
    primary key (scope, subject, window_start)
);

create table sign_in_lockout (
    scope text not null,
    subject text not null,
    failed_attempts integer not null default 0 check (failed_attempts >= 0),
    lockouts integer not null default 0 check (lockouts >= 0),
    locked_until timestamptz,
    last_failed_at timestamptz,
    primary key (scope, subject)
);

alter table merchant_login drop column failed_attempts, drop column locked_until;

create table kyc_request (
    id bigserial primary key,
    public_id text not null unique,
    user_id bigint not null references app_user (id),
    tier integer not null check (tier between 0 and 3),
    state text not null check (state in ('pending', 'approved', 'rejected')),
    reason text,
    decided_by text,
    -- The identity check's polling (zhifu.db.due): null once it has answered.
    check_attempts integer not null default 0,
    next_check_at timestamptz,
    created_at timestamptz not null,
    decided_at timestamptz
);
create unique index kyc_request_one_pending on kyc_request (user_id) where state = 'pending';
create index kyc_request_pending on kyc_request (id) where state = 'pending';
create index kyc_request_check_due on kyc_request (next_check_at)
    where state = 'pending' and next_check_at is not null;
"""

DOWNGRADE = """
drop table kyc_request;
alter table merchant_login
    add column failed_attempts integer not null default 0 check (failed_attempts >= 0),
    add column locked_until timestamptz;
drop table sign_in_lockout;
drop table rate_limit;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
