"""The double-entry ledger: accounts, sharded balances, entries, postings, holds.

Revision ID: 0001
"""

from alembic import op

revision = "0001"
down_revision = None

UPGRADE = """
create table ledger_account (
    id bigserial primary key,
    code text not null unique,
    kind text not null,
    currency text not null check (currency ~ '^[A-Z]{3}$'),
    owner_id bigint,
    -- lowest allowed available balance (posted - pending_out); null: unbounded
    floor bigint,
    -- highest allowed posted balance; null: none
    cap bigint,
    single_debit_limit bigint check (single_debit_limit > 0),
    daily_debit_limit bigint check (daily_debit_limit > 0),
    -- a hot account is split into several balance rows so credits do not queue on one lock
    shards integer not null default 1 check (shards between 1 and 64),
    created_at timestamptz not null default now(),
    unique (id, currency)
);

create table ledger_balance (
    account_id bigint not null references ledger_account (id),
    shard integer not null check (shard >= 0),
    posted bigint not null default 0,
    pending_out bigint not null default 0 check (pending_out >= 0),
    pending_in bigint not null default 0 check (pending_in >= 0),
    debit_day date,
    debit_day_total bigint not null default 0 check (debit_day_total >= 0),
    primary key (account_id, shard)
);

create table ledger_entry (
    id bigserial primary key,
    kind text not null,
    description text not null default '',
    exchange_rate text,
    metadata jsonb not null default '{}',
    created_at timestamptz not null
);

create table ledger_posting (
    id bigserial primary key,
    entry_id bigint not null references ledger_entry (id),
    account_id bigint not null,
    currency text not null,
    amount bigint not null check (amount <> 0),
    created_at timestamptz not null,
    foreign key (account_id, currency) references ledger_account (id, currency)
);
create index ledger_posting_account on ledger_posting (account_id, id) include (amount);
create index ledger_posting_entry on ledger_posting (entry_id);

create table ledger_hold (
    id bigserial primary key,
    kind text not null,
    debit_account_id bigint not null references ledger_account (id),
    credit_account_id bigint not null references ledger_account (id),
    credit_shard integer not null default 0,
    currency text not null,
    amount bigint not null check (amount > 0),
    posted_amount bigint not null default 0 check (posted_amount >= 0 and posted_amount <= amount),
    state text not null check (state in ('pending', 'posted', 'voided', 'expired')),
    description text not null default '',
    metadata jsonb not null default '{}',
    expires_at timestamptz,
    entry_id bigint references ledger_entry (id),
    created_at timestamptz not null,
    closed_at timestamptz
);
create index ledger_hold_pending_expiry on ledger_hold (expires_at) where state = 'pending';

-- Idempotency keys of every mutating operation. A key is claimed (result null) inside
-- the transaction that does the work and completed with the result before it commits.
create table idempotency_key (
    key text primary key,
    request_hash text not null,
    result jsonb,
    created_at timestamptz not null default now()
);

-- The database itself refuses an unbalanced entry: all postings of an entry are written
-- by one statement, and that statement's postings must sum to zero per currency.
create function ledger_check_balanced() returns trigger language plpgsql as $$
declare
    bad record;
begin
    select entry_id, currency, sum(amount) as total into bad
      from new_postings group by entry_id, currency having sum(amount) <> 0 limit 1;
    if found then
        raise exception 'unbalanced ledger entry % in %: postings sum to %',
            bad.entry_id, bad.currency, bad.total using errcode = '23514';
    end if;
    return null;
end $$;
create trigger ledger_posting_balanced after insert on ledger_posting
    referencing new table as new_postings for each statement
    execute function ledger_check_balanced();

create function ledger_append_only() returns trigger language plpgsql as $$
begin
    raise exception '% is append-only', tg_table_name using errcode = '42501';
end $$;
create trigger ledger_posting_append_only before update or delete or truncate on ledger_posting
    for each statement execute function ledger_append_only();
create trigger ledger_entry_append_only before update or delete or truncate on ledger_entry
    for each statement execute function ledger_append_only();

create table outbox (
    id bigserial primary key,
    topic text not null,
    payload jsonb not null,
    created_at timestamptz not null default now(),
    dispatched_at timestamptz
);
create index outbox_undispatched on outbox (id) where dispatched_at is null;
"""

DOWNGRADE = """
drop table outbox;
drop table idempotency_key;
drop table ledger_hold;
drop table ledger_posting;
drop table ledger_entry;
drop table ledger_balance;
drop table ledger_account;
drop function ledger_append_only;
drop function ledger_check_balanced;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
