"""ISV authorisation (app_auth_code, app_auth_token) and platform key rotation.

`app_authorisation`: one row per merchant and service-provider (ISV) app, walking
granted -> valid -> revoked (see openplatform/authorisation.py). It holds the SHA-256 of
the current app_auth_token and app_refresh_token, never the tokens; a refresh replaces
both. `app_auth_code`: the one-time codes a merchant grants, by SHA-256, each used once
before it expires.

Platform keys: `retired_at` becomes `retires_at`, the moment a key stops signing (in the
future during a rotation's grace period); at most one key has none, the newest. Each app
is pinned to the key its merchant has configured (`open_app.platform_key_id`); existing
apps are pinned to the current key.

Revision ID: 0009
"""

from alembic import op

revision = "0009"
down_revision = "0008"

UPGRADE = """
create table app_authorisation (
    id bigserial primary key,
    merchant_id bigint not null references merchant (id),
    app_id text not null references open_app (app_id),
    state text not null check (state in ('granted', 'valid', 'revoked')),
    auth_app_id text,
    token_hash text unique,
    refresh_token_hash text unique,
    token_expires_at timestamptz,
    refresh_expires_at timestamptz,
    auth_start timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    unique (merchant_id, app_id),
    check (state <> 'valid' or token_hash is not null)
);
create index app_authorisation_app on app_authorisation (app_id);

create table app_auth_code (
    code_hash text primary key,
    authorisation_id bigint not null references app_authorisation (id),
    expires_at timestamptz not null,
    used_at timestamptz
);
create index app_auth_code_authorisation on app_auth_code (authorisation_id);

alter table platform_key rename column retired_at to retires_at;
create unique index platform_key_one_newest on platform_key ((true)) where retires_at is null;
alter table open_app add column platform_key_id bigint references platform_key (id);
update open_app set platform_key_id = (select max(id) from platform_key where retires_at is null);
"""

DOWNGRADE = """
alter table open_app drop column platform_key_id;
drop index platform_key_one_newest;
alter table platform_key rename column retires_at to retired_at;
drop table app_auth_code;
drop table app_authorisation;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
