"""The process's account cache holds only committed accounts.

Movements open the accounts they need inside their own transaction (a wallet in a new
currency, the platform's fee account on the first payment). When such a movement is
refused its transaction rolls back, taking the accounts with it; nothing of them may stay
in the cache, or the next movement finds an account id that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zhifu.db import Database
from zhifu.db.database import Conn
from zhifu.errors import BalanceCapExceeded, InsufficientFunds, ZhifuError
from zhifu.ledger import AccountKind, apply, balances, find_account, open_account, transfer
from zhifu.ledger.accounts import load_accounts

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CAP = 1_000
NAMES = ("a", "b", "c")


@dataclass(frozen=True)
class Step:
    name: str
    amount: int  # > 0 credits the account from the world, < 0 debits it
    in_savepoint: bool  # run inside a savepoint of a transaction that commits anyway


@dataclass
class Model:
    """Which accounts are open and what they hold: only what committed."""

    balances: dict[str, int] = field(default_factory=dict)
    world_open: bool = False

    def refusal(self, step: Step) -> type[ZhifuError] | None:
        held = self.balances.get(step.name, 0)
        if held + step.amount > CAP:
            return BalanceCapExceeded
        if held + step.amount < 0:
            return InsufficientFunds
        return None

    def accept(self, step: Step) -> None:
        self.balances[step.name] = self.balances.get(step.name, 0) + step.amount
        self.world_open = True


STEPS = st.builds(
    Step,
    name=st.sampled_from(NAMES),
    amount=st.integers(1, CAP + 200) | st.integers(-(CAP + 200), -1),
    in_savepoint=st.booleans(),
)


async def move(conn: Conn, prefix: str, step: Step) -> None:
    """Open what the movement needs in its own transaction, then move (or be refused)."""
    world = await open_account(conn, f"{prefix}:world", AccountKind.TEST, "CNY", floor=None)
    account = await open_account(conn, f"{prefix}:{step.name}", AccountKind.TEST, "CNY", cap=CAP)
    source, target = (world, account) if step.amount > 0 else (account, world)
    command = transfer(source.id, target.id, abs(step.amount), "CNY", kind="test")
    (outcome,) = await apply(conn, [command], NOW)
    outcome.unwrap()


async def run(db: Database, prefix: str, step: Step) -> None:
    if not step.in_savepoint:
        await db.transaction(lambda conn: move(conn, prefix, step))
        return

    async def around(conn: Conn) -> None:
        # the outer transaction writes first, so the savepoint's rows are not its own
        await open_account(conn, f"{prefix}:witness", AccountKind.TEST, "CNY")
        try:
            async with conn.transaction():
                await move(conn, prefix, step)
        except (BalanceCapExceeded, InsufficientFunds):
            pass

    await db.transaction(around)


async def check(db: Database, prefix: str, model: Model) -> None:
    async with db.connection() as conn:
        found = {name: await find_account(conn, f"{prefix}:{name}") for name in NAMES}
        assert {name for name, info in found.items() if info} == set(model.balances)
        world = await find_account(conn, f"{prefix}:world")
        assert (world is not None) == model.world_open
        opened = {name: info.id for name, info in found.items() if info}
        held = await balances(conn, list(opened.values()))
        assert {name: held[i].posted for name, i in opened.items()} == model.balances
        loaded = await load_accounts(conn, set(opened.values()))
        assert {info.code for info in loaded.values()} == {f"{prefix}:{n}" for n in opened}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEPS, min_size=1, max_size=10))
async def test_refused_and_accepted_movements_on_fresh_accounts_match_a_model(
    db: Database, steps: list[Step]
) -> None:
    prefix, model = f"cache:{uuid.uuid4().hex}", Model()
    for step in steps:
        expected = model.refusal(step)
        try:
            await run(db, prefix, step)
        except ZhifuError as error:
            assert type(error) is expected, error
        else:
            assert step.in_savepoint or expected is None
            if expected is None:
                model.accept(step)
        await check(db, prefix, model)
