"""A merchant's reports: takings by business day (Asia/Shanghai) with refunds and fees,
and trade search by text, state, method and day."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.payments.conftest import PIN, Shop
from zhifu.clock import ManualClock, business_day
from zhifu.errors import InvalidRequest
from zhifu.payments.fees import refund_fee, trade_fee
from zhifu.payments.model import NewTrade
from zhifu.reporting import DayTakings, TradeQuery, day_start


def order(amount: int, subject: str = "Bubble tea", out_trade_no: str | None = None) -> NewTrade:
    return NewTrade(out_trade_no=out_trade_no or uuid.uuid4().hex, amount=amount, subject=subject)


async def test_takings_follow_the_business_day(timed_shop: Shop) -> None:
    runtime = timed_shop.runtime
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    payments = runtime.payments
    merchant = await timed_shop.merchant(fee_rate_ppm=6_000)
    buyer = await timed_shop.consumer(100_000)
    day = business_day(clock.now()) + timedelta(days=2)
    clock.set(day_start(day) + timedelta(hours=23, minutes=30))  # 15:30 UTC
    late = await payments.trades.create(merchant, order(10_000))
    await payments.trades.pay(late.trade_no, buyer, pin=PIN)
    await payments.trades.create(merchant, order(777))  # never paid: no takings
    clock.advance(timedelta(hours=1))  # 00:30 the next day in Shanghai
    early = await payments.trades.create(merchant, order(5_000))
    await payments.trades.pay(early.trade_no, buyer, pin=PIN)
    await payments.refunds.refund(
        merchant.id, trade_no=late.trade_no, out_request_no="r1", amount=2_000
    )
    days = await runtime.reporting.reports.takings(merchant.id, days=3)
    late_fee, early_fee = trade_fee(10_000, 6_000), trade_fee(5_000, 6_000)
    returned = refund_fee(late_fee, 10_000, 0, 2_000)
    assert days == [
        DayTakings(day - timedelta(days=1)),
        DayTakings(day, trades=1, gross=10_000, fees=late_fee),
        DayTakings(day + timedelta(days=1), trades=1, gross=5_000, fees=early_fee,
                   refunded=2_000, fees_returned=returned),
    ]  # fmt: skip
    assert days[2].net == 5_000 - early_fee - 2_000 + returned
    other = await timed_shop.merchant()
    assert all(
        d == DayTakings(d.day) for d in await runtime.reporting.reports.takings(other.id, days=3)
    )
    with pytest.raises(InvalidRequest):
        await runtime.reporting.reports.takings(merchant.id, days=0)


async def test_search_by_text_state_method_and_day(timed_shop: Shop) -> None:
    runtime = timed_shop.runtime
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    payments, reports = runtime.payments, runtime.reporting.reports
    merchant = await timed_shop.merchant()
    buyer = await timed_shop.consumer(100_000)
    first = await payments.trades.create(merchant, order(1_000, "100% cotton shirt", "A-1"))
    clock.advance(timedelta(days=1))
    second = await payments.trades.create(merchant, order(2_000, "1000 paper cranes", "B-22"))
    await payments.trades.pay(second.trade_no, buyer, pin=PIN, method="wallet")
    third = await payments.trades.create(merchant, order(3_000, "Snake_case mug", "C-333"))

    async def found(**query: object) -> list[str]:
        page = await reports.search(merchant.id, TradeQuery(**query))  # type: ignore[arg-type]
        return [trade.out_trade_no for trade in page.trades]

    assert await found() == ["C-333", "B-22", "A-1"]
    assert await found(text="100%") == ["A-1"]  # % is a character, not a wildcard
    assert await found(text="e_c") == ["C-333"]
    assert await found(text="b-2") == ["B-22"]
    assert await found(text=third.trade_no) == ["C-333"]
    assert await found(text=third.trade_no[:-1]) == []  # trade numbers match whole
    assert await found(state="TRADE_SUCCESS") == ["B-22"]
    assert await found(method="wallet") == ["B-22"]
    today = business_day(clock.now())
    assert await found(since=today) == ["C-333", "B-22"]
    assert await found(until=today - timedelta(days=1)) == ["A-1"]
    page = await reports.search(merchant.id, TradeQuery(limit=2))
    assert page.next_before == second.id
    older = await reports.search(merchant.id, TradeQuery(limit=2, before=page.next_before))
    assert ([t.trade_no for t in older.trades], older.next_before) == ([first.trade_no], None)
    other = await timed_shop.merchant()
    assert (await reports.search(other.id, TradeQuery(text="A-1"))).trades == []
    for wrong in ({"state": "PAID"}, {"method": "cash"}, {"limit": 0},
                  {"since": today, "until": today - timedelta(days=1)}):  # fmt: skip
        with pytest.raises(InvalidRequest):
            await reports.search(merchant.id, TradeQuery(**wrong))  # type: ignore[arg-type]
