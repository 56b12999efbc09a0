"""Paying a trade from a linked card: a top-up of the trade's amount, then the payment."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from tests.funding.support import card_number
from tests.payments.conftest import PIN, Shop
from zhifu.clock import ManualClock
from zhifu.errors import IncorrectPin, InvalidRequest, InvalidStateTransition, NotFound
from zhifu.funding.orders import POLL_AFTER
from zhifu.payments.card_pay import (
    CHECK_FIRST,
    CardDeclined,
    CardPaymentInProgress,
    CardPayments,
    CardPaymentState,
    PaymentResult,
    check_transition,
)
from zhifu.payments.errors import PinRequired, TradePaid
from zhifu.payments.model import NewTrade, Trade
from zhifu.payments.pay import Paying
from zhifu.runtime import Runtime


def order(amount: int) -> NewTrade:
    return NewTrade(out_trade_no=uuid.uuid4().hex, amount=amount, subject="tea set")


async def link(runtime: Runtime, user_id: int, last4: str = "1111") -> int:
    return (await runtime.cards.link(user_id, card_number(last4))).id


async def waiting_trade(shop: Shop, amount: int = 10_000) -> Trade:
    return await shop.runtime.payments.trades.create(await shop.merchant(), order(amount))


async def topups(runtime: Runtime, user_id: int) -> list[str]:
    return [str(o.state) for o in await runtime.funding.list(user_id)]


async def verify_ok(runtime: Runtime) -> None:
    report = await runtime.ledger.verify()
    assert report.ok, report.breaches


def settle_bank_time(runtime: Runtime) -> None:
    """Move the clock past the simulated bank's settle delay and the first polls."""
    assert isinstance(runtime.clock, ManualClock)
    runtime.clock.advance(POLL_AFTER + timedelta(seconds=runtime.settings.bank.settle_delay_s))


async def test_card_payment_charges_the_card_and_pays_the_trade(shop: Shop) -> None:
    runtime = shop.runtime
    buyer = await shop.consumer(balance=0)
    card_id = await link(runtime, buyer)
    trade = await waiting_trade(shop, 10_000)
    result = await runtime.payments.paying.pay_trade(
        trade.trade_no, buyer, funding="card", card_id=card_id, pin=PIN
    )
    assert (result.status, result.trade.state, result.trade.fee) == ("paid", "TRADE_SUCCESS", 60)
    assert result.card_payment is not None
    assert result.card_payment.state is CardPaymentState.PAID
    assert await topups(runtime, buyer) == ["succeeded"]
    assert await shop.wallet_balance(buyer) == 0
    balances = await runtime.payments.merchants.balances(trade.merchant_id)
    assert balances["pending_settlement"] == 9_940
    await verify_ok(runtime)


async def test_double_submission_charges_the_card_once(shop: Shop) -> None:
    runtime = shop.runtime
    buyer = await shop.consumer(balance=0)
    card_id = await link(runtime, buyer)
    trade = await waiting_trade(shop, 2_500)
    results = await asyncio.gather(
        *[runtime.payments.cards.pay(trade.trade_no, buyer, card_id, pin=PIN) for _ in range(4)],
        return_exceptions=True,
    )
    assert all(isinstance(r, TradePaid) for r in results if isinstance(r, Exception)), results
    assert any(not isinstance(r, Exception) for r in results)
    assert await topups(runtime, buyer) == ["succeeded"]
    assert await shop.wallet_balance(buyer) == 0
    assert (await runtime.payments.trades.by_trade_no(trade.trade_no)).state == "TRADE_SUCCESS"
    await verify_ok(runtime)


async def test_declined_card_leaves_the_trade_waiting(shop: Shop) -> None:
    runtime = shop.runtime
    buyer = await shop.consumer(balance=0)
    declining = await link(runtime, buyer, "0002")
    trade = await waiting_trade(shop, 3_000)
    with pytest.raises(CardDeclined) as declined:
        await runtime.payments.cards.pay(trade.trade_no, buyer, declining, pin=PIN)
    assert declined.value.details["decline_reason"] == "insufficient_funds"
    assert (await runtime.payments.trades.by_trade_no(trade.trade_no)).state == "WAIT_BUYER_PAY"
    # Trying the same card again is a new attempt; another card pays.
    with pytest.raises(CardDeclined):
        await runtime.payments.cards.pay(trade.trade_no, buyer, declining, pin=PIN)
    latest = await runtime.payments.cards.latest(trade.trade_no, buyer)
    assert latest is not None and (latest.attempt, latest.state) == (2, CardPaymentState.FAILED)
    good = await link(runtime, buyer)
    paid = await runtime.payments.cards.pay(trade.trade_no, buyer, good, pin=PIN)
    assert paid.status == "paid"
    assert sorted(await topups(runtime, buyer)) == ["failed", "failed", "succeeded"]
    assert await shop.wallet_balance(buyer) == 0
    await verify_ok(runtime)


