"""Many clients at once, as in production: several thousand random transfers among a few
accounts (one of them sharded) from 16 to 32 concurrent clients, through `execute`, through
the batched `submit` path, and through two separate pools and ledgers on one database (two
processes' worth of connections and batchers); holds created, posted and voided and expired
while transfers run; one request retried concurrently under one idempotency key.

Every run checks that money is conserved at every moment (a watcher reads all balances in
one snapshot while the clients run), that no available balance is ever below its floor, that
every acknowledged operation was applied exactly once and every refused one not at all (the
final balances equal the start plus the clients' own tally), that no deadlock or
serialization failure reaches a caller (any exception other than a refusal fails the test),
and that `verify` passes, during the run as well as after it.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.db.database import Conn
from zhifu.errors import (
    BalanceCapExceeded,
    HoldExpired,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidRequest,
    InvalidStateTransition,
    LimitExceeded,
    ZhifuError,
)
from zhifu.ledger import (
    AccountKind,
    Command,
    CreateHold,
    Ledger,
    Outcome,
    PostEntry,
    PostHold,
    VoidHold,
    balances,
    open_account,
    set_limits,
    statement,
    transfer,
)

START = 2_000  # each account's opening balance


async def new_account(db: Database, **options: Any) -> int:
    code = f"conc:{uuid.uuid4().hex}"
    info = await db.transaction(
        lambda conn: open_account(conn, code, AccountKind.TEST, "CNY", **options)
    )
    return info.id


async def funded_accounts(ledger: Ledger, count: int = 5) -> list[int]:
    """`count` accounts with START each; the last one is a sharded, hot account."""
    bank = await new_account(ledger.db, floor=None)
    accounts = [await new_account(ledger.db) for _ in range(count - 1)]
    accounts.append(await new_account(ledger.db, shards=4))
    outcomes = await ledger.execute_many([transfer(bank, a, START, "CNY") for a in accounts])
    assert all(o.accepted for o in outcomes)
    return accounts


@dataclass
class Tally:
    """What the clients were told: the net movement per account, and what was refused."""

    net: Counter[int] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)


async def send(ledger: Ledger, path: str, command: Command) -> Outcome:
    """One command by `execute` or `submit`; refusals come back as an Outcome, anything
    else (a deadlock, a serialization failure, a bug) propagates and fails the test."""
    if path == "submit":
        return await ledger.submit(command)
    try:
        return Outcome(result=await ledger.execute(command))
    except ZhifuError as error:
        return Outcome(error=error)


async def transfer_client(
    ledger: Ledger, path: str, accounts: list[int], ops: int, seed: int, tally: Tally
) -> None:
    rng = random.Random(seed)
    for _ in range(ops):
        source, target = rng.sample(accounts, 2)
        amount = rng.randint(1, 400)
        outcome = await send(ledger, path, transfer(source, target, amount, "CNY"))
        if outcome.accepted:
            tally.net[source] -= amount
            tally.net[target] += amount
            tally.answers["accepted"] += 1
        else:
            assert isinstance(outcome.error, InsufficientFunds), outcome.error
            tally.answers["insufficient"] += 1


@dataclass
class Watcher:
    """Reads every balance in one snapshot, over and over, while the clients run."""

    db: Database
    accounts: list[int]
    total: int
    ledger: Ledger | None = None  # verify with it now and then, too
    reads: int = 0
    verified: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while not self.stop.is_set():
            async with self.db.connection() as conn:
                found = await balances(conn, self.accounts)
            assert sum(b.posted for b in found.values()) == self.total, found
            for b in found.values():
                assert b.available >= 0, b
                assert b.pending_out >= 0 and b.pending_in >= 0, b
            self.reads += 1
            if self.ledger is not None and self.reads % 20 == 1:
                report = await self.ledger.verify()
                assert report.ok, report.breaches
                self.verified += 1
            await asyncio.sleep(0.005)


@pytest.fixture
async def ledger(db: Database, clock: ManualClock) -> AsyncIterator[Ledger]:
    ledger = Ledger(db, clock)
    yield ledger
    await ledger.close()


@pytest.fixture
async def second_ledger(db: Database, clock: ManualClock) -> AsyncIterator[Ledger]:
    """Another pool and batcher on the same database, as a second process would have."""
    other = Database(db.url, min_size=2, max_size=20)
    await other.open()
    ledger = Ledger(other, clock)
    yield ledger
    await ledger.close()
    await other.close()


async def run_with_watcher(
    ledger: Ledger, accounts: list[int], clients: list[Awaitable[None]]
) -> Watcher:
    watcher = Watcher(ledger.db, accounts, START * len(accounts), ledger=ledger)
    watching = asyncio.create_task(watcher.run())
    try:
        await asyncio.gather(*clients)
    finally:
        watcher.stop.set()
        await watching  # re-raises what the watcher saw
    assert watcher.reads > 0 and watcher.verified > 0
    return watcher


async def assert_final(ledger: Ledger, accounts: list[int], tally: Tally) -> None:
    async with ledger.db.connection() as conn:
        found = await balances(conn, accounts)
    for account in accounts:
        b = found[account]
        assert b.posted == START + tally.net[account], (account, b, tally.net[account])
        assert (b.pending_out, b.pending_in) == (0, 0), b
        assert b.available >= 0
    assert sum(found[a].posted for a in accounts) == START * len(accounts)
    report = await ledger.verify()
    assert report.ok, report.breaches


@pytest.mark.parametrize("path", ["execute", "submit"])
async def test_concurrent_transfers_conserve_money(ledger: Ledger, path: str) -> None:
    accounts = await funded_accounts(ledger)
    tally = Tally()
    clients, ops = (20, 100) if path == "execute" else (32, 100)
    await run_with_watcher(
        ledger,
        accounts,
        [transfer_client(ledger, path, accounts, ops, seed, tally) for seed in range(clients)],
    )
    assert sum(tally.answers.values()) == clients * ops
    assert tally.answers["accepted"] and tally.answers["insufficient"], tally.answers
    await assert_final(ledger, accounts, tally)


async def test_two_processes_with_their_own_pools_and_batchers(
    ledger: Ledger, second_ledger: Ledger
) -> None:
    accounts = await funded_accounts(ledger)
    tally = Tally()
    clients = [
        transfer_client(one, path, accounts, 100, seed * 4 + n, tally)
        for seed in range(6)
        for n, (one, path) in enumerate(
            [
                (ledger, "execute"),
                (ledger, "submit"),
                (second_ledger, "execute"),
                (second_ledger, "submit"),
            ]
        )
    ]
    assert len(clients) == 24
    await run_with_watcher(ledger, accounts, clients)
    assert tally.answers["accepted"] and tally.answers["insufficient"], tally.answers
    await assert_final(ledger, accounts, tally)
    await assert_final(second_ledger, accounts, tally)


async def test_holds_posted_voided_and_expired_while_transfers_run(
    ledger: Ledger, second_ledger: Ledger, clock: ManualClock
) -> None:
    accounts = await funded_accounts(ledger)
    tally = Tally()
    done = asyncio.Event()

    async def hold_client(one: Ledger, path: str, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(40):
            debit, credit = rng.sample(accounts, 2)
            amount = rng.randint(1, 400)
            expires_at = clock.now() + timedelta(seconds=rng.choice([30, 60, 600]))
            created = await send(
                one, path, CreateHold(debit, credit, amount, "CNY", expires_at=expires_at)
            )
            if not created.accepted:
                # refused for want of money, or the timekeeper moved the clock past the
                # deadline while the request waited (a loaded machine)
                late = isinstance(created.error, InvalidRequest) and "past" in str(created.error)
                assert late or isinstance(created.error, InsufficientFunds), created.error
                tally.answers["hold refused"] += 1
                continue
            hold_id = created.unwrap()["hold_id"]
            await asyncio.sleep(rng.random() * 0.005)
            action = rng.choice(["post", "part", "void", "leave"])
            if action == "leave":  # for the expiry job
                tally.answers["hold left"] += 1
                continue
            command: Command = (
                VoidHold(hold_id)
                if action == "void"
                else PostHold(hold_id, amount=None if action == "post" else rng.randint(1, amount))
            )
            outcome = await send(one, path, command)
            if outcome.accepted:
                tally.answers[f"hold {action}"] += 1
                if isinstance(command, PostHold):
                    posted = outcome.unwrap()["posted_amount"]
                    assert posted == (amount if command.amount is None else command.amount)
                    tally.net[debit] -= posted
                    tally.net[credit] += posted
            else:
                # the clock moved past the deadline, or the expiry job got there first
                assert isinstance(outcome.error, HoldExpired | InvalidStateTransition), (
                    outcome.error
                )
                tally.answers["hold too late"] += 1

    async def timekeeper() -> None:
        while not done.is_set():
            clock.advance(timedelta(seconds=5))
            # both processes run the expiry job: SKIP LOCKED shares the due holds out
            counts = await asyncio.gather(
                ledger.expire_due_holds(), second_ledger.expire_due_holds()
            )
            tally.answers["expired"] += sum(counts)
            await asyncio.sleep(0.01)

    async def transfers_and_holds() -> None:
        try:
            await asyncio.gather(
                *[
                    transfer_client(one, path, accounts, 60, seed, tally)
                    for seed, (one, path) in enumerate(
                        [(ledger, "execute"), (ledger, "submit"), (second_ledger, "submit")] * 3
                    )
                ],
                *[
                    hold_client(one, path, 100 + seed)
                    for seed, (one, path) in enumerate(
                        [(ledger, "submit"), (second_ledger, "execute"), (ledger, "execute")] * 3
                    )
                ],
            )
        finally:
            done.set()

    await run_with_watcher(ledger, accounts, [transfers_and_holds(), timekeeper()])
    # every hold left pending reaches its deadline and is released by the expiry job
    clock.advance(timedelta(hours=1))
    while await ledger.expire_due_holds():
        pass
    assert tally.answers["hold post"] and tally.answers["hold part"], tally.answers
    assert tally.answers["hold void"] and tally.answers["expired"], tally.answers
    await assert_final(ledger, accounts, tally)


async def test_limits_hold_under_concurrency(ledger: Ledger, second_ledger: Ledger) -> None:
    """Concurrent payers cannot together exceed a daily outflow limit or a balance cap."""
    bank = await new_account(ledger.db, floor=None)
    payer = await new_account(ledger.db)
    payee = await new_account(ledger.db, cap=1_000)
    elsewhere = await new_account(ledger.db)
    await ledger.execute(transfer(bank, payer, 10_000, "CNY"))
    await ledger.db.transaction(
        lambda conn: set_limits(
            conn, payer, cap=None, single_debit_limit=None, daily_debit_limit=1_000
        )
    )
    pairs = retry_paths(ledger, second_ledger)
    # 40 payments of 100 against a daily limit of 1,000 (holds count against it too)
    outcomes = await all_at_once(
        pairs,
        lambda i: (
            CreateHold(payer, elsewhere, 100, "CNY")
            if i % 3 == 0
            else transfer(payer, elsewhere, 100, "CNY")
        ),
        10,
    )
    assert sum(o.accepted for o in outcomes) == 10
    assert all(isinstance(o.error, LimitExceeded) for o in outcomes if not o.accepted)
    # 40 credits of 100 into an account capped at 1,000
    outcomes = await all_at_once(pairs, lambda _: transfer(bank, payee, 100, "CNY"), 10)
    assert sum(o.accepted for o in outcomes) == 10
    assert all(isinstance(o.error, BalanceCapExceeded) for o in outcomes if not o.accepted)
    async with ledger.db.connection() as conn:
        found = await balances(conn, [payer, payee])
    assert found[payer].available == 9_000
    assert found[payee].posted == 1_000
    assert (await ledger.verify()).ok


# The same request retried concurrently, from every path at once.


def retry_paths(ledger: Ledger, second: Ledger) -> list[tuple[Ledger, str]]:
    return [(ledger, "execute"), (ledger, "submit"), (second, "execute"), (second, "submit")]


async def all_at_once(
    pairs: list[tuple[Ledger, str]], make: Callable[[int], Command], copies: int
) -> list[Outcome]:
    return list(
        await asyncio.gather(
            *[send(one, path, make(i)) for i in range(copies) for one, path in pairs]
        )
    )


async def test_one_key_retried_concurrently_moves_money_once(
    ledger: Ledger, second_ledger: Ledger
) -> None:
    accounts = await funded_accounts(ledger, 3)
    a, b, hot = accounts
    pairs = retry_paths(ledger, second_ledger)
    for round_no in range(5):
        key = f"retry-{uuid.uuid4()}"
        outcomes = await all_at_once(
            pairs, lambda _, key=key: transfer(a, hot, 10, "CNY", key=key), 10
        )
        assert all(o.accepted for o in outcomes), [o.error for o in outcomes]
        assert len({o.unwrap()["entry_id"] for o in outcomes}) == 1
        # on the submit path the replays say so; exactly one answer is the original
        submitted = [o for i, o in enumerate(outcomes) if pairs[i % 4][1] == "submit"]
        assert sum(not o.replayed for o in submitted) <= 1
        async with ledger.db.connection() as conn:
            found = await balances(conn, [a, hot])
        assert found[a].posted == START - 10 * (round_no + 1)
        assert found[hot].posted == START + 10 * (round_no + 1)

    # a hold created, then posted, under keys retried concurrently: one hold, one post
    key = f"hold-{uuid.uuid4()}"
    created = await all_at_once(pairs, lambda _: CreateHold(b, a, 300, "CNY", key=key), 8)
    hold_ids = {o.unwrap()["hold_id"] for o in created}
    assert len(hold_ids) == 1
    (hold_id,) = hold_ids
    key = f"post-{uuid.uuid4()}"
    posted = await all_at_once(pairs, lambda _: PostHold(hold_id, amount=120, key=key), 8)
    assert len({o.unwrap()["entry_id"] for o in posted}) == 1
    async with ledger.db.connection() as conn:
        found = await balances(conn, [a, b])
    assert (found[b].posted, found[b].pending_out) == (START - 120, 0)
    assert found[a].posted == START - 50 + 120
    assert (await ledger.verify()).ok


async def test_one_key_for_two_requests_concurrently_one_wins(
    ledger: Ledger, second_ledger: Ledger
) -> None:
    a, b, _ = await funded_accounts(ledger, 3)
    pairs = retry_paths(ledger, second_ledger)
    key = f"reused-{uuid.uuid4()}"
    outcomes = await all_at_once(
        pairs, lambda i: transfer(a, b, 100 if i % 2 else 200, "CNY", key=key), 10
    )
    amounts = [100 if (i // len(pairs)) % 2 else 200 for i in range(len(outcomes))]
    winners = {amount for amount, o in zip(amounts, outcomes, strict=True) if o.accepted}
    assert len(winners) == 1
    (winner,) = winners
    for amount, outcome in zip(amounts, outcomes, strict=True):
        if amount == winner:
            assert outcome.accepted, outcome.error
        else:
            assert isinstance(outcome.error, IdempotencyConflict), outcome.error
    assert len({o.unwrap()["entry_id"] for o in outcomes if o.accepted}) == 1
    async with ledger.db.connection() as conn:
        found = await balances(conn, [a, b])
    assert (found[a].posted, found[b].posted) == (START - winner, START + winner)


async def test_a_refused_request_retried_concurrently_moves_nothing(
    ledger: Ledger, second_ledger: Ledger
) -> None:
    a, b, _ = await funded_accounts(ledger, 3)
    key = f"refused-{uuid.uuid4()}"
    outcomes = await all_at_once(
        retry_paths(ledger, second_ledger),
        lambda _: transfer(a, b, START + 1, "CNY", key=key),
        6,
    )
    assert all(isinstance(o.error, InsufficientFunds) for o in outcomes)
    # the key was released: once there is money, the same request goes through, once
    await ledger.execute(transfer(b, a, 1, "CNY"))
    outcomes = await all_at_once(
        retry_paths(ledger, second_ledger),
        lambda _: transfer(a, b, START + 1, "CNY", key=key),
        6,
    )
    assert len({o.unwrap()["entry_id"] for o in outcomes}) == 1
    async with ledger.db.connection() as conn:
        found = await balances(conn, [a, b])
    assert (found[a].posted, found[b].posted) == (0, 2 * START)


async def test_racing_posts_and_voids_of_one_hold_settle_it_once(
    ledger: Ledger, second_ledger: Ledger
) -> None:
    a, _, hot = await funded_accounts(ledger, 3)
    rng = random.Random(7)
    wins: Counter[str] = Counter()
    for _ in range(12):
        hold_id = (await ledger.execute(CreateHold(a, hot, 100, "CNY")))["hold_id"]
        contenders: list[tuple[str, Command]] = [
            ("post", PostHold(hold_id)),
            ("part", PostHold(hold_id, amount=rng.randint(1, 99))),
            ("void", VoidHold(hold_id)),
        ] * 3
        rng.shuffle(contenders)
        pairs = retry_paths(ledger, second_ledger)
        outcomes = await asyncio.gather(
            *[send(*pairs[i % 4], command) for i, (_, command) in enumerate(contenders)]
        )
        accepted = [
            (name, command, o)
            for (name, command), o in zip(contenders, outcomes, strict=True)
            if o.accepted
        ]
        assert len(accepted) == 1, accepted
        for o in outcomes:
            if not o.accepted:
                assert isinstance(o.error, InvalidStateTransition), o.error
        wins[accepted[0][0]] += 1
    async with ledger.db.connection() as conn:
        found = await balances(conn, [a, hot])
    assert found[a].pending_out == 0 and found[hot].pending_in == 0
    assert found[a].posted + found[hot].posted == 2 * START
    assert (await ledger.verify()).ok
    assert sum(wins.values()) == 12


async def test_a_poisoned_command_does_not_fail_its_batch(ledger: Ledger) -> None:
    a, b, _ = await funded_accounts(ledger, 3)
    poisoned = PostEntry(
        legs=transfer(a, b, 1, "CNY").legs,
        metadata={"not json": {1, 2}},  # a set: the database cannot store it
    )
    good = [ledger.submit(transfer(a, b, 10, "CNY")) for _ in range(20)]
    results = await asyncio.gather(*good, ledger.submit(poisoned), return_exceptions=True)
    assert all(isinstance(r, Outcome) and r.accepted for r in results[:-1]), results
    assert not (isinstance(results[-1], Outcome) and results[-1].accepted)
    async with ledger.db.connection() as conn:
        found = await balances(conn, [a, b])
    assert (found[a].posted, found[b].posted) == (START - 200, START + 200)


# Reading while writers commit out of order.


class CommitAfter:
    """A connection that runs `hook` once, right after its `n`-th statement."""

    def __init__(self, conn: Conn, n: int, hook: Callable[[], Awaitable[None]]) -> None:
        self.conn, self.n, self.hook, self.calls = conn, n, hook, 0

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        cursor = await self.conn.execute(*args, **kwargs)
        self.calls += 1
        if self.calls == self.n:
            await self.hook()
        return cursor


async def raw_credit(conn: Conn, target: int, shard: int, source: int, amount: int) -> None:
    """What the engine writes for a credit to one shard of a sharded account (the shards
    are why credits to one account may commit out of posting-id order)."""
    cur = await conn.execute(
        "insert into ledger_entry (kind, created_at) values ('raw', now()) returning id"
    )
    row = await cur.fetchone()
    assert row is not None
    await conn.execute(
        """
        insert into ledger_posting (entry_id, account_id, currency, amount, created_at)
        values (%(e)s, %(t)s, 'CNY', %(m)s, now()), (%(e)s, %(s)s, 'CNY', -%(m)s, now())
        """,
        {"e": row["id"], "t": target, "s": source, "m": amount},
    )
    await conn.execute(
        "update ledger_balance set posted = posted + %s where account_id = %s and shard = %s",
        (amount, target, shard),
    )
    await conn.execute(
        "update ledger_balance set posted = posted - %s where account_id = %s and shard = 0",
        (amount, source),
    )


@pytest.mark.parametrize("commit_after", [1, 2, 3])
async def test_a_statement_is_one_snapshot_while_credits_commit_out_of_order(
    db: Database, commit_after: int
) -> None:
    """A statement line's balance is that of the postings the statement shows, even when an
    earlier posting commits while the statement is being read."""
    hot = await new_account(db, shards=2)
    payers = [await new_account(db, floor=None) for _ in range(2)]
    async with db.connection() as slow, db.connection() as fast, db.connection() as reader:
        await slow.execute("begin")
        await raw_credit(slow, hot, 0, payers[0], 5)  # the lower posting id, not committed
        async with fast.transaction():
            await raw_credit(fast, hot, 1, payers[1], 7)  # committed first

        async def commit_slow() -> None:
            await slow.execute("commit")

        proxy = CommitAfter(reader, commit_after, commit_slow)
        lines = await statement(proxy, hot, limit=10)  # type: ignore[arg-type]
        if proxy.calls < commit_after:
            await commit_slow()
    assert lines, "the committed credit is always shown"
    # the oldest line shown is the account's first posting in the snapshot read
    assert lines[-1].balance_after == lines[-1].amount, lines
    for newer, older in itertools.pairwise(lines):
        assert newer.balance_after == older.balance_after + newer.amount
    assert sorted(x.amount for x in lines) in ([7], [5, 7])
    assert (await Ledger(db, ManualClock()).verify()).ok
