"""Alipay's public-key certificate mode and the v3 OpenAPI's replay guard.

`certificate_authority` is zhifu's root CA (one row: its certificate, and its private key
stored like the platform keys, encrypted when ZHIFU_KEY_PASSPHRASE is set).
`issued_certificate` holds the certificates the root has issued: one per app (for the
app's public key) and one per platform key; `sn` is Alipay's certificate serial
(md5 of the issuer and the decimal serial number) that requests and answers carry.
`open_api_nonce` remembers each v3 request's nonce until its timestamp leaves the window.

Revision ID: 0017
"""

from alembic import op

revision = "0017"
down_revision = "0016"

UPGRADE = """
create table certificate_authority (
    id smallint primary key check (id = 1),
    certificate text not null,
    private_key text not null,
    sn text not null,
    created_at timestamptz not null
);

create table issued_certificate (
    id bigserial primary key,
    app_id text unique references open_app (app_id),
    platform_key_id bigint unique references platform_key (id),
    sn text not null unique,
    certificate text not null,
    created_at timestamptz not null,
    check ((app_id is null) <> (platform_key_id is null))
);

create table open_api_nonce (
    app_id text not null,
    nonce text not null,
    expires_at timestamptz not null,
    primary key (app_id, nonce)
);
"""

DOWNGRADE = """
drop table open_api_nonce;
drop table issued_certificate;
drop table certificate_authority;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
