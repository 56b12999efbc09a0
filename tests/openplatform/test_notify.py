"""Alipay notifications to notify_url: a real HTTP receiver, a zhifu of the tests' own
driven by a manual clock, the body checked with a verifier written here from the
protocol notes (and with fzlee's own `AliPay.verify` when the SDK is installed)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.events.support import Receiver
from tests.openplatform.alipay_client import AlipayTestClient, pkcs1_private_pem
from tests.openplatform.notify_support import (
    SUCCESS,
    Zhifu,
    form_fields,
    fzlee,
    private_zhifu,
    verify_notify_signature,
)
from tests.openplatform.test_sdk_fzlee import sdk_available
from tests.payments.conftest import PIN
from zhifu.events import RETRY_DELAYS, DeliveryState, list_deliveries

NOTIFY_FIELDS = {
    "notify_time", "notify_type", "notify_id", "app_id", "auth_app_id", "charset", "version",
    "sign_type", "sign", "trade_no", "out_trade_no", "trade_status", "total_amount",
    "seller_id", "subject", "gmt_create",
}  # fmt: skip
PAID_FIELDS = {
    "receipt_amount", "invoice_amount", "buyer_pay_amount", "point_amount", "buyer_id",
    "buyer_logon_id", "gmt_payment", "fund_bill_list",
}  # fmt: skip


@pytest.fixture(scope="module")
async def zhifu(server_urls: dict[str, str]) -> AsyncIterator[Zhifu]:
    async with private_zhifu(server_urls["embedded"]) as env:
        yield env


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A merchant's server: it answers `success`, unless a test scripts otherwise."""
    server = Receiver().start()
    server.script([], then=SUCCESS)
    yield server
    server.stop()


def order(amount: str = "88.88", **more: str) -> dict[str, str]:
    biz = {"out_trade_no": uuid.uuid4().hex, "total_amount": amount, "subject": "测试 oolong"}
    return biz | more


async def paid_trade(
    zhifu: Zhifu, alipay: AlipayTestClient, notify_url: str, amount: str = "88.88"
) -> tuple[str, int]:
    """A trade the app made with alipay.trade.precreate, paid by a consumer; its trade_no
    and the consumer."""
    biz = order(amount, passback_params="cart%3D7")
    made = await zhifu.call(alipay, "alipay.trade.precreate", biz, notify_url=notify_url)
    assert made["code"] == "10000", made
    trade = await zhifu.runtime.payments.trades.get(
        (await zhifu.runtime.openplatform.apps.get(alipay.app_id)).merchant_id,
        out_trade_no=biz["out_trade_no"],
    )
    buyer = await zhifu.shop.consumer()
    await zhifu.runtime.payments.paying.pay_trade(trade.trade_no, buyer, pin=PIN)
    return trade.trade_no, buyer


def notifications(receiver: Receiver) -> list[dict[str, str]]:
    return [form_fields(request.body) for request in receiver.received]


def checked(fields: dict[str, str], alipay: AlipayTestClient) -> dict[str, str]:
    """A notification's fields once its form and signature are right."""
    assert all(fields.values()), "an empty field"
    assert set(fields) >= NOTIFY_FIELDS, NOTIFY_FIELDS - set(fields)
    assert verify_notify_signature(fields, alipay.platform_key)
    assert (fields["notify_type"], fields["charset"], fields["version"]) == (
        "trade_status_sync",
        "utf-8",
        "1.0",
    )
    assert fields["app_id"] == fields["auth_app_id"] == alipay.app_id
    return fields


