from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.payments.conftest import PIN, Shop
from zhifu.clock import ManualClock
from zhifu.errors import InvalidStateTransition
from zhifu.payments.model import NewTrade


def guaranteed(amount: int) -> NewTrade:
    return NewTrade(out_trade_no=uuid.uuid4().hex, amount=amount, subject="lamp", escrow=True)


async def test_escrow_holds_until_buyer_confirms(timed_shop: Shop) -> None:
    payments = timed_shop.runtime.payments
    merchant = await timed_shop.merchant()
    buyer = await timed_shop.consumer(10_000)
    trade = await payments.trades.create(merchant, guaranteed(5_000))
    await payments.trades.pay(trade.trade_no, buyer, pin=PIN)
    assert await timed_shop.wallet_balance(buyer) == 5_000  # reserved, not yet moved
    assert (await payments.merchants.balances(merchant.id))["pending_settlement"] == 0
    shipped = await payments.escrow.ship(merchant.id, trade.trade_no)
    assert shipped.escrow_state == "SHIPPED"
    with pytest.raises(InvalidStateTransition):
        await payments.escrow.ship(merchant.id, trade.trade_no)
    confirmed = await payments.escrow.confirm(buyer, trade.trade_no)
    assert confirmed.escrow_state == "CONFIRMED"
    assert (await payments.merchants.balances(merchant.id))["pending_settlement"] == 4_970
    assert (await timed_shop.runtime.ledger.verify()).ok


async def test_escrow_confirms_itself_after_ten_days(timed_shop: Shop) -> None:
    runtime = timed_shop.runtime
    assert isinstance(runtime.clock, ManualClock)
    payments = runtime.payments
    merchant = await timed_shop.merchant()
    buyer = await timed_shop.consumer(10_000)
    trade = await payments.trades.create(merchant, guaranteed(1_000))
    await payments.trades.pay(trade.trade_no, buyer, pin=PIN)
    runtime.clock.advance(timedelta(days=9, hours=23))
    await payments.escrow.auto_confirm_due()
    assert (await payments.trades.by_trade_no(trade.trade_no)).escrow_state == "PAID"
    runtime.clock.advance(timedelta(hours=2))
    assert await payments.escrow.auto_confirm_due() >= 1
    assert (await payments.trades.by_trade_no(trade.trade_no)).escrow_state == "CONFIRMED"


async def test_refund_request_agreed_or_disputed(timed_shop: Shop) -> None:
    payments = timed_shop.runtime.payments
    merchant = await timed_shop.merchant()
    buyer = await timed_shop.consumer(10_000)
    agreed = await payments.trades.create(merchant, guaranteed(1_000))
    await payments.trades.pay(agreed.trade_no, buyer, pin=PIN)
    await payments.escrow.request_refund(buyer, agreed.trade_no)
    refunded = await payments.escrow.answer_refund(merchant.id, agreed.trade_no, agree=True)
    assert (refunded.state, refunded.escrow_state) == ("TRADE_CLOSED", "REFUNDED")
    assert await timed_shop.wallet_balance(buyer) == 10_000

    disputed = await payments.trades.create(merchant, guaranteed(2_000))
    await payments.trades.pay(disputed.trade_no, buyer, pin=PIN)
    await payments.escrow.request_refund(buyer, disputed.trade_no)
    await payments.escrow.answer_refund(merchant.id, disputed.trade_no, agree=False)
    ruled = await payments.escrow.decide_dispute(disputed.trade_no, for_buyer=False)
    assert ruled.escrow_state == "CONFIRMED"
    assert await timed_shop.wallet_balance(buyer) == 8_000
    assert (await timed_shop.runtime.ledger.verify()).ok
