"""Events: the transactional outbox, per-owner sequences, webhook endpoints, deliveries.

The outbox of 0001 becomes the event store: each row is one event with a public id, an
owner and a per-owner sequence. Emitting writes the row without a sequence; the
dispatcher's scheduling pass numbers committed events and fans them out into deliveries,
setting `sequence` and `dispatched_at` together (so emitting locks no per-owner row).

Revision ID: 0005
"""

from alembic import op

revision = "0005"
down_revision = "0004"

UPGRADE = """
alter table outbox rename column topic to event_type;
alter table outbox
    add column event_id text not null,
    add column owner text not null,
    add column sequence bigint check (sequence > 0),
    add constraint outbox_event_id unique (event_id),
    add constraint outbox_owner_sequence unique (owner, sequence),
    add constraint outbox_scheduled check ((sequence is null) = (dispatched_at is null));

-- One webhook endpoint per owner; event_types null means every type.
create table event_endpoint (
    owner text primary key,
    url text not null,
    secret text not null,
    event_types text[],
    created_at timestamptz not null,
    updated_at timestamptz not null
);

-- One delivery of one event to its owner's endpoint. While an attempt is in flight,
-- next_attempt_at is the end of its lease: if no outcome is recorded by then, the
-- delivery is due again and another worker retries it.
create table event_delivery (
    id bigserial primary key,
    outbox_id bigint not null references outbox (id),
    owner text not null,
    state text not null check (state in ('pending', 'succeeded', 'failed')),
    attempts integer not null default 0 check (attempts >= 0),
    next_attempt_at timestamptz,
    last_attempt_at timestamptz,
    last_status_code integer,
    last_error text,
    created_at timestamptz not null,
    completed_at timestamptz,
    check ((state = 'pending') = (next_attempt_at is not null)),
    check ((state = 'pending') = (completed_at is null))
);
create index event_delivery_due on event_delivery (next_attempt_at) where state = 'pending';
create index event_delivery_owner on event_delivery (owner, id);
create index event_delivery_outbox on event_delivery (outbox_id);

-- Every attempt: started when claimed, its outcome (status code or error) once known.
create table event_delivery_attempt (
    delivery_id bigint not null references event_delivery (id),
    attempt_no integer not null check (attempt_no > 0),
    started_at timestamptz not null,
    status_code integer,
    error text,
    duration_ms integer check (duration_ms >= 0),
    primary key (delivery_id, attempt_no)
);
"""

DOWNGRADE = """
drop table event_delivery_attempt;
drop table event_delivery;
drop table event_endpoint;
alter table outbox
    drop constraint outbox_scheduled,
    drop constraint outbox_owner_sequence,
    drop constraint outbox_event_id,
    drop column sequence,
    drop column owner,
    drop column event_id;
alter table outbox rename column event_type to topic;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