async def test_a_payment_is_notified_on_alipays_schedule_until_the_answer_is_success(
    zhifu: Zhifu, receiver: Receiver
) -> None:
    alipay, merchant_id = await zhifu.app()
    receiver.script([(200, b"fail"), 500, (200, b"success\n")], then=SUCCESS)
    trade_no, buyer = await paid_trade(zhifu, alipay, receiver.url)

    await zhifu.deliver()
    attempted_at = zhifu.clock.now()
    for sent, gap in enumerate(RETRY_DELAYS[:3], start=1):
        (delivery,) = await zhifu.notify_deliveries(merchant_id)
        assert (delivery.state, delivery.next_attempt_at) == (
            DeliveryState.PENDING,
            attempted_at + gap,
        )
        zhifu.clock.set(attempted_at + gap - timedelta(seconds=1))
        await zhifu.deliver()  # not due yet: nothing is sent
        assert len(receiver.received) == sent
        attempted_at = zhifu.clock.advance(timedelta(seconds=1))
        await zhifu.deliver()

    (delivery,) = await zhifu.notify_deliveries(merchant_id)
    assert (delivery.state, delivery.attempts) == (DeliveryState.SUCCEEDED, 4)
    sent = [checked(fields, alipay) for fields in notifications(receiver)]
    assert len({fields["notify_id"] for fields in sent}) == 1  # the same notification
    assert len({fields["notify_time"] for fields in sent}) == 4  # sent at four times
    request = receiver.received[0]
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded; charset=utf-8"
    fields = sent[-1]
    trade = await zhifu.runtime.payments.trades.by_trade_no(trade_no)
    assert set(fields) >= PAID_FIELDS
    assert {
        name: fields[name]
        for name in ("trade_no", "out_trade_no", "trade_status", "total_amount", "subject")
    } == {
        "trade_no": trade_no,
        "out_trade_no": trade.out_trade_no,
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "88.88",
        "subject": "测试 oolong",
    }
    assert fields["receipt_amount"] == fields["buyer_pay_amount"] == "88.88"
    assert fields["point_amount"] == "0.00"
    assert fields["buyer_id"] == f"2088{buyer:012d}"
    assert fields["seller_id"] == f"2088{merchant_id:012d}"
    assert fields["passback_params"] == "cart%3D7"
    assert json.loads(fields["fund_bill_list"]) == [
        {"amount": "88.88", "fundChannel": "ALIPAYACCOUNT"}
    ]
    assert "refund_fee" not in fields and "gmt_close" not in fields
    async with zhifu.runtime.db.connection() as conn:
        assert await list_deliveries(conn, f"merchant:{merchant_id}") == []  # no webhook set


async def test_a_tampered_notification_does_not_verify(zhifu: Zhifu, receiver: Receiver) -> None:
    alipay, _ = await zhifu.app()
    await paid_trade(zhifu, alipay, receiver.url)
    await zhifu.deliver()
    (fields,) = notifications(receiver)
    assert verify_notify_signature(fields, alipay.platform_key)
    assert not verify_notify_signature({**fields, "total_amount": "0.01"}, alipay.platform_key)


async def deliver_one(zhifu: Zhifu, receiver: Receiver, alipay: AlipayTestClient) -> dict[str, str]:
    """Deliver what is due; the one new notification the receiver got."""
    before = len(receiver.received)
    await zhifu.deliver()
    assert len(receiver.received) == before + 1
    return checked(notifications(receiver)[-1], alipay)


async def test_refunds_in_part_and_in_full_are_notified(zhifu: Zhifu, receiver: Receiver) -> None:
    alipay, _ = await zhifu.app()
    trade_no, _ = await paid_trade(zhifu, alipay, receiver.url, amount="100.00")
    assert (await deliver_one(zhifu, receiver, alipay))["trade_status"] == "TRADE_SUCCESS"

    refund = {"trade_no": trade_no, "refund_amount": "30.00", "out_request_no": "r1"}
    assert (await zhifu.call(alipay, "alipay.trade.refund", refund))["code"] == "10000"
    part = await deliver_one(zhifu, receiver, alipay)
    assert (part["trade_status"], part["refund_fee"]) == ("TRADE_SUCCESS", "30.00")
    assert len(part["gmt_refund"]) == len("2026-01-01 08:00:00.000")
    assert "gmt_close" not in part

    rest = {"trade_no": trade_no, "refund_amount": "70.00", "out_request_no": "r2"}
    assert (await zhifu.call(alipay, "alipay.trade.refund", rest))["code"] == "10000"
    full = await deliver_one(zhifu, receiver, alipay)  # one notification, not two
    assert (full["trade_status"], full["refund_fee"]) == ("TRADE_CLOSED", "100.00")
    assert full["gmt_close"] and full["gmt_refund"] and full["gmt_payment"]
    assert full["receipt_amount"] == "100.00"
    assert len({part["notify_id"], full["notify_id"]}) == 2
    await zhifu.deliver()
    assert len(receiver.received) == 3


