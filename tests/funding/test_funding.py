"""Top-ups and withdrawals: hold, bank, post or void; once, whatever the bank and the
network do."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.funding.conftest import Funding
from tests.funding.support import (
    HangingBank,
    UnreachableBank,
    assert_books_balance,
    key,
)
from tests.identity.support import PASSWORD, PIN, random_phone
from zhifu.db import Database
from zhifu.errors import (
    BalanceCapExceeded,
    CardUnlinked,
    IdempotencyConflict,
    IncorrectPin,
    InsufficientFunds,
    InvalidAmount,
    LimitExceeded,
    NotFound,
    UnknownCurrency,
)
from zhifu.funding import (
    BankResult,
    BankStatus,
    FundingKind,
    FundingOrder,
    FundingRequest,
    FundingService,
    OrderState,
)
from zhifu.funding.orders import POLL_AFTER
from zhifu.ledger import Balance, balance, set_limits


async def wallet_balance(funding: Funding, user_id: int) -> Balance:
    wallet = await funding.wallet(user_id)
    async with funding.service.db.connection() as conn:
        return await balance(conn, wallet)


async def topup(funding: Funding, user_id: int, card_id: int, amount: int) -> FundingOrder:
    return await funding.service.topup(user_id, card_id, amount, "CNY", key())


async def funded_user(funding: Funding, amount: int, *, tier: int = 1) -> tuple[int, int]:
    """A user with `amount` in the wallet and an ordinary linked card."""
    user_id = await funding.user(tier=tier)
    card = await funding.card(user_id)
    assert (await topup(funding, user_id, card.id, amount)).state is OrderState.SUCCEEDED
    return user_id, card.id


async def bank_transfers(db: Database, reference: str) -> int:
    row = await db.fetch_one(
        "select count(*) as n from bank_sim_transfer where reference = %s", (reference,)
    )
    assert row is not None
    return int(row["n"])


# Top-up.


async def test_a_topup_charges_the_card_into_the_wallet(funding: Funding) -> None:
    user_id = await funding.user()
    card = await funding.card(user_id)
    order = await topup(funding, user_id, card.id, 12_345)
    assert order.state is OrderState.SUCCEEDED and order.kind is FundingKind.TOPUP
    assert order.bank_reference and order.completed_at and order.failure_code is None
    wallet = await wallet_balance(funding, user_id)
    assert (wallet.posted, wallet.pending_in) == (12_345, 0)
    assert await funding.service.get(user_id, order.id) == order
    await assert_books_balance(funding.ledger)


async def test_a_sandbox_users_topup_is_sandbox_money(funding: Funding) -> None:
    """The bank pays a sandbox wallet from the sandbox clearing account, never the live one."""
    user = await funding.users.signup(random_phone(), PASSWORD, kyc_tier=1, sandbox=True)
    card = await funding.card(user.id)
    order = await topup(funding, user.id, card.id, 5_000)
    assert order.state is OrderState.SUCCEEDED
    rows = await funding.service.db.fetch_all(
        """
        select a.code, a.book, p.amount from ledger_posting p
        join ledger_account a on a.id = p.account_id
        where p.entry_id = (select entry_id from ledger_hold where id = %s)
        """,
        (order.hold_id,),
    )
    assert {(row["code"], row["book"], row["amount"]) for row in rows} == {
        ("sandbox:platform:bank_clearing:CNY", "sandbox", -5_000),
        (f"user:{user.id}:wallet:CNY", "sandbox", 5_000),
    }
    await assert_books_balance(funding.ledger)


@pytest.mark.parametrize(
    ("last4", "reason"), [("0002", "insufficient_funds"), ("0003", "card_blocked")]
)
async def test_a_declined_topup_fails_and_moves_nothing(
    funding: Funding, last4: str, reason: str
) -> None:
    user_id = await funding.user()
    card = await funding.card(user_id, last4)
    order = await topup(funding, user_id, card.id, 5_000)
    assert (order.state, order.failure_code) == (OrderState.FAILED, reason)
    wallet = await wallet_balance(funding, user_id)
    assert (wallet.posted, wallet.pending_in) == (0, 0)
    await assert_books_balance(funding.ledger)


async def test_a_timed_out_topup_is_finished_by_the_worker(funding: Funding) -> None:
    user_id = await funding.user()
    card = await funding.card(user_id, "0004")
    order = await topup(funding, user_id, card.id, 7_000)
    assert order.state is OrderState.PENDING
    assert (await wallet_balance(funding, user_id)).pending_in == 7_000
    assert await funding.service.resolve_pending() == 0  # not due yet
    funding.clock.advance(POLL_AFTER)
    assert await funding.service.resolve_pending() == 0  # the bank does not know yet
    funding.clock.advance(funding.bank.settle_delay)
    assert await funding.service.resolve_pending() == 1
    finished = await funding.service.get(user_id, order.id)
    assert finished.state is OrderState.SUCCEEDED
    wallet = await wallet_balance(funding, user_id)
    assert (wallet.posted, wallet.pending_in) == (7_000, 0)
    await assert_books_balance(funding.ledger)


async def test_a_timed_out_topup_is_finished_by_the_bank_callback(funding: Funding) -> None:
    user_id = await funding.user()
    approved = await topup(funding, user_id, (await funding.card(user_id, "0004")).id, 300)
    declined = await topup(funding, user_id, (await funding.card(user_id, "0006")).id, 400)
    funding.clock.advance(funding.bank.settle_delay)
    assert await funding.bank.deliver_callbacks() == 2
    assert (await funding.service.get(user_id, approved.id)).state is OrderState.SUCCEEDED
    failed = await funding.service.get(user_id, declined.id)
    assert (failed.state, failed.failure_code) == (OrderState.FAILED, "do_not_honor")
    assert await funding.service.resolve_pending() == 0
    wallet = await wallet_balance(funding, user_id)
    assert (wallet.posted, wallet.pending_in) == (300, 0)
    await assert_books_balance(funding.ledger)


async def test_duplicate_callbacks_change_nothing(funding: Funding) -> None:
    user_id = await funding.user()
    card = await funding.card(user_id, "0005")
    order = await topup(funding, user_id, card.id, 2_000)
    assert order.state is OrderState.SUCCEEDED
    assert await funding.bank.deliver_callbacks() == 2
    contrary = BankResult(order.reference, BankStatus.DECLINED, None, "card_blocked")
    await funding.service.on_bank_callback(contrary)
    await funding.service.on_bank_callback(BankResult("not-ours", BankStatus.SUCCEEDED))
    assert await funding.service.get(user_id, order.id) == order
    assert (await wallet_balance(funding, user_id)).posted == 2_000
    await assert_books_balance(funding.ledger)


async def test_racing_callbacks_and_poller_book_once(funding: Funding) -> None:
    user_id = await funding.user()
    card = await funding.card(user_id, "0004")
    order = await topup(funding, user_id, card.id, 900)
    funding.clock.advance(POLL_AFTER + funding.bank.settle_delay)
    result = await funding.bank.status(order.reference)
    assert result is not None
    racers = [funding.service.on_bank_callback(result) for _ in range(8)]
    racers += [funding.service.resolve_pending(), funding.bank.deliver_callbacks()]
    await asyncio.gather(*racers)
    assert (await funding.service.get(user_id, order.id)).state is OrderState.SUCCEEDED
    wallet = await wallet_balance(funding, user_id)
    assert (wallet.posted, wallet.pending_in) == (900, 0)
    await assert_books_balance(funding.ledger)


async def test_a_topup_beyond_the_balance_cap_is_refused(funding: Funding) -> None:
    user_id = await funding.user(tier=0)  # cap 1,000.00
    card = await funding.card(user_id)
    with pytest.raises(BalanceCapExceeded):
        await topup(funding, user_id, card.id, 100_001)
    assert await funding.service.list(user_id) == []


async def test_a_topup_the_ledger_cannot_book_goes_to_review(funding: Funding) -> None:
    user_id = await funding.user()
    card = await funding.card(user_id, "0004")
    order = await topup(funding, user_id, card.id, 5_000)
    async with funding.service.db.connection() as conn:  # the cap drops meanwhile
        await set_limits(
            conn,
            await funding.wallet(user_id),
            cap=1_000,
            single_debit_limit=None,
            daily_debit_limit=None,
        )
    funding.clock.advance(POLL_AFTER + funding.bank.settle_delay)
    assert await funding.service.resolve_pending() == 1
    held = await funding.service.get(user_id, order.id)
    assert (held.state, held.failure_code) == (OrderState.REVIEW, "balance_cap_exceeded")
    assert (await wallet_balance(funding, user_id)).pending_in == 5_000
    assert await funding.service.resolve_pending() == 0
    await assert_books_balance(funding.ledger)


# Idempotency and crashes.


async def test_a_retry_returns_the_same_order_and_charges_once(
    funding: Funding, db: Database
) -> None:
    user_id = await funding.user()
    card = await funding.card(user_id)
    idem = key()
    first = await funding.service.topup(user_id, card.id, 1_000, "CNY", idem)
    assert await funding.service.topup(user_id, card.id, 1_000, "CNY", idem) == first
    with pytest.raises(IdempotencyConflict):
        await funding.service.topup(user_id, card.id, 1_001, "CNY", idem)
    with pytest.raises(IdempotencyConflict):
        await funding.service.withdraw(user_id, card.id, 1_000, "CNY", PIN, idem)
    assert await bank_transfers(db, first.reference) == 1
    assert (await wallet_balance(funding, user_id)).posted == 1_000


async def test_concurrent_identical_topups_make_one_order(funding: Funding, db: Database) -> None:
    user_id = await funding.user()
    card = await funding.card(user_id)
    idem = key()
    orders = await asyncio.gather(
        *(funding.service.topup(user_id, card.id, 2_500, "CNY", idem) for _ in range(10))
    )
    assert len({order.id for order in orders}) == 1
    assert len(await funding.service.list(user_id)) == 1
    assert await bank_transfers(db, orders[0].reference) == 1
    assert (await wallet_balance(funding, user_id)).posted == 2_500
    await assert_books_balance(funding.ledger)


async def test_a_crash_before_the_bank_call_is_resolved_by_the_worker(
    funding: Funding, db: Database
) -> None:
    user_id = await funding.user()
    card = await funding.card(user_id)
    request = FundingRequest(user_id, card.id, FundingKind.TOPUP, 4_200, "CNY", key())
    order, created = await funding.service.open(request)  # ... and the process dies
    assert created and order.state is OrderState.PENDING
    assert await bank_transfers(db, order.reference) == 0
    funding.clock.advance(POLL_AFTER)
    assert await funding.service.resolve_pending() == 1
    assert (await funding.service.get(user_id, order.id)).state is OrderState.SUCCEEDED
    assert await bank_transfers(db, order.reference) == 1
    assert (await wallet_balance(funding, user_id)).posted == 4_200
    await assert_books_balance(funding.ledger)


async def test_a_task_killed_while_waiting_for_the_bank_is_resolved(funding: Funding) -> None:
    user_id = await funding.user()
    card = await funding.card(user_id)
    bank = HangingBank()
    doomed = FundingService(
        funding.service.db, funding.clock, funding.ledger, funding.users, funding.cards, bank
    )
    task = asyncio.create_task(doomed.topup(user_id, card.id, 3_300, "CNY", key()))
    await asyncio.wait_for(bank.called.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [order] = await funding.service.list(user_id)
    assert order.state is OrderState.PENDING
    funding.clock.advance(POLL_AFTER)
    assert await funding.service.resolve_pending() == 1  # the restarted service
    assert (await funding.service.get(user_id, order.id)).state is OrderState.SUCCEEDED
    await assert_books_balance(funding.ledger)


async def test_an_unreachable_bank_leaves_the_order_pending(funding: Funding) -> None:
    user_id = await funding.user()
    card = await funding.card(user_id)
    offline = FundingService(
        funding.service.db,
        funding.clock,
        funding.ledger,
        funding.users,
        funding.cards,
        UnreachableBank(),
    )
    order = await offline.topup(user_id, card.id, 800, "CNY", key())
    assert order.state is OrderState.PENDING
    funding.clock.advance(POLL_AFTER)
    assert await offline.resolve_pending() == 0
    assert (await offline.get(user_id, order.id)).state is OrderState.PENDING
    funding.clock.advance(POLL_AFTER * 2)
    assert await funding.service.resolve_pending() == 1
    assert (await funding.service.get(user_id, order.id)).state is OrderState.SUCCEEDED


async def test_the_worker_backs_off_between_polls(funding: Funding, db: Database) -> None:
    funding.bank.settle_delay = timedelta(hours=1)
    user_id = await funding.user()
    card = await funding.card(user_id, "0004")
    order = await topup(funding, user_id, card.id, 100)
    polls = []
    for _ in range(3):
        funding.clock.advance(POLL_AFTER)
        await funding.service.resolve_pending()
        row = await db.fetch_one(
            "select poll_attempts, next_poll_at from funding_order where id = %s", (order.id,)
        )
        assert row is not None
        polls.append((row["poll_attempts"], row["next_poll_at"] - funding.clock.now()))
    assert polls == [
        (1, POLL_AFTER * 2),
        (1, POLL_AFTER),  # not due again yet
        (2, POLL_AFTER * 4),
    ]


# Withdrawal.


async def test_a_withdrawal_pays_out_wallet_money(funding: Funding) -> None:
    user_id, card_id = await funded_user(funding, 10_000)
    order = await funding.service.withdraw(user_id, card_id, 6_000, "CNY", PIN, key())
    assert order.state is OrderState.SUCCEEDED and order.kind is FundingKind.WITHDRAWAL
    wallet = await wallet_balance(funding, user_id)
    assert (wallet.posted, wallet.pending_out) == (4_000, 0)
    await assert_books_balance(funding.ledger)


async def test_a_failed_withdrawal_returns_the_money(funding: Funding) -> None:
    user_id, _ = await funded_user(funding, 10_000)
    blocked = await funding.card(user_id, "0003", kind="account")
    order = await funding.service.withdraw(user_id, blocked.id, 6_000, "CNY", PIN, key())
    assert (order.state, order.failure_code) == (OrderState.FAILED, "card_blocked")
    wallet = await wallet_balance(funding, user_id)
    assert (wallet.posted, wallet.available, wallet.pending_out) == (10_000, 10_000, 0)
    await assert_books_balance(funding.ledger)


async def test_a_withdrawal_in_flight_reserves_its_money(funding: Funding) -> None:
    user_id, _ = await funded_user(funding, 10_000)
    slow = await funding.card(user_id, "0006")
    order = await funding.service.withdraw(user_id, slow.id, 7_000, "CNY", PIN, key())
    assert order.state is OrderState.PENDING
    assert (await wallet_balance(funding, user_id)).available == 3_000
    with pytest.raises(InsufficientFunds):
        await funding.service.withdraw(user_id, slow.id, 3_001, "CNY", PIN, key())
    funding.clock.advance(funding.bank.settle_delay)
    await funding.bank.deliver_callbacks()
    assert (await funding.service.get(user_id, order.id)).state is OrderState.FAILED
    assert (await wallet_balance(funding, user_id)).available == 10_000
    await assert_books_balance(funding.ledger)


async def test_a_withdrawal_needs_the_pin_and_the_money(funding: Funding) -> None:
    user_id, card_id = await funded_user(funding, 10_000)
    with pytest.raises(IncorrectPin):
        await funding.service.withdraw(user_id, card_id, 100, "CNY", "000000", key())
    idem = key()
    with pytest.raises(InsufficientFunds):
        await funding.service.withdraw(user_id, card_id, 10_001, "CNY", PIN, idem)
    order = await funding.service.withdraw(user_id, card_id, 10_000, "CNY", PIN, idem)
    assert order.state is OrderState.SUCCEEDED  # a refused request frees its key
    assert len(await funding.service.list(user_id)) == 2  # the top-up and this one


async def test_kyc_limits_apply_to_withdrawals(funding: Funding) -> None:
    user_id, card_id = await funded_user(funding, 100_000, tier=0)
    with pytest.raises(LimitExceeded):  # single payment 500.00
        await funding.service.withdraw(user_id, card_id, 50_001, "CNY", PIN, key())
    for _ in range(2):
        await funding.service.withdraw(user_id, card_id, 50_000, "CNY", PIN, key())
    await topup(funding, user_id, card_id, 100)
    with pytest.raises(LimitExceeded):  # daily outflow 1,000.00
        await funding.service.withdraw(user_id, card_id, 100, "CNY", PIN, key())


# Bad requests.


async def test_only_the_users_own_linked_card_can_be_used(funding: Funding) -> None:
    owner, other = await funding.user(), await funding.user()
    card = await funding.card(owner)
    with pytest.raises(NotFound):
        await topup(funding, other, card.id, 100)
    with pytest.raises(NotFound):
        await funding.service.withdraw(other, card.id, 100, "CNY", PIN, key())
    await funding.cards.unlink(owner, card.id)
    with pytest.raises(CardUnlinked):
        await topup(funding, owner, card.id, 100)


@pytest.mark.parametrize("amount", [0, -1, 10**16, 1.5, True])
async def test_amounts_must_be_positive_integers(funding: Funding, amount: int) -> None:
    user_id = await funding.user()
    card = await funding.card(user_id)
    with pytest.raises(InvalidAmount):
        await topup(funding, user_id, card.id, amount)


async def test_the_currency_must_be_known(funding: Funding) -> None:
    user_id = await funding.user()
    card = await funding.card(user_id)
    with pytest.raises(UnknownCurrency):
        await funding.service.topup(user_id, card.id, 100, "XXX", key())


async def test_orders_are_private_and_listed_newest_first(funding: Funding) -> None:
    user_id = await funding.user()
    card = await funding.card(user_id)
    orders = [await topup(funding, user_id, card.id, amount) for amount in (100, 200, 300)]
    assert await funding.service.list(user_id) == orders[::-1]
    assert await funding.service.list(user_id, limit=1, before=orders[2].id) == [orders[1]]
    with pytest.raises(NotFound):
        await funding.service.get(await funding.user(), orders[0].id)
    with pytest.raises(NotFound):
        await funding.service.get(user_id, 10**12)
