from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.identity.support import PIN, fund, new_user
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.errors import (
    BalanceCapExceeded,
    IdempotencyConflict,
    IncorrectPin,
    InsufficientFunds,
    InvalidAmount,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    PinLocked,
    RecipientNotFound,
    SelfTransfer,
    UnknownCurrency,
)
from zhifu.identity import UserService
from zhifu.ledger import Ledger
from zhifu.transfers import TransferService


@pytest.fixture
def users(db: Database, clock: ManualClock) -> UserService:
    return UserService(db, clock)


@pytest.fixture
async def transfers(
    db: Database, clock: ManualClock, users: UserService
) -> AsyncIterator[TransferService]:
    ledger = Ledger(db, clock)
    yield TransferService(db, clock, ledger, users)
    await ledger.close()


async def funded_user(transfers: TransferService, amount: int, *, tier: int = 1) -> int:
    user_id = await new_user(transfers.users, tier=tier)
    await fund(transfers.db, transfers.ledger, await transfers.users.wallet(user_id), amount)
    return user_id


def key() -> str:
    return str(uuid.uuid4())


async def available(transfers: TransferService, user_id: int) -> int:
    return (await transfers.balance(user_id)).available


async def test_transfer_moves_money_and_gives_a_receipt(transfers: TransferService) -> None:
    alice = await funded_user(transfers, 10_000)
    bob = await new_user(transfers.users)
    bob_phone = (await transfers.users.get(bob)).phone
    receipt = await transfers.transfer(
        alice, to_phone=bob_phone, amount=1_234, memo="lunch", pin=PIN, idempotency_key=key()
    )
    assert (receipt.from_user_id, receipt.to_user_id) == (alice, bob)
    assert (receipt.amount, receipt.currency, receipt.memo) == (1_234, "CNY", "lunch")
    assert receipt.to_phone == bob_phone[3:6] + "****" + bob_phone[-4:]
    assert receipt.to_dict()["amount_decimal"] == "12.34"
    assert await available(transfers, alice) == 8_766
    assert await available(transfers, bob) == 1_234
    assert await transfers.receipt(bob, receipt.entry_id) == receipt
    assert (await transfers.ledger.verify()).ok


async def test_receipt_is_only_for_the_parties(transfers: TransferService) -> None:
    alice = await funded_user(transfers, 1_000)
    bob, eve = await new_user(transfers.users), await new_user(transfers.users)
    receipt = await transfers.transfer(
        alice, to_user_id=bob, amount=100, pin=PIN, idempotency_key=key()
    )
    with pytest.raises(NotFound):
        await transfers.receipt(eve, receipt.entry_id)
    with pytest.raises(NotFound):
        await transfers.receipt(alice, 10**15)


async def test_a_movement_is_read_only_from_the_users_own_wallets(
    transfers: TransferService,
) -> None:
    alice = await funded_user(transfers, 1_000)
    bob, eve = await new_user(transfers.users), await new_user(transfers.users)
    receipt = await transfers.transfer(
        alice, to_user_id=bob, amount=100, memo="tea", pin=PIN, idempotency_key=key()
    )
    sent = await transfers.movement(alice, receipt.entry_id)
    received = await transfers.movement(bob, receipt.entry_id)
    assert sent is not None and received is not None
    assert (sent.kind, sent.amount, sent.currency, sent.direction) == (
        "transfer",
        -100,
        "CNY",
        "out",
    )
    assert (received.amount, received.direction) == (100, "in")
    assert await transfers.movement(eve, receipt.entry_id) is None
    assert await transfers.movement(alice, 10**15) is None


async def test_same_key_same_request_is_one_transfer(transfers: TransferService) -> None:
    alice = await funded_user(transfers, 1_000)
    bob = await new_user(transfers.users)
    once = key()

    async def send(amount: int = 300) -> object:
        return await transfers.transfer(
            alice, to_user_id=bob, amount=amount, pin=PIN, idempotency_key=once
        )

    receipts = await asyncio.gather(*[send() for _ in range(10)])
    assert len({r.entry_id for r in receipts}) == 1  # type: ignore[attr-defined]
    assert await available(transfers, bob) == 300
    with pytest.raises(IdempotencyConflict) as reused:
        await send(amount=301)
    assert reused.value.details["key"] == once
    # The key is the sender's: another sender may use the same one.
    carol = await funded_user(transfers, 1_000)
    await transfers.transfer(carol, to_user_id=bob, amount=300, pin=PIN, idempotency_key=once)
    assert await available(transfers, bob) == 600


async def test_recipient_rules(transfers: TransferService) -> None:
    alice = await funded_user(transfers, 1_000)
    alice_phone = (await transfers.users.get(alice)).phone
    attempts: list[tuple[dict[str, object], type[Exception]]] = [
        ({"to_user_id": alice}, SelfTransfer),
        ({"to_phone": alice_phone}, SelfTransfer),
        ({"to_user_id": 10**15}, RecipientNotFound),
        ({"to_phone": "13000000000"}, RecipientNotFound),
        ({}, InvalidRequest),
        ({"to_user_id": alice, "to_phone": alice_phone}, InvalidRequest),
    ]
    for recipient, error in attempts:
        with pytest.raises(error):
            await transfers.transfer(
                alice,
                amount=100,
                pin=PIN,
                idempotency_key=key(),
                **recipient,  # type: ignore[arg-type]
            )
    assert await available(transfers, alice) == 1_000


