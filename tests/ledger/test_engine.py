from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta

import pytest

from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.errors import (
    BalanceCapExceeded,
    CurrencyMismatch,
    HoldExpired,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidStateTransition,
    LimitExceeded,
    SandboxMismatch,
    ZhifuError,
)
from zhifu.ledger import (
    AccountKind,
    Book,
    CreateHold,
    Ledger,
    Leg,
    PostEntry,
    PostHold,
    VoidHold,
    balance,
    balance_as_of,
    open_account,
    set_limits,
    statement,
    transfer,
)


async def new_account(db: Database, currency: str = "CNY", **options: object) -> int:
    code = f"test:{uuid.uuid4().hex}"
    info = await db.transaction(
        lambda conn: open_account(conn, code, AccountKind.TEST, currency, **options)  # type: ignore[arg-type]
    )
    return info.id


async def funded(db: Database, ledger: Ledger, amount: int, currency: str = "CNY") -> int:
    source = await new_account(db, currency, floor=None)
    account = await new_account(db, currency)
    await ledger.execute(transfer(source, account, amount, currency))
    return account


async def bal(db: Database, account_id: int) -> tuple[int, int]:
    async with db.connection() as conn:
        b = await balance(conn, account_id)
    return b.posted, b.available


@pytest.fixture
def ledger(db: Database, clock: ManualClock) -> Ledger:
    return Ledger(db, clock)


async def test_transfer_moves_money_and_refuses_overdraft(db: Database, ledger: Ledger) -> None:
    a = await funded(db, ledger, 1000)
    b = await new_account(db)
    await ledger.execute(transfer(a, b, 300, "CNY"))
    assert await bal(db, a) == (700, 700)
    assert await bal(db, b) == (300, 300)
    with pytest.raises(InsufficientFunds):
        await ledger.execute(transfer(a, b, 701, "CNY"))
    assert await bal(db, a) == (700, 700)


async def test_currency_mismatch_and_cross_currency_needs_rate(
    db: Database, ledger: Ledger
) -> None:
    a = await funded(db, ledger, 1000)
    usd = await new_account(db, "USD")
    with pytest.raises(CurrencyMismatch):
        await ledger.execute(transfer(a, usd, 100, "CNY"))
    fx_cny = await new_account(db, "CNY", floor=None)
    fx_usd = await new_account(db, "USD", floor=None)
    legs = (
        Leg(a, -710, "CNY"),
        Leg(fx_cny, 710, "CNY"),
        Leg(fx_usd, -100, "USD"),
        Leg(usd, 100, "USD"),
    )
    with pytest.raises(CurrencyMismatch):
        await ledger.execute(PostEntry(legs=legs))
    result = await ledger.execute(PostEntry(legs=legs, exchange_rate="7.10"))
    assert result["entry_id"] > 0
    assert await bal(db, usd) == (100, 100)


async def test_live_and_sandbox_money_never_mix(db: Database, ledger: Ledger) -> None:
    live = await funded(db, ledger, 1000)
    sandbox_bank = await new_account(db, floor=None, book=Book.SANDBOX)
    sandbox = await new_account(db, book=Book.SANDBOX)
    await ledger.execute(transfer(sandbox_bank, sandbox, 500, "CNY"))
    with pytest.raises(SandboxMismatch):
        await ledger.execute(transfer(live, sandbox, 100, "CNY"))
    with pytest.raises(SandboxMismatch):
        await ledger.execute(transfer(sandbox, live, 100, "CNY"))
    with pytest.raises(SandboxMismatch):
        await ledger.execute(CreateHold(live, sandbox, 100, "CNY"))
    assert await bal(db, live) == (1000, 1000)
    assert await bal(db, sandbox) == (500, 500)


async def test_idempotent_retry_returns_first_result(db: Database, ledger: Ledger) -> None:
    a = await funded(db, ledger, 1000)
    b = await new_account(db)
    key = f"k-{uuid.uuid4()}"
    first = await ledger.execute(transfer(a, b, 100, "CNY", key=key))
    again = await ledger.execute(transfer(a, b, 100, "CNY", key=key))
    assert first == again
    assert await bal(db, b) == (100, 100)
    with pytest.raises(IdempotencyConflict):
        await ledger.execute(transfer(a, b, 200, "CNY", key=key))


