"""Alipay compatibility: an app's sign type, its AES content key, and users' open ids.

`open_app.sign_type` is how the app signs (RSA2 or the legacy RSA); zhifu signs the app's
notifications and return parameters the same way. `open_app_aes_key` holds the key of
an app's AES content encryption (`encrypt_type=AES`), sealed under ZHIFU_KEY_PASSPHRASE
when one is set; it lives apart from `open_app` because it can be replaced. `open_user_id`
gives each user a random open id per app (Alipay's `buyer_open_id`, payee
`ALIPAY_OPEN_ID`): stable for the pair, and it reveals nothing of the user id.

Revision ID: 0016
"""

from alembic import op

revision = "0016"
down_revision = "0013"

UPGRADE = """
alter table open_app
    add column sign_type text not null default 'RSA2' check (sign_type in ('RSA2', 'RSA'));

create table open_app_aes_key (
    app_id text primary key references open_app (app_id),
    aes_key text not null,
    created_at timestamptz not null
);

create table open_user_id (
    app_id text not null references open_app (app_id),
    user_id bigint not null references app_user (id),
    open_id text not null unique,
    created_at timestamptz not null,
    primary key (app_id, user_id)
);
"""

DOWNGRADE = """
drop table open_user_id;
drop table open_app_aes_key;
alter table open_app drop column sign_type;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