async def test_bad_requests_are_refused(transfers: TransferService) -> None:
    alice = await funded_user(transfers, 1_000)
    bob = await new_user(transfers.users)
    bad: list[tuple[dict[str, object], type[Exception]]] = [
        ({"amount": 0}, InvalidAmount),
        ({"amount": -5}, InvalidAmount),
        ({"amount": 2**63}, InvalidAmount),
        ({"amount": 1.5}, InvalidAmount),
        ({"currency": "XXX"}, UnknownCurrency),
        ({"memo": "x" * 141}, InvalidRequest),
        ({"memo": "line\nbreak"}, InvalidRequest),
        ({"idempotency_key": " "}, InvalidRequest),
    ]
    for change, error in bad:
        request: dict[str, object] = {"amount": 100, "pin": PIN, "idempotency_key": key()}
        with pytest.raises(error):
            await transfers.transfer(alice, to_user_id=bob, **{**request, **change})  # type: ignore[arg-type]
    assert await available(transfers, alice) == 1_000


async def test_pin_is_checked_first_and_locks(
    transfers: TransferService, clock: ManualClock
) -> None:
    alice = await funded_user(transfers, 1_000)
    for _ in range(4):
        with pytest.raises(IncorrectPin):
            await transfers.transfer(
                alice, to_user_id=10**15, amount=100, pin="000001", idempotency_key=key()
            )
    with pytest.raises(PinLocked):
        await transfers.transfer(
            alice, to_user_id=10**15, amount=100, pin="000001", idempotency_key=key()
        )
    bob = await new_user(transfers.users)
    with pytest.raises(PinLocked):
        await transfers.transfer(alice, to_user_id=bob, amount=100, pin=PIN, idempotency_key=key())
    clock.advance(timedelta(minutes=15))
    await transfers.transfer(alice, to_user_id=bob, amount=100, pin=PIN, idempotency_key=key())


async def test_ledger_refusals_are_mapped(transfers: TransferService, clock: ManualClock) -> None:
    alice = await funded_user(transfers, 2_000_000, tier=1)  # 5,000.00 single, 10,000.00 daily
    bob = await new_user(transfers.users, tier=0)  # cap 1,000.00
    carol = await new_user(transfers.users, tier=3)

    async def send(to: int, amount: int) -> None:
        await transfers.transfer(
            alice, to_user_id=to, amount=amount, pin=PIN, idempotency_key=key()
        )

    with pytest.raises(BalanceCapExceeded) as capped:
        await send(bob, 100_001)
    assert "cap" not in capped.value.details and "account_id" not in capped.value.details
    with pytest.raises(LimitExceeded):
        await send(carol, 500_001)
    await send(carol, 500_000)
    await send(carol, 500_000)
    with pytest.raises(LimitExceeded) as daily:
        await send(carol, 1)
    assert daily.value.details["used_today"] == 1_000_000
    clock.advance(timedelta(days=1))
    await send(carol, 1)
    dave = await funded_user(transfers, 100)
    with pytest.raises(InsufficientFunds) as short:
        await transfers.transfer(dave, to_user_id=bob, amount=101, pin=PIN, idempotency_key=key())
    assert short.value.details == {"available": 100}


async def test_statement_balances_and_csv(transfers: TransferService, clock: ManualClock) -> None:
    alice = await funded_user(transfers, 10_000)
    bob = await new_user(transfers.users)
    start = clock.now()
    for amount, memo in ((100, "tea"), (250, "=cmd|' /C calc'!A0"), (400, "")):
        clock.advance(timedelta(minutes=1))
        await transfers.transfer(
            alice, to_user_id=bob, amount=amount, memo=memo, pin=PIN, idempotency_key=key()
        )
    await transfers.transfer(bob, to_user_id=alice, amount=50, pin=PIN, idempotency_key=key())

    lines = await transfers.statement(alice, limit=3)
    assert [(x.amount, x.balance_after, x.direction) for x in lines] == [
        (50, 9_300, "in"),
        (-400, 9_250, "out"),
        (-250, 9_650, "out"),
    ]
    assert lines[0].counterparty_user_id == bob and lines[0].kind == "transfer"
    assert lines[0].counterparty_phone is not None and "****" in lines[0].counterparty_phone
    rest = await transfers.statement(alice, limit=10, before=lines[-1].posting_id)
    assert [(x.amount, x.memo) for x in rest] == [(-100, "tea"), (10_000, "")]
    assert rest[-1].kind == "test_funding" and rest[-1].counterparty_user_id is None

    csv_text = await transfers.statement_csv(alice)
    rows = csv_text.splitlines()
    assert rows[0].startswith("posting_id,entry_id,created_at,kind,direction,amount")
    assert ",-4.00,CNY,92.50," in rows[2]
    assert "'=cmd" in rows[3]
    assert len(rows) == 6

    balance = await transfers.balance(alice)
    assert (balance.posted, balance.available, balance.pending_out) == (9_300, 9_300, 0)
    assert await transfers.balance_as_of(alice, start) == 10_000
    assert await transfers.balance_as_of(alice, start + timedelta(minutes=2)) == 9_650
    with pytest.raises(InvalidRequest):
        await transfers.balance_as_of(alice, datetime(2026, 1, 1))  # no time zone
    assert await transfers.balance_as_of(alice, datetime(2000, 1, 1, tzinfo=UTC)) == 0
    assert [b.currency for b in await transfers.balances(alice)] == ["CNY"]


async def test_transfers_in_another_currency(transfers: TransferService) -> None:
    alice = await funded_user(transfers, 1_000)
    bob = await new_user(transfers.users)
    with pytest.raises(InsufficientFunds):
        await transfers.transfer(
            alice, to_user_id=bob, amount=100, currency="USD", pin=PIN, idempotency_key=key()
        )
    assert [b.currency for b in await transfers.balances(alice)] == ["CNY", "USD"]