async def test_pin_and_card_are_checked_before_the_card_is_charged(shop: Shop) -> None:
    runtime = shop.runtime
    buyer = await shop.consumer(balance=0)
    stranger = await shop.consumer(balance=0)
    card_id = await link(runtime, buyer)
    trade = await waiting_trade(shop, 20_001)  # above the password-free allowance
    with pytest.raises(IncorrectPin):
        await runtime.payments.cards.pay(trade.trade_no, buyer, card_id, pin="975310")
    with pytest.raises(PinRequired):
        await runtime.payments.cards.pay(trade.trade_no, buyer, card_id)
    with pytest.raises(NotFound):
        await runtime.payments.cards.pay(trade.trade_no, stranger, card_id, pin=PIN)
    assert await topups(runtime, buyer) == [] and await topups(runtime, stranger) == []
    refused = await runtime.payments.cards.latest(trade.trade_no, stranger)
    assert refused is not None and refused.failure_code == "not_found"


class _RefusingCards(CardPayments):
    """Card payments that must not be asked: the wallet pays without them."""

    def __init__(self) -> None:
        pass

    async def pay(self, *args: object, **kwargs: object) -> PaymentResult:
        raise AssertionError("a wallet payment went through card payments")


async def test_a_wallet_payment_does_not_pass_through_card_payments(shop: Shop) -> None:
    buyer = await shop.consumer(balance=5_000)
    trade = await waiting_trade(shop, 1_000)
    paying = Paying(shop.runtime.payments.trades, _RefusingCards())
    paid = await paying.pay_trade(trade.trade_no, buyer, pin=PIN)
    assert (paid.status, paid.trade.state, paid.card_payment) == ("paid", "TRADE_SUCCESS", None)
    with pytest.raises(AssertionError):
        await paying.pay_trade(trade.trade_no, buyer, funding="card", card_id=1, pin=PIN)


async def test_funding_source_must_be_named_properly(shop: Shop) -> None:
    payments = shop.runtime.payments
    buyer = await shop.consumer(balance=5_000)
    trade = await waiting_trade(shop, 1_000)
    with pytest.raises(InvalidRequest):
        await payments.paying.pay_trade(trade.trade_no, buyer, funding="card")
    with pytest.raises(InvalidRequest):
        await payments.paying.pay_trade(trade.trade_no, buyer, funding="wallet", card_id=1)
    paid = await payments.paying.pay_trade(trade.trade_no, buyer, pin=PIN)
    assert (paid.status, paid.trade.state, paid.card_payment) == ("paid", "TRADE_SUCCESS", None)
    # The trade number is the idempotency key: the buyer paying again gets the trade back.
    again = await payments.paying.pay_trade(
        trade.trade_no, buyer, funding="card", card_id=1, pin=PIN
    )
    assert (again.status, again.trade.paid_at) == ("paid", paid.trade.paid_at)
    with pytest.raises(TradePaid):
        await payments.paying.pay_trade(trade.trade_no, await shop.consumer(balance=5_000), pin=PIN)
    assert await shop.wallet_balance(buyer) == 4_000


def test_a_finished_card_payment_cannot_change() -> None:
    check_transition(CardPaymentState.CHARGING, CardPaymentState.PAID)
    for finished in (CardPaymentState.PAID, CardPaymentState.FAILED):
        with pytest.raises(InvalidStateTransition):
            check_transition(finished, CardPaymentState.KEPT_IN_WALLET)


# The bank times out: the payment finishes in the background.


