"""Alipay-form notify_url notifications through the outbox.

Deliveries get a channel: `webhook` (the owner's endpoint, looked up at each attempt, as
before) or another one registered with the dispatcher, such as `alipay_notify`, whose
deliveries carry their own `target` url (the notify_url an app gave).

`open_trade_origin` records which app made a trade through the gateway, with what it
asked for there that the trade itself does not keep (passback_params, the notify_url of
alipay.trade.pay). It is keyed like a trade, by merchant and out_trade_no, because it is
written before the trade exists: the trade's first event may be its payment.

Revision ID: 0010
"""

from alembic import op

revision = "0010"
down_revision = "0009"

UPGRADE = """
alter table event_delivery
    add column channel text not null default 'webhook',
    add column target text,
    add constraint event_delivery_target check ((channel = 'webhook') = (target is null));

create table open_trade_origin (
    merchant_id bigint not null references merchant (id),
    out_trade_no text not null,
    app_id text not null references open_app (app_id),
    auth_app_id text not null,
    method text not null,
    notify_url text,
    passback_params text,
    created_at timestamptz not null,
    primary key (merchant_id, out_trade_no)
);
"""

DOWNGRADE = """
drop table open_trade_origin;
delete from event_delivery_attempt a using event_delivery d
    where d.id = a.delivery_id and d.channel <> 'webhook';
delete from event_delivery where channel <> 'webhook';
alter table event_delivery
    drop constraint event_delivery_target,
    drop column target,
    drop column channel;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