async def test_concurrent_retries_move_money_once(db: Database, ledger: Ledger) -> None:
    a = await funded(db, ledger, 1000)
    b = await new_account(db)
    key = f"k-{uuid.uuid4()}"
    results = await asyncio.gather(
        *[ledger.execute(transfer(a, b, 100, "CNY", key=key)) for _ in range(10)],
        *[ledger.submit(transfer(a, b, 100, "CNY", key=key)) for _ in range(10)],
    )
    ids = {r["entry_id"] if isinstance(r, dict) else r.unwrap()["entry_id"] for r in results}
    assert len(ids) == 1
    assert await bal(db, b) == (100, 100)


async def test_refused_key_may_be_retried(db: Database, ledger: Ledger) -> None:
    a = await funded(db, ledger, 100)
    b = await new_account(db)
    key = f"k-{uuid.uuid4()}"
    with pytest.raises(InsufficientFunds):
        await ledger.execute(transfer(a, b, 150, "CNY", key=key))
    source = await new_account(db, floor=None)
    await ledger.execute(transfer(source, a, 100, "CNY"))
    await ledger.execute(transfer(a, b, 150, "CNY", key=key))
    assert await bal(db, b) == (150, 150)


async def test_batch_decides_each_in_order(db: Database, ledger: Ledger) -> None:
    a = await funded(db, ledger, 100)
    b = await new_account(db)
    outcomes = await ledger.execute_many(
        [
            transfer(a, b, 60, "CNY"),
            transfer(a, b, 60, "CNY"),  # would overdraw: refused alone
            transfer(a, b, 40, "CNY"),
        ]
    )
    assert [o.accepted for o in outcomes] == [True, False, True]
    assert isinstance(outcomes[1].error, InsufficientFunds)
    assert await bal(db, a) == (0, 0)


async def test_hold_post_partial_void_and_expire(
    db: Database, ledger: Ledger, clock: ManualClock
) -> None:
    a = await funded(db, ledger, 1000)
    b = await new_account(db)
    hold = await ledger.execute(CreateHold(a, b, 400, "CNY"))
    assert await bal(db, a) == (1000, 600)
    with pytest.raises(InsufficientFunds):
        await ledger.execute(transfer(a, b, 601, "CNY"))
    posted = await ledger.execute(PostHold(hold["hold_id"], amount=250))
    assert posted["posted_amount"] == 250
    assert await bal(db, a) == (750, 750)
    assert await bal(db, b) == (250, 250)
    with pytest.raises(InvalidStateTransition):
        await ledger.execute(VoidHold(hold["hold_id"]))

    second = await ledger.execute(CreateHold(a, b, 100, "CNY"))
    await ledger.execute(VoidHold(second["hold_id"]))
    assert await bal(db, a) == (750, 750)

    third = await ledger.execute(
        CreateHold(a, b, 100, "CNY", expires_at=clock.now() + timedelta(minutes=5))
    )
    clock.advance(timedelta(minutes=6))
    with pytest.raises(HoldExpired):
        await ledger.execute(PostHold(third["hold_id"]))
    assert await ledger.expire_due_holds() >= 1
    assert await bal(db, a) == (750, 750)
    assert (await ledger.verify()).ok


async def test_limits_and_cap(db: Database, ledger: Ledger, clock: ManualClock) -> None:
    a = await funded(db, ledger, 10_000)
    b = await new_account(db)
    await db.transaction(
        lambda conn: set_limits(conn, a, cap=None, single_debit_limit=500, daily_debit_limit=800)
    )
    await db.transaction(
        lambda conn: set_limits(conn, b, cap=600, single_debit_limit=None, daily_debit_limit=None)
    )
    with pytest.raises(LimitExceeded):
        await ledger.execute(transfer(a, b, 501, "CNY"))
    await ledger.execute(transfer(a, b, 500, "CNY"))
    with pytest.raises(LimitExceeded):
        await ledger.execute(transfer(a, b, 301, "CNY"))  # 800 a day
    with pytest.raises(BalanceCapExceeded):
        await ledger.execute(transfer(a, b, 101, "CNY"))
    clock.advance(timedelta(days=1))
    await ledger.execute(transfer(a, b, 100, "CNY"))


