"""Alipay's asynchronous notifications (`notify_url`) of the trades apps make through the
gateway: a channel of the events dispatcher.

Payments emit every change of a trade to the outbox in the transaction that makes it.
This channel picks the changes Alipay notifies and the trades whose app gave a
notify_url (origins.py), and renders each as Alipay's form POST:

    trade.paid                      TRADE_SUCCESS
    trade.refunded (in part)        TRADE_SUCCESS with refund_fee (cumulative), gmt_refund
    trade.closed                    TRADE_CLOSED: unpaid and closed, expired or cancelled,
                                    or refunded in full (then with refund_fee, gmt_refund)
    trade.escrow.refunded           TRADE_CLOSED (a guaranteed trade refunded)
    trade.finished                  TRADE_FINISHED (the refund window ended)

A refund in full emits trade.refunded and trade.closed together: Alipay sends one
TRADE_CLOSED for it, so that trade.refunded is not notified. WAIT_BUYER_PAY never is.

The fields are signed with the platform key, in the app's sign type, by the notify rule
(sign and sign_type left out of the signed text), with no empty field: Java's verifier
skips empty values and fzlee's would sign `k=`. The reply acknowledges only as HTTP 200
with the body exactly `success`; otherwise the dispatcher retries on its schedule (4m,
10m, 10m, 1h, 2h, 6h, 15h), with the same notify_id (the event's id) and a fresh notify_time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from zhifu.db.database import Conn
from zhifu.events import Claim, Event, Outgoing, Reply, Target
from zhifu.identity import UserService
from zhifu.openplatform.apps import App, AppService
from zhifu.openplatform.fields import BEIJING, alipay_time, buyer_id, yuan
from zhifu.openplatform.keys import PlatformKeys
from zhifu.openplatform.open_ids import OpenIds
from zhifu.openplatform.origins import Origin, TradeOrigins, merchant_of
from zhifu.openplatform.signing import canonical_string, sign
from zhifu.payments import Trade, TradeService, TradeState

CHANNEL = "alipay_notify"
NOTIFIED_EVENTS = frozenset(
    {"trade.paid", "trade.refunded", "trade.closed", "trade.escrow.refunded", "trade.finished"}
)
ACKNOWLEDGEMENT = b"success"
CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
FUND_CHANNEL = "ALIPAYACCOUNT"


async def signed_for_app(keys: PlatformKeys, app: App, fields: Mapping[str, str]) -> dict[str, str]:
    """`fields` without the empty ones, signed with the app's own sign type (RSA2 or RSA:
    an SDK verifies with the type it is configured with) and the platform key the app's
    merchant has configured, by Alipay's notify rule (the signed text leaves out both
    sign and sign_type). Notifications and return parameters are signed here."""
    kept = {name: value for name, value in fields.items() if value}
    key = await keys.for_app(app.app_id)
    text = canonical_string(kept, exclude=("sign", "sign_type")).encode("utf-8")
    return {**kept, "sign_type": app.sign_type, "sign": sign(text, key.private_key, app.sign_type)}


def seller_id(merchant_id: int) -> str:
    """The merchant in Alipay's user id form (as alipay.open.auth.token.app's user_id)."""
    return buyer_id(merchant_id)


def notified(event: Event) -> bool:
    if event.type not in NOTIFIED_EVENTS or not isinstance(event.data.get("out_trade_no"), str):
        return False
    if event.type == "trade.refunded":  # a refund in full is told by its trade.closed
        return int(event.data["refunded_amount"]) < int(event.data["amount"])
    return True


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _refund_time(moment: datetime) -> str:
    """gmt_refund carries milliseconds: `yyyy-MM-dd HH:mm:ss.SSS`, Beijing time."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _refund_fields(event: Event) -> dict[str, str]:
    data = event.data
    refunded = int(data["refunded_amount"])
    if not refunded:
        return {}
    refund = data.get("refund")
    when = _moment(refund.get("created_at") if isinstance(refund, dict) else data["closed_at"])
    return {
        "refund_fee": yuan(refunded, data["currency"]),
        "gmt_refund": _refund_time(when) if when else "",
    }