async def test_unpaid_trades_closed_or_expired_are_notified_and_waiting_is_not(
    zhifu: Zhifu, receiver: Receiver
) -> None:
    alipay, _ = await zhifu.app()
    closed, expiring = order(), order(timeout_express="5m")
    for biz in (closed, expiring):
        made = await zhifu.call(alipay, "alipay.trade.precreate", biz, notify_url=receiver.url)
        assert made["code"] == "10000"
    await zhifu.deliver()
    assert receiver.received == []  # WAIT_BUYER_PAY is not notified

    close = {"out_trade_no": closed["out_trade_no"]}
    assert (await zhifu.call(alipay, "alipay.trade.close", close))["code"] == "10000"
    by_merchant = await deliver_one(zhifu, receiver, alipay)
    assert (by_merchant["out_trade_no"], by_merchant["trade_status"]) == (
        closed["out_trade_no"],
        "TRADE_CLOSED",
    )
    assert not PAID_FIELDS & set(by_merchant)  # nothing paid, no buyer: no such fields
    assert "refund_fee" not in by_merchant and by_merchant["gmt_close"]

    zhifu.clock.advance(timedelta(minutes=6))
    assert await zhifu.runtime.payments.lifecycle.expire_due() >= 1
    expired = await deliver_one(zhifu, receiver, alipay)
    assert (expired["out_trade_no"], expired["trade_status"]) == (
        expiring["out_trade_no"],
        "TRADE_CLOSED",
    )


async def test_a_trade_without_notify_url_gets_no_notification_but_its_webhook(
    zhifu: Zhifu, receiver: Receiver
) -> None:
    alipay, merchant_id = await zhifu.app()
    merchant = await zhifu.runtime.payments.merchants.get(merchant_id)
    await zhifu.runtime.payments.notifications.set_webhook(merchant, receiver.url)
    notified_url = receiver.url.replace("/webhooks", "/alipay-notify")
    await paid_trade(zhifu, alipay, notified_url)  # notified, and its webhook
    await paid_trade(zhifu, alipay, "")  # its webhook only

    await zhifu.deliver()

    kinds = sorted(
        request.headers.get("Zhifu-Event-Type", "notify") for request in receiver.received
    )
    assert kinds == ["notify", "trade.paid", "trade.paid"]
    async with zhifu.runtime.db.connection() as conn:
        webhooks = await list_deliveries(conn, merchant.owner)
    assert [d.state for d in webhooks] == [DeliveryState.SUCCEEDED] * 2
    (notify,) = await zhifu.notify_deliveries(merchant_id)
    assert notify.state == DeliveryState.SUCCEEDED


async def test_a_payment_code_payment_is_notified_and_a_refused_one_leaves_nothing(
    zhifu: Zhifu, receiver: Receiver
) -> None:
    alipay, merchant_id = await zhifu.app()
    devices = zhifu.runtime.payments.devices
    buyer, poor = await zhifu.shop.consumer(), await zhifu.shop.consumer(balance=100)
    paid_order = order("8.00", scene="bar_code", auth_code=(await devices.current_code(buyer)).code)
    refused_order = order(
        "8.00", scene="bar_code", auth_code=(await devices.current_code(poor)).code
    )

    paid = await zhifu.call(alipay, "alipay.trade.pay", paid_order, notify_url=receiver.url)
    refused = await zhifu.call(alipay, "alipay.trade.pay", refused_order, notify_url=receiver.url)

    assert (paid["code"], refused.get("sub_code")) == ("10000", "ACQ.BUYER_BALANCE_NOT_ENOUGH")
    notified = await deliver_one(zhifu, receiver, alipay)  # paid in the call that made it
    assert (notified["trade_no"], notified["trade_status"]) == (paid["trade_no"], "TRADE_SUCCESS")
    origins = zhifu.runtime.openplatform.cashier.origins
    assert await origins.get(merchant_id, paid_order["out_trade_no"]) is not None
    assert await origins.get(merchant_id, refused_order["out_trade_no"]) is None


@pytest.mark.skipif(not sdk_available(), reason="python-alipay-sdk (fzlee) is not installed")
async def test_fzlee_verifies_the_notification(zhifu: Zhifu, receiver: Receiver) -> None:
    alipay, _ = await zhifu.app()
    await paid_trade(zhifu, alipay, receiver.url)
    await zhifu.deliver()
    (fields,) = notifications(receiver)
    job: dict[str, Any] = {
        "app_id": alipay.app_id,
        "app_private_key": pkcs1_private_pem(alipay.private_key),
        "alipay_public_key": await zhifu.runtime.openplatform.platform_public_key(),
        "steps": [{"verify": fields}, {"verify": {**fields, "total_amount": "0.01"}}],
    }
    assert fzlee(job) == [True, False]