async def test_statement_and_balance_as_of(
    db: Database, ledger: Ledger, clock: ManualClock
) -> None:
    a = await funded(db, ledger, 1000)
    b = await new_account(db)
    before = clock.now()
    clock.advance(timedelta(hours=1))
    for amount in (100, 200, 300):
        await ledger.execute(transfer(a, b, amount, "CNY", description=f"pay {amount}"))
        clock.advance(timedelta(hours=1))
    async with db.connection() as conn:
        lines = await statement(conn, a, limit=2)
        assert [(x.amount, x.balance_after) for x in lines] == [(-300, 400), (-200, 700)]
        rest = await statement(conn, a, limit=10, before=lines[-1].posting_id)
        assert [(x.amount, x.balance_after) for x in rest] == [(-100, 900), (1000, 1000)]
        assert await balance_as_of(conn, a, before) == 1000
        assert await balance_as_of(conn, a, before + timedelta(hours=2, minutes=1)) == 700


async def test_sharded_hot_account_takes_concurrent_credits(db: Database, ledger: Ledger) -> None:
    hot = await new_account(db, shards=8)
    payers = [await funded(db, ledger, 1000) for _ in range(20)]
    await asyncio.gather(
        *[ledger.execute(transfer(p, hot, 10, "CNY")) for p in payers for _ in range(5)]
    )
    assert await bal(db, hot) == (1000, 1000)
    out = await new_account(db)
    await ledger.execute(transfer(hot, out, 1000, "CNY"))
    with pytest.raises(InsufficientFunds):
        await ledger.execute(transfer(hot, out, 1, "CNY"))
    assert (await ledger.verify()).ok


async def test_deadlocks_are_retried_not_reported(db: Database) -> None:
    """Two transactions locking two rows in opposite orders: PostgreSQL kills one of
    them as a deadlock; `Database.transaction` retries it and both succeed."""
    a = await new_account(db)
    b = await new_account(db)
    both_locked_first = asyncio.Barrier(2)
    attempts = 0

    def locker(first: int, second: int):  # type: ignore[no-untyped-def]
        async def work(conn):  # type: ignore[no-untyped-def]
            nonlocal attempts
            attempts += 1
            await conn.execute(
                "select 1 from ledger_balance where account_id = %s for update", (first,)
            )
            if attempts <= 2:
                await both_locked_first.wait()
            await conn.execute(
                "select 1 from ledger_balance where account_id = %s for update", (second,)
            )
            return True

        return work

    results = await asyncio.gather(db.transaction(locker(a, b)), db.transaction(locker(b, a)))
    assert results == [True, True]
    assert attempts == 3


async def test_a_refusal_names_its_account_only_to_the_caller(db: Database, ledger: Ledger) -> None:
    a = await funded(db, ledger, 1000)
    capped = await new_account(db, cap=500)
    usd = await new_account(db, "USD")
    refusals = []
    for command in (
        transfer(a, capped, 100, "CNY"),  # fine: only to leave room for the next
        transfer(a, capped, 401, "CNY"),
        transfer(a, usd, 100, "CNY"),
        transfer(capped, a, 101, "CNY"),
    ):
        try:
            await ledger.execute(command)
        except ZhifuError as error:
            refusals.append(error)
    assert [(type(e), e.account_id) for e in refusals] == [
        (BalanceCapExceeded, capped),
        (CurrencyMismatch, usd),
        (InsufficientFunds, capped),
    ]
    for error in refusals:  # what a client sees: the message and the details
        assert not re.search(r"\d", error.message), error.message
        assert set(error.details) <= {"cap", "available"}, error.details