def _payment_fields(event: Event) -> dict[str, str]:
    paid_at = _moment(event.data["paid_at"])
    if paid_at is None:
        return {}
    paid = yuan(int(event.data["amount"]), event.data["currency"])
    return {
        "receipt_amount": paid,
        "invoice_amount": paid,
        "buyer_pay_amount": paid,
        "point_amount": "0.00",
        "gmt_payment": alipay_time(paid_at),
        "fund_bill_list": json.dumps(
            [{"amount": paid, "fundChannel": FUND_CHANNEL}], separators=(",", ":")
        ),
    }


def notification(
    event: Event, origin: Origin, trade: Trade, buyer: Mapping[str, str], now: datetime
) -> dict[str, str]:
    """The unsigned fields of the notification of one event (some may be empty); `buyer`
    holds the buyer's buyer_logon_id and buyer_open_id, if the trade has a buyer."""
    data = event.data
    closed_at = _moment(data["closed_at"])
    return {
        "notify_time": alipay_time(now),
        "notify_type": "trade_status_sync",
        "notify_id": event.id,
        "app_id": origin.app_id,
        "auth_app_id": origin.auth_app_id,
        "charset": "utf-8",
        "version": "1.0",
        "trade_no": data["trade_no"],
        "out_trade_no": data["out_trade_no"],
        "trade_status": data["state"],
        "total_amount": yuan(int(data["amount"]), data["currency"]),
        **_payment_fields(event),
        "buyer_id": buyer_id(trade.buyer_user_id) if trade.buyer_user_id else "",
        "buyer_logon_id": buyer.get("buyer_logon_id", ""),
        "buyer_open_id": buyer.get("buyer_open_id", ""),
        "seller_id": seller_id(trade.merchant_id),
        "subject": data["subject"],
        "gmt_create": alipay_time(trade.created_at),
        **_refund_fields(event),
        "gmt_close": alipay_time(closed_at)
        if closed_at and data["state"] == TradeState.TRADE_CLOSED
        else "",
        "passback_params": origin.passback_params or "",
    }


class AlipayNotifications:
    """The events channel `alipay_notify`."""

    name = CHANNEL

    def __init__(
        self,
        origins: TradeOrigins,
        apps: AppService,
        keys: PlatformKeys,
        trades: TradeService,
        users: UserService,
        open_ids: OpenIds,
    ) -> None:
        self.origins = origins
        self.apps = apps
        self.open_ids = open_ids
        self.keys = keys
        self.trades = trades
        self.users = users

    async def targets(self, conn: Conn, events: Sequence[Event]) -> list[Target]:
        """A notification of each notified change of a trade whose app gave a notify_url."""
        chosen = [
            (event, merchant)
            for event in events
            if notified(event) and (merchant := merchant_of(event.owner)) is not None
        ]
        if not chosen:
            return []
        urls = await self.origins.notify_urls(
            conn, [(merchant, event.data["out_trade_no"]) for event, merchant in chosen]
        )
        return [Target(event.id, url) for (event, _), url in zip(chosen, urls, strict=True) if url]

    async def render(self, claim: Claim, now: datetime) -> Outgoing:
        event = claim.event
        merchant_id = merchant_of(event.owner)
        assert merchant_id is not None
        origin = await self.origins.get(merchant_id, event.data["out_trade_no"])
        assert origin is not None  # origins are never taken back once their trade exists
        trade = await self.trades.get(merchant_id, trade_no=event.data["trade_no"])
        fields = notification(event, origin, trade, await self._buyer(origin, trade), now)
        signed = await signed_for_app(self.keys, await self.apps.get(origin.app_id), fields)
        headers = {"Content-Type": CONTENT_TYPE, "User-Agent": "zhifu-alipay-notify/1"}
        return Outgoing(claim.url, urlencode(signed).encode("ascii"), headers)

    def acknowledges(self, reply: Reply) -> bool:
        return reply.status_code == 200 and reply.body == ACKNOWLEDGEMENT

    async def _buyer(self, origin: Origin, trade: Trade) -> dict[str, str]:
        if trade.buyer_user_id is None:
            return {}
        return {
            "buyer_logon_id": await self.users.masked_phone(trade.buyer_user_id),
            "buyer_open_id": await self.open_ids.of(origin.app_id, trade.buyer_user_id),
        }
