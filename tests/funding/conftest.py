"""Fixtures of the funding tests: a database of their own, emptied of funding orders
and simulated bank transfers before each test (the worker jobs work on every row, so
tests must not see each other's), and the funding service over the bank simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import _backends, private_database
from tests.funding.support import card_number
from tests.identity.support import new_user
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.funding import BankSimulator, FundingService
from zhifu.identity import Card, CardService, UserService
from zhifu.ledger import Ledger

TOKENIZER_SECRET = b"funding-tests-tokenizer-secret-0123456789"


@pytest.fixture(scope="session", params=_backends())
async def funding_database(
    request: pytest.FixtureRequest, server_urls: dict[str, str]
) -> AsyncIterator[Database]:
    async with private_database(server_urls[request.param]) as database:
        yield database


@pytest.fixture
async def db(funding_database: Database) -> Database:
    async with funding_database.connection() as conn:
        await conn.execute("truncate funding_order, bank_sim_transfer")
    return funding_database


@pytest.fixture
def bank(db: Database, clock: ManualClock, tmp_path: Path) -> BankSimulator:
    return BankSimulator(db, clock, tmp_path / "statements")


@dataclass
class Funding:
    """The funding service and what it stands on, sharing one clock and bank."""

    service: FundingService
    bank: BankSimulator
    ledger: Ledger
    users: UserService
    cards: CardService
    clock: ManualClock

    async def user(self, *, tier: int = 1) -> int:
        return await new_user(self.users, tier=tier)

    async def card(self, user_id: int, last4: str = "1111", *, kind: str = "card") -> Card:
        return await self.cards.link(user_id, card_number(last4), kind=kind)

    async def wallet(self, user_id: int) -> int:
        return await self.users.wallet(user_id)


@pytest.fixture
async def funding(db: Database, clock: ManualClock, bank: BankSimulator) -> AsyncIterator[Funding]:
    ledger = Ledger(db, clock)
    users = UserService(db, clock)
    cards = CardService(db, clock, TOKENIZER_SECRET)
    service = FundingService(db, clock, ledger, users, cards, bank)
    bank.on_callback(service.on_bank_callback)
    yield Funding(service, bank, ledger, users, cards, clock)
    await ledger.close()
