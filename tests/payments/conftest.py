"""Merchants and consumers with money, for payments tests."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.conftest import settings_for
from zhifu.clock import ManualClock
from zhifu.ledger import AccountKind, Book, system_account, transfer
from zhifu.merchants import Merchant
from zhifu.runtime import Runtime

PIN = "135790"


@dataclass
class Shop:
    runtime: Runtime

    async def merchant(self, fee_rate_ppm: int = 6_000, *, sandbox: bool = False) -> Merchant:
        merchant, _ = await self.runtime.payments.merchants.create(
            f"Shop {uuid.uuid4().hex[:6]}", fee_rate_ppm=fee_rate_ppm, sandbox=sandbox
        )
        return merchant

    async def consumer(
        self, balance: int = 100_000, tier: int = 3, *, sandbox: bool = False
    ) -> int:
        phone = f"137{random.randrange(10**8):08d}"
        user = await self.runtime.users.signup(
            phone, "password-123", kyc_tier=tier, sandbox=sandbox
        )
        await self.runtime.users.set_pin(user.id, PIN)
        if balance:
            wallet = await self.runtime.users.wallet(user.id)
            book = Book.of(sandbox)
            clearing = await self.runtime.db.transaction(
                lambda conn: system_account(conn, AccountKind.BANK_CLEARING, "CNY", book=book)
            )
            await self.runtime.ledger.execute(transfer(clearing.id, wallet, balance, "CNY"))
        return user.id

    async def wallet_balance(self, user_id: int) -> int:
        return (await self.runtime.transfers.balance(user_id)).available


@pytest.fixture(scope="session")
async def timed_runtime(database_url: str) -> AsyncIterator[Runtime]:
    """A runtime whose clock only moves when a test moves it."""
    settings = settings_for(database_url)
    rt = await Runtime.start(settings, clock=ManualClock())
    yield rt
    await rt.close()


@pytest.fixture
def shop(runtime: Runtime) -> Shop:
    return Shop(runtime)


@pytest.fixture
def timed_shop(timed_runtime: Runtime) -> Shop:
    return Shop(timed_runtime)
