"""Trade methods as Alipay answers them where unmodified clients found zhifu differing:
trade_no winning over out_trade_no, paying a paid out_trade_no, `1c` timeouts, and
fund_change under racing refunds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from tests.openplatform.alipay_client import AlipayTestClient
from tests.openplatform.notify_support import Zhifu, private_zhifu
from tests.openplatform.test_gateway import assert_refused, order, paid_trade
from tests.payments.conftest import Shop
from zhifu.clock import BUSINESS_TIMEZONE
from zhifu.runtime import Runtime


async def test_trade_no_wins_over_out_trade_no(alipay: AlipayTestClient, shop: Shop) -> None:
    first = await alipay.call("alipay.trade.create", order())
    second = await alipay.call("alipay.trade.create", order())
    both = {"trade_no": first["trade_no"], "out_trade_no": second["out_trade_no"]}
    queried = await alipay.call("alipay.trade.query", both)
    assert (queried["code"], queried["trade_no"]) == ("10000", first["trade_no"])
    closed = await alipay.call("alipay.trade.close", both)
    assert closed["out_trade_no"] == first["out_trade_no"]
    cancelled = await alipay.call(
        "alipay.trade.cancel", {**both, "trade_no": second["trade_no"], "out_trade_no": "none"}
    )
    assert (cancelled["trade_no"], cancelled["action"]) == (second["trade_no"], "close")


async def test_refund_by_trade_no_ignores_another_out_trade_no(
    alipay: AlipayTestClient, runtime: Runtime, shop: Shop
) -> None:
    trade = await paid_trade(alipay, runtime, shop)
    other = await alipay.call("alipay.trade.create", order())
    biz = {"trade_no": trade["trade_no"], "out_trade_no": other["out_trade_no"]}
    refunded = await alipay.call("alipay.trade.refund", {**biz, "refund_amount": "1.00"})
    assert (refunded["code"], refunded["trade_no"]) == ("10000", trade["trade_no"])
    found = await alipay.call(
        "alipay.trade.fastpay.refund.query", {**biz, "out_request_no": trade["out_trade_no"]}
    )
    assert found["refund_amount"] == "1.00"


async def test_paying_a_paid_out_trade_no_is_trade_has_success(
    alipay: AlipayTestClient, runtime: Runtime, shop: Shop
) -> None:
    qr = await paid_trade(alipay, runtime, shop)
    stranger = await shop.consumer()
    code = (await runtime.payments.devices.current_code(stranger)).code
    again = {**qr, "scene": "bar_code", "auth_code": code}
    del again["trade_no"], again["buyer"]
    assert_refused(await alipay.call("alipay.trade.pay", again), "40004", "ACQ.TRADE_HAS_SUCCESS")
    own_code = (await runtime.payments.devices.current_code(qr["buyer"])).code
    by_its_buyer = await alipay.call("alipay.trade.pay", {**again, "auth_code": own_code})
    assert_refused(by_its_buyer, "40004", "ACQ.TRADE_HAS_SUCCESS")  # paid by QR already

    buyer = await shop.consumer()
    code = (await runtime.payments.devices.current_code(buyer)).code
    asked = order("8.00", scene="bar_code", auth_code=code)
    assert (await alipay.call("alipay.trade.pay", asked))["trade_status"] == "TRADE_SUCCESS"
    code = (await runtime.payments.devices.current_code(stranger)).code
    other_buyer = await alipay.call("alipay.trade.pay", {**asked, "auth_code": code})
    assert_refused(other_buyer, "40004", "ACQ.TRADE_HAS_SUCCESS")
    assert (await alipay.call("alipay.trade.pay", asked))["code"] == "10000"  # a retry
    assert await shop.wallet_balance(stranger) == 100_000  # nobody paid twice
    assert await shop.wallet_balance(qr["buyer"]) == 50_000 - 100_00


async def test_racing_identical_refunds_move_money_once_and_say_so_once(
    alipay: AlipayTestClient, runtime: Runtime, shop: Shop
) -> None:
    trade = await paid_trade(alipay, runtime, shop)
    biz = {"trade_no": trade["trade_no"], "refund_amount": "10.00", "out_request_no": "r1"}
    answers = await asyncio.gather(*(alipay.call("alipay.trade.refund", biz) for _ in range(6)))
    assert {answer["code"] for answer in answers} == {"10000"}
    assert sorted(answer["fund_change"] for answer in answers) == ["N"] * 5 + ["Y"]
    assert {answer["refund_fee"] for answer in answers} == {"10.00"}
    assert await shop.wallet_balance(trade["buyer"]) == 50_000 - 100_00 + 10_00


@pytest.fixture(scope="module")
async def zhifu(server_urls: dict[str, str]) -> AsyncIterator[Zhifu]:
    async with private_zhifu(server_urls["embedded"]) as env:
        yield env


@pytest.mark.parametrize(
    ("wall_clock", "expires"),
    [
        ("2026-03-01 09:30:00", "2026-03-02 00:00:00"),
        ("2026-03-01 23:59:30", "2026-03-02 00:00:30"),  # a trade lives at least a minute
        ("2026-03-02 00:00:00", "2026-03-03 00:00:00"),
    ],
)
async def test_timeout_express_1c_ends_with_the_business_day(
    zhifu: Zhifu, wall_clock: str, expires: str
) -> None:
    def beijing(text: str) -> datetime:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BUSINESS_TIMEZONE)

    zhifu.clock.set(beijing(wall_clock))
    alipay, merchant_id = await zhifu.app()
    made = await zhifu.call(alipay, "alipay.trade.create", order(timeout_express="1c"))
    assert made["code"] == "10000", made
    trade = await zhifu.runtime.payments.trades.get(merchant_id, trade_no=made["trade_no"])
    assert trade.expires_at == beijing(expires)
    precreated = await zhifu.call(alipay, "alipay.trade.precreate", order(timeout_express="1c"))
    assert precreated["code"] == "10000", precreated
    for wrong in ("2c", "1.5h", "c"):
        refused = await zhifu.call(alipay, "alipay.trade.create", order(timeout_express=wrong))
        assert_refused(refused, "40002", "isv.invalid-parameter")
        assert "1c" in refused["sub_msg"]


async def test_a_1c_trade_expires_at_midnight(zhifu: Zhifu) -> None:
    zhifu.clock.set(datetime(2026, 3, 5, 22, 0, tzinfo=BUSINESS_TIMEZONE))
    alipay, _ = await zhifu.app()
    made = await zhifu.call(alipay, "alipay.trade.create", order(timeout_express="1c"))
    zhifu.clock.advance(timedelta(hours=2))
    await zhifu.runtime.payments.lifecycle.expire_due()
    closed = await zhifu.call(alipay, "alipay.trade.query", {"trade_no": made["trade_no"]})
    assert closed["trade_status"] == "TRADE_CLOSED"