async def test_bank_timeout_then_the_worker_pays_the_trade(timed_shop: Shop) -> None:
    runtime = timed_shop.runtime
    buyer = await timed_shop.consumer(balance=0)
    slow = await link(runtime, buyer, "0004")
    trade = await waiting_trade(timed_shop, 4_200)
    result = await runtime.payments.paying.pay_trade(
        trade.trade_no, buyer, funding="card", card_id=slow
    )
    assert (result.status, result.trade.state) == ("pending", "WAIT_BUYER_PAY")
    other = await link(runtime, buyer)
    with pytest.raises(CardPaymentInProgress):
        await runtime.payments.cards.pay(trade.trade_no, buyer, other)
    again = await runtime.payments.cards.pay(trade.trade_no, buyer, slow)  # a double click
    assert again.status == "pending" and again.card_payment == result.card_payment
    settle_bank_time(runtime)
    await runtime.funding.resolve_pending()
    await runtime.payments.cards.complete_due()
    paid = await runtime.payments.trades.by_trade_no(trade.trade_no)
    assert (paid.state, paid.buyer_user_id, paid.password_free) == ("TRADE_SUCCESS", buyer, True)
    latest = await runtime.payments.cards.latest(trade.trade_no, buyer)
    assert latest is not None and latest.state is CardPaymentState.PAID
    assert await topups(runtime, buyer) == ["succeeded"]
    assert await timed_shop.wallet_balance(buyer) == 0
    await runtime.payments.cards.complete_due()  # a second run changes nothing
    assert await runtime.payments.cards.latest(trade.trade_no, buyer) == latest
    await verify_ok(runtime)


async def test_bank_timeout_then_decline_leaves_the_trade_waiting(timed_shop: Shop) -> None:
    runtime = timed_shop.runtime
    buyer = await timed_shop.consumer(balance=0)
    trade = await waiting_trade(timed_shop, 1_500)
    card = await link(runtime, buyer, "0006")
    assert (await runtime.payments.cards.pay(trade.trade_no, buyer, card)).status == "pending"
    settle_bank_time(runtime)
    await runtime.funding.resolve_pending()
    await runtime.payments.cards.complete_due()
    latest = await runtime.payments.cards.latest(trade.trade_no, buyer)
    assert latest is not None
    assert (latest.state, latest.failure_code) == (CardPaymentState.FAILED, "do_not_honor")
    assert (await runtime.payments.trades.by_trade_no(trade.trade_no)).state == "WAIT_BUYER_PAY"
    await verify_ok(runtime)


async def test_trade_closed_while_the_bank_confirms_keeps_the_money_in_the_wallet(
    timed_shop: Shop,
) -> None:
    runtime = timed_shop.runtime
    buyer = await timed_shop.consumer(balance=0)
    trade = await waiting_trade(timed_shop, 2_000)
    card = await link(runtime, buyer, "0004")
    assert (await runtime.payments.cards.pay(trade.trade_no, buyer, card)).status == "pending"
    await runtime.payments.lifecycle.close(trade.merchant_id, trade_no=trade.trade_no)
    settle_bank_time(runtime)
    await runtime.funding.resolve_pending()
    await runtime.payments.cards.complete_due()
    latest = await runtime.payments.cards.latest(trade.trade_no, buyer)
    assert latest is not None
    assert (latest.state, latest.failure_code) == (CardPaymentState.KEPT_IN_WALLET, "trade_closed")
    error = latest.error()
    assert error is not None and "in your wallet" in error.message
    assert await timed_shop.wallet_balance(buyer) == 2_000
    await verify_ok(runtime)


async def test_a_request_that_died_before_asking_the_bank_is_resumed(timed_shop: Shop) -> None:
    runtime = timed_shop.runtime
    cards = runtime.payments.cards
    buyer = await timed_shop.consumer(balance=0)
    trade = await waiting_trade(timed_shop, 700)
    card = await link(runtime, buyer)
    # The attempt is committed, then the process dies before the card is charged.
    await runtime.db.transaction(
        lambda conn: cards._begin(conn, trade, buyer, card, True, "checkout")
    )
    assert isinstance(runtime.clock, ManualClock)
    runtime.clock.advance(CHECK_FIRST)
    await cards.complete_due()
    paid = await runtime.payments.trades.by_trade_no(trade.trade_no)
    assert (paid.state, paid.method) == ("TRADE_SUCCESS", "checkout")
    assert await topups(runtime, buyer) == ["succeeded"]
    await verify_ok(runtime)
