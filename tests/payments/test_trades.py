from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from tests.payments.conftest import PIN, Shop
from zhifu.clock import ManualClock
from zhifu.errors import IncorrectPin, InsufficientFunds
from zhifu.payments.errors import (
    PinRequired,
    RefundExists,
    RefundTooLarge,
    TradeClosed,
    TradeExists,
    TradeExpired,
    TradeNotRefundable,
    TradePaid,
)
from zhifu.payments.model import NewTrade


def order(amount: int, **options: object) -> NewTrade:
    return NewTrade(out_trade_no=uuid.uuid4().hex, amount=amount, subject="coffee", **options)  # type: ignore[arg-type]


async def verify_ok(shop: Shop) -> None:
    report = await shop.runtime.ledger.verify()
    assert report.ok, report.breaches


async def test_pay_moves_money_to_merchant_less_fee(shop: Shop) -> None:
    payments = shop.runtime.payments
    merchant = await shop.merchant()
    buyer = await shop.consumer(50_000)
    trade = await payments.trades.create(merchant, order(10_000))
    assert trade.state == "WAIT_BUYER_PAY"
    paid = await payments.trades.pay(trade.trade_no, buyer, pin=PIN)
    assert (paid.state, paid.fee, paid.buyer_user_id) == ("TRADE_SUCCESS", 60, buyer)
    assert await shop.wallet_balance(buyer) == 40_000
    balances = await payments.merchants.balances(merchant.id)
    assert balances["pending_settlement"] == 9_940
    await verify_ok(shop)


async def test_out_trade_no_is_idempotent(shop: Shop) -> None:
    trades = shop.runtime.payments.trades
    merchant = await shop.merchant()
    first = await trades.create(merchant, order(500))
    again = await trades.create(
        merchant, NewTrade(out_trade_no=first.out_trade_no, amount=500, subject="coffee")
    )
    assert again.trade_no == first.trade_no
    with pytest.raises(TradeExists):
        await trades.create(
            merchant, NewTrade(out_trade_no=first.out_trade_no, amount=501, subject="coffee")
        )


async def test_concurrent_double_payment_takes_money_once(shop: Shop) -> None:
    trades = shop.runtime.payments.trades
    merchant = await shop.merchant()
    buyer = await shop.consumer(50_000)
    trade = await trades.create(merchant, order(1_000))
    results = await asyncio.gather(
        *[trades.pay(trade.trade_no, buyer) for _ in range(8)], return_exceptions=True
    )
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
    assert all(isinstance(r, TradePaid) for r in results if isinstance(r, Exception))
    assert await shop.wallet_balance(buyer) == 49_000
    await verify_ok(shop)


async def test_pin_rules(shop: Shop) -> None:
    trades = shop.runtime.payments.trades
    merchant = await shop.merchant()
    buyer = await shop.consumer(500_000)
    big = await trades.create(merchant, order(20_001))
    with pytest.raises(PinRequired):
        await trades.pay(big.trade_no, buyer)
    with pytest.raises(IncorrectPin):
        await trades.pay(big.trade_no, buyer, pin="975310")
    await trades.pay(big.trade_no, buyer, pin=PIN)
    # 2,000.00 a day without the PIN: ten payments of 200.00, then the PIN is asked.
    for _ in range(10):
        small = await trades.create(merchant, order(20_000))
        await trades.pay(small.trade_no, buyer)
    eleventh = await trades.create(merchant, order(100))
    with pytest.raises(PinRequired):
        await trades.pay(eleventh.trade_no, buyer)


async def test_insufficient_funds_leaves_trade_waiting(shop: Shop) -> None:
    trades = shop.runtime.payments.trades
    merchant = await shop.merchant()
    buyer = await shop.consumer(100)
    trade = await trades.create(merchant, order(1_000))
    with pytest.raises(InsufficientFunds):
        await trades.pay(trade.trade_no, buyer, pin=PIN)
    assert (await trades.by_trade_no(trade.trade_no)).state == "WAIT_BUYER_PAY"


