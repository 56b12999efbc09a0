"""Open platform: apps that call the Alipay-compatible gateway, and zhifu's platform keys.

An app belongs to a merchant (`merchant_id`); service-provider (ISV) apps are flagged by
`isv` and will act for merchants through app_auth_token (not built yet). `allowed_methods`
lists the gateway methods the app may call. `sandbox` is stored only: sandbox money
separation is not built yet.

The platform key pair signs gateway responses; the newest row not retired is the current
key (rotation with a grace period will retire older rows later).

Revision ID: 0008
"""

from alembic import op

revision = "0008"
down_revision = "0007"

UPGRADE = """
create table open_app (
    id bigserial primary key,
    app_id text not null unique check (app_id ~ '^[0-9]{16}$'),
    merchant_id bigint not null references merchant (id),
    isv boolean not null default false,
    sandbox boolean not null default false,
    public_key text not null,
    allowed_methods text[] not null,
    created_at timestamptz not null
);
create index open_app_merchant on open_app (merchant_id);

create table platform_key (
    id bigserial primary key,
    public_key text not null,
    private_key text not null,
    created_at timestamptz not null,
    retired_at timestamptz
);
"""

DOWNGRADE = """
drop table platform_key;
drop table open_app;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