async def test_refunds_partial_full_and_races(shop: Shop) -> None:
    payments = shop.runtime.payments
    merchant = await shop.merchant()
    buyer = await shop.consumer(100_000)
    trade = await payments.trades.create(merchant, order(10_000))
    await payments.trades.pay(trade.trade_no, buyer, pin=PIN)
    first = await payments.refunds.refund(
        merchant.id, trade_no=trade.trade_no, out_request_no="r1", amount=3_333
    )
    again = await payments.refunds.refund(
        merchant.id, trade_no=trade.trade_no, out_request_no="r1", amount=3_333
    )
    assert again.id == first.id
    with pytest.raises(RefundExists):
        await payments.refunds.refund(
            merchant.id, trade_no=trade.trade_no, out_request_no="r1", amount=1
        )
    with pytest.raises(RefundTooLarge):
        await payments.refunds.refund(
            merchant.id, trade_no=trade.trade_no, out_request_no="r2", amount=6_668
        )
    # Ten concurrent refunds of 1,000.00 against 6,667 left: six succeed.
    results = await asyncio.gather(
        *[
            payments.refunds.refund(
                merchant.id, trade_no=trade.trade_no, out_request_no=f"race-{i}", amount=1_000
            )
            for i in range(10)
        ],
        return_exceptions=True,
    )
    assert sum(1 for r in results if not isinstance(r, Exception)) == 6
    last = await payments.refunds.refund(
        merchant.id, trade_no=trade.trade_no, out_request_no="last", amount=667
    )
    assert last.amount == 667
    closed = await payments.trades.by_trade_no(trade.trade_no)
    assert (closed.state, closed.refunded_amount, closed.refunded_fee) == (
        "TRADE_CLOSED",
        10_000,
        60,
    )
    assert await shop.wallet_balance(buyer) == 100_000
    assert (await payments.merchants.balances(merchant.id))["pending_settlement"] == 0
    with pytest.raises(TradeNotRefundable):
        await payments.refunds.refund(
            merchant.id, trade_no=trade.trade_no, out_request_no="after", amount=1
        )
    await verify_ok(shop)


async def test_close_cancel_and_pay_closed(shop: Shop) -> None:
    payments = shop.runtime.payments
    merchant = await shop.merchant()
    buyer = await shop.consumer(10_000)
    unpaid = await payments.trades.create(merchant, order(100))
    await payments.lifecycle.close(merchant.id, trade_no=unpaid.trade_no)
    with pytest.raises(TradeClosed):
        await payments.trades.pay(unpaid.trade_no, buyer)
    paid = await payments.trades.create(merchant, order(100))
    await payments.trades.pay(paid.trade_no, buyer)
    cancelled = await payments.refunds.cancel(merchant.id, trade_no=paid.trade_no)
    assert cancelled.state == "TRADE_CLOSED"
    assert await shop.wallet_balance(buyer) == 10_000
    again = await payments.refunds.cancel(merchant.id, trade_no=paid.trade_no)
    assert again.state == "TRADE_CLOSED"
    await verify_ok(shop)


async def test_expiry_and_refund_window(timed_shop: Shop) -> None:
    runtime = timed_shop.runtime
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    payments = runtime.payments
    merchant = await timed_shop.merchant()
    buyer = await timed_shop.consumer(10_000)
    late = await payments.trades.create(merchant, order(100, timeout=timedelta(minutes=5)))
    paid = await payments.trades.create(merchant, order(100))
    await payments.trades.pay(paid.trade_no, buyer)
    clock.advance(timedelta(minutes=6))
    with pytest.raises(TradeExpired):
        await payments.trades.pay(late.trade_no, buyer)
    assert await payments.lifecycle.expire_due() >= 1
    assert (await payments.trades.by_trade_no(late.trade_no)).close_reason == "expired"
    clock.advance(timedelta(days=90))
    assert await payments.lifecycle.finish_due() >= 1
    finished = await payments.trades.by_trade_no(paid.trade_no)
    assert finished.state == "TRADE_FINISHED"
    with pytest.raises(TradeNotRefundable):
        await payments.refunds.refund(
            merchant.id, trade_no=paid.trade_no, out_request_no="late", amount=1
        )
