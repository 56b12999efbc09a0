"""Property tests of the ledger: random programs of commands checked against a Python model.

A hypothesis state machine drives one `Ledger` through transfers, multi-leg and
cross-currency entries (valid and not), holds created, posted whole or in part, voided, and
expired by moving the clock (to exact deadlines, too), batches through `execute_many` that
mix good and bad commands, the batched `submit` path, idempotent retries (the same request
again, and the same key with another request, alone or inside a batch), limit and cap
changes, and amounts drawn at the edges (all that is available, the rest of today's limit,
the room under a cap, and one more). A plain model decides every command as the engine
must: accepted, or refused with exactly which error. After every step the posted, pending
and available balances, today's counted outflow, and every hold's state in the database
equal the model's; each new entry holds exactly the postings, kind, description, metadata
and rate asked for; statements and balances as of past moments agree with the model's
history; and `verify` reports ok.

The machine runs in a fresh database of its own, so `verify` is exact and fast, on an event
loop in a background thread, because hypothesis drives state machines synchronously.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import create_database, drop_database
from zhifu.clock import ManualClock, business_day
from zhifu.db import Database
from zhifu.db.database import Conn
from zhifu.errors import (
    BalanceCapExceeded,
    CurrencyMismatch,
    HoldExpired,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidRequest,
    InvalidStateTransition,
    LimitExceeded,
    NotFound,
    UnknownCurrency,
    ZhifuError,
)
from zhifu.ledger import (
    AccountKind,
    Command,
    CreateHold,
    Ledger,
    Leg,
    Outcome,
    PostEntry,
    PostHold,
    StatementLine,
    VoidHold,
    balance_as_of,
    balances,
    entry,
    open_account,
    set_limits,
    statement,
    transfer,
)
from zhifu.money import CURRENCIES, MAX_AMOUNT

T = TypeVar("T")
MISSING = 10**12  # an account or hold id that does not exist


# ---------------------------------------------------------------------------------------
# The model: what the engine must decide, written as plainly as possible.


class Refusal(Exception):
    def __init__(self, error: type[ZhifuError]) -> None:
        super().__init__(error.__name__)
        self.error = error


@dataclass
class MAccount:
    id: int
    name: str
    currency: str
    floor: int | None = 0
    cap: int | None = None
    single_limit: int | None = None
    daily_limit: int | None = None
    posted: int = 0
    pending_out: int = 0
    pending_in: int = 0
    debit_day: date | None = None
    day_total: int = 0

    @property
    def available(self) -> int:
        return self.posted - self.pending_out

    def check_debit(self, amount: int, today: date) -> None:
        if self.floor is not None and self.available - amount < self.floor:
            raise Refusal(InsufficientFunds)
        if self.single_limit is not None and amount > self.single_limit:
            raise Refusal(LimitExceeded)
        used = self.day_total if self.debit_day == today else 0
        if self.daily_limit is not None and used + amount > self.daily_limit:
            raise Refusal(LimitExceeded)

    def check_credit(self, amount: int) -> None:
        if self.cap is not None and self.posted + self.pending_in + amount > self.cap:
            raise Refusal(BalanceCapExceeded)

    def count_outflow(self, amount: int, today: date) -> None:
        if self.debit_day != today:
            self.debit_day, self.day_total = today, 0
        self.day_total = max(0, self.day_total + amount)


@dataclass
class MHold:
    debit: MAccount
    credit: MAccount
    amount: int
    expires_at: datetime | None
    created_day: date
    kind: str = "hold"
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    state: str = "pending"
    posted_amount: int = 0
    id: int = 0


def valid_amount(amount: object) -> bool:
    return type(amount) is int and 0 < amount <= MAX_AMOUNT


Postings = list[tuple[int, str, int]]


@dataclass
class MEntry:
    """A journal entry as it must be written."""

    postings: Postings
    kind: str
    description: str
    metadata: dict[str, Any]
    exchange_rate: str | None = None


@dataclass
class Expect:
    """What one command must answer."""

    kind: str  # "accept", "refuse", "replay_stored" or "replay_of"
    error: type[ZhifuError] | None = None
    stored: Any = None
    first: int = -1
    check: Callable[[dict[str, Any]], None] | None = None
    entry: MEntry | None = None


class Model:
    def __init__(self) -> None:
        self.accounts: dict[int, MAccount] = {}
        self.holds: dict[int, MHold] = {}
        self.stored: dict[str, tuple[Command, Any]] = {}  # keys of accepted requests

    def expect_batch(self, commands: list[Command], now: datetime) -> list[Expect]:
        expects: list[Expect] = []
        first: dict[str, int] = {}
        for i, command in enumerate(commands):
            key = command.key
            if key is not None and key in self.stored:
                stored_command, result = self.stored[key]
                if stored_command == command:
                    expects.append(Expect("replay_stored", stored=result))
                else:
                    expects.append(Expect("refuse", IdempotencyConflict))
                continue
            if key is not None and key in first:
                if commands[first[key]] == command:
                    expects.append(Expect("replay_of", first=first[key]))
                else:
                    expects.append(Expect("refuse", IdempotencyConflict))
                continue
            if key is not None:
                first[key] = i
            try:
                expects.append(self.decide(command, now))
            except Refusal as refusal:
                expects.append(Expect("refuse", refusal.error))
        return expects

    def account(self, account_id: int, currency: str) -> MAccount:
        account = self.accounts.get(account_id)
        if account is None:
            raise Refusal(NotFound)
        if account.currency != currency:
            raise Refusal(CurrencyMismatch)
        return account

    def decide(self, command: Command, now: datetime) -> Expect:
        today = business_day(now)
        if isinstance(command, PostEntry):
            return self.decide_entry(command, today)
        if isinstance(command, CreateHold):
            return self.decide_create_hold(command, now, today)
        if isinstance(command, PostHold):
            return self.decide_post_hold(command, now, today)
        return self.decide_void_hold(command, today)

    def decide_entry(self, command: PostEntry, today: date) -> Expect:
        if len(command.legs) < 2:
            raise Refusal(InvalidRequest)
        nets: dict[int, int] = {}
        totals: dict[str, int] = {}
        for leg in command.legs:
            if leg.currency not in CURRENCIES:
                raise Refusal(UnknownCurrency)
            if not valid_amount(abs(leg.amount) if type(leg.amount) is int else leg.amount):
                raise Refusal(InvalidAmount)
            self.account(leg.account_id, leg.currency)
            nets[leg.account_id] = nets.get(leg.account_id, 0) + leg.amount
            totals[leg.currency] = totals.get(leg.currency, 0) + leg.amount
        if any(totals.values()):
            raise Refusal(InvalidRequest)
        if len(totals) > 1 and not command.exchange_rate:
            raise Refusal(CurrencyMismatch)
        for account_id, net in nets.items():
            if net < 0:
                self.accounts[account_id].check_debit(-net, today)
            elif net > 0:
                self.accounts[account_id].check_credit(net)
        for account_id, net in nets.items():
            account = self.accounts[account_id]
            account.posted += net
            if net < 0:
                account.count_outflow(-net, today)
        postings = [(leg.account_id, leg.currency, leg.amount) for leg in command.legs]
        entry = MEntry(
            postings,
            command.kind,
            command.description,
            dict(command.metadata),
            command.exchange_rate,
        )
        return Expect("accept", entry=entry)

    def decide_create_hold(self, command: CreateHold, now: datetime, today: date) -> Expect:
        if command.currency not in CURRENCIES:
            raise Refusal(UnknownCurrency)
        if not valid_amount(command.amount):
            raise Refusal(InvalidAmount)
        if command.debit_account_id == command.credit_account_id:
            raise Refusal(InvalidRequest)
        if command.expires_at is not None and command.expires_at <= now:
            raise Refusal(InvalidRequest)
        debit = self.account(command.debit_account_id, command.currency)
        credit = self.account(command.credit_account_id, command.currency)
        debit.check_debit(command.amount, today)
        credit.check_credit(command.amount)
        debit.pending_out += command.amount
        debit.count_outflow(command.amount, today)
        credit.pending_in += command.amount
        hold = MHold(
            debit,
            credit,
            command.amount,
            command.expires_at,
            today,
            command.kind,
            command.description,
            dict(command.metadata),
        )

        def check(result: dict[str, Any]) -> None:
            assert result["state"] == "pending"
            hold.id = result["hold_id"]
            assert hold.id not in self.holds
            self.holds[hold.id] = hold

        return Expect("accept", check=check)

    def pending_hold(self, hold_id: int) -> MHold:
        hold = self.holds.get(hold_id)
        if hold is None:
            raise Refusal(NotFound)
        if hold.state != "pending":
            raise Refusal(InvalidStateTransition)
        return hold

    def decide_post_hold(self, command: PostHold, now: datetime, today: date) -> Expect:
        hold = self.pending_hold(command.hold_id)
        if hold.expires_at is not None and hold.expires_at <= now:
            raise Refusal(HoldExpired)
        amount = hold.amount if command.amount is None else command.amount
        if not valid_amount(amount) or amount > hold.amount:
            raise Refusal(InvalidAmount)
        if hold.credit.cap is not None and hold.credit.posted + amount > hold.credit.cap:
            raise Refusal(BalanceCapExceeded)
        self.release(hold)
        hold.debit.posted -= amount
        hold.credit.posted += amount
        if amount < hold.amount and hold.created_day == today:
            hold.debit.count_outflow(-(hold.amount - amount), today)
        hold.state, hold.posted_amount = "posted", amount

        def check(result: dict[str, Any]) -> None:
            assert result["hold_id"] == hold.id
            assert result["posted_amount"] == amount

        postings = [
            (hold.debit.id, hold.debit.currency, -amount),
            (hold.credit.id, hold.credit.currency, amount),
        ]
        entry = MEntry(
            postings,
            hold.kind,
            command.description or hold.description,
            {**hold.metadata, **command.metadata, "hold_id": hold.id},
        )
        return Expect("accept", check=check, entry=entry)

    def decide_void_hold(self, command: VoidHold, today: date) -> Expect:
        hold = self.pending_hold(command.hold_id)
        self.release(hold)
        if hold.created_day == today:
            hold.debit.count_outflow(-hold.amount, today)
        hold.state = "expired" if command.expired else "voided"
        state = hold.state

        def check(result: dict[str, Any]) -> None:
            assert result == {"hold_id": hold.id, "state": state}

        return Expect("accept", check=check)

    @staticmethod
    def release(hold: MHold) -> None:
        hold.debit.pending_out -= hold.amount
        hold.credit.pending_in -= hold.amount

    def due_holds(self, now: datetime) -> list[MHold]:
        return [
            h
            for h in self.holds.values()
            if h.state == "pending" and h.expires_at is not None and h.expires_at <= now
        ]


# ---------------------------------------------------------------------------------------
# Running the machine's async calls on a loop of its own.


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@dataclass
class Env:
    runner: LoopThread
    db: Database
    examples: int = 0
    steps: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def env(database_url: str) -> Iterator[Env]:
    url = create_database(database_url)
    runner = LoopThread()
    db = Database(url, min_size=1, max_size=4)
    runner.run(db.open())
    try:
        yield Env(runner, db)
    finally:
        runner.run(db.close())
        runner.close()
        drop_database(database_url, url)


@dataclass
class Observed:
    result: dict[str, Any] | None
    error: ZhifuError | None
    replayed: bool | None  # unknown on the `execute` path, which returns only the result


PATHS = ("execute", "submit", "many")
# Free text as callers send it: quotes, backslashes, braces and commas (which array
# literals must escape), the word NULL, other scripts; never NUL, which PostgreSQL refuses.
SAFE_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
TEXTS = st.one_of(
    st.just(""),
    st.sampled_from(['say "hi"', "back\\slash", "{a,b}", "NULL", "付款 ¥1", "tab\tnew\nline"]),
    SAFE_TEXT,
)
KINDS = st.sampled_from(["transfer", "payment", "退款", 'odd "kind" {x}', "NULL"])
METADATA = st.one_of(
    st.just({}),
    st.dictionaries(
        SAFE_TEXT,
        st.one_of(st.none(), st.booleans(), st.integers(-(10**12), 10**12), SAFE_TEXT),
        max_size=3,
    ),
)
CNY_NAMES = ("bank", "alice", "bob", "carol", "overdraft", "hot")
START = datetime(2026, 1, 1, tzinfo=UTC)


class LedgerMachine(RuleBasedStateMachine):
    env: ClassVar[Env]

    def __init__(self) -> None:
        super().__init__()
        env = self.env
        env.examples += 1
        # each example starts after the previous one ended (see teardown)
        self.clock = ManualClock(START + timedelta(days=100 * env.examples))
        self.ledger = Ledger(env.db, self.clock)
        self.model = Model()
        self.prefix = uuid.uuid4().hex[:10]
        self.serial = 0
        self.sent_keyed: list[Command] = []
        self.new_entries: list[tuple[int, MEntry]] = []
        self.history: dict[datetime, dict[int, int]] = {}
        self.run(self.open_accounts())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.env.runner.run(coroutine)

    async def open_accounts(self) -> None:
        specs: list[tuple[str, str, dict[str, Any]]] = [
            ("bank", "CNY", {"floor": None}),
            ("alice", "CNY", {}),
            ("bob", "CNY", {"cap": 4_000}),
            ("carol", "CNY", {"single_limit": 1_500, "daily_limit": 4_000}),
            ("overdraft", "CNY", {"floor": -1_000}),
            ("hot", "CNY", {"shards": 4}),
            ("fx_cny", "CNY", {"floor": None}),
            ("usd_bank", "USD", {"floor": None}),
            ("dave", "USD", {}),
            ("fx_usd", "USD", {"floor": None}),
        ]
        self.named: dict[str, MAccount] = {}
        for name, currency, options in specs:
            self.named[name] = MAccount(
                0,
                name,
                currency,
                floor=options.get("floor", 0),
                cap=options.get("cap"),
                single_limit=options.get("single_limit"),
                daily_limit=options.get("daily_limit"),
            )

        async def open_all(conn: Conn) -> None:
            for name, currency, options in specs:
                account = self.named[name]
                info = await open_account(
                    conn,
                    f"prop:{self.prefix}:{name}",
                    AccountKind.TEST,
                    currency,
                    floor=account.floor,
                    cap=account.cap,
                    shards=options.get("shards", 1),
                )
                account.id = info.id
                if account.single_limit is not None:
                    await set_limits(
                        conn,
                        account.id,
                        cap=account.cap,
                        single_debit_limit=account.single_limit,
                        daily_debit_limit=account.daily_limit,
                    )

        await self.env.db.transaction(open_all)
        self.model.accounts = {a.id: a for a in self.named.values()}
        bank, usd_bank = self.named["bank"].id, self.named["usd_bank"].id
        funding: list[Command] = [
            transfer(bank, self.named[name].id, amount, "CNY")
            for name, amount in (("alice", 3_000), ("bob", 2_000), ("carol", 3_000), ("hot", 2_000))
        ]
        funding.append(transfer(usd_bank, self.named["dave"].id, 1_000, "USD"))
        await self.submit(funding, "many")

    # -- driving and checking -----------------------------------------------------------

    async def submit(self, commands: list[Command], path: str) -> list[Observed]:
        expects = self.model.expect_batch(commands, self.clock.now())
        if path == "many" or len(commands) > 1:
            outcomes = await self.ledger.execute_many(commands)
            observed = [Observed(o.result, o.error, o.replayed) for o in outcomes]
        elif path == "submit":
            outcome: Outcome = await self.ledger.submit(commands[0])
            observed = [Observed(outcome.result, outcome.error, outcome.replayed)]
        else:
            try:
                observed = [Observed(await self.ledger.execute(commands[0]), None, None)]
            except ZhifuError as error:
                observed = [Observed(None, error, None)]
        assert len(observed) == len(commands)
        for i, (command, expect, seen) in enumerate(zip(commands, expects, observed, strict=True)):
            where = f"command {i} of {len(commands)} ({path}): {command!r}"
            if expect.kind == "accept":
                assert seen.error is None, f"{where} refused: {seen.error!r}"
                assert seen.replayed in (False, None), where
                assert seen.result is not None
                if expect.check is not None:
                    expect.check(seen.result)
                if expect.entry is not None:
                    self.new_entries.append((seen.result["entry_id"], expect.entry))
                if command.key is not None:
                    self.model.stored[command.key] = (command, seen.result)
            elif expect.kind == "refuse":
                assert type(seen.error) is expect.error, (
                    f"{where}: expected {expect.error.__name__ if expect.error else None},"
                    f" got {seen.error!r}"
                )
                assert seen.replayed in (False, None), where
            elif expect.kind == "replay_stored":
                assert seen.error is None, f"{where}: retry refused: {seen.error!r}"
                assert seen.result == expect.stored, where
                assert seen.replayed in (True, None), where
            else:
                original = observed[expect.first]
                assert type(seen.error) is type(original.error), where
                assert seen.result == original.result, where
                assert seen.replayed in (True, None), where
            self.env.outcomes[expect.kind if expect.error is None else expect.error.__name__] += 1
            if command.key is not None and command not in self.sent_keyed:
                self.sent_keyed.append(command)
        self.env.steps[path] += len(commands)
        return observed

    def teardown(self) -> None:
        async def finish() -> None:
            # release every hold with a deadline, so the next example's expiries are its own
            # (an example moves its clock by 25 days at most)
            self.clock.advance(timedelta(days=30))
            while await self.ledger.expire_due_holds():
                pass
            await self.ledger.close()

        self.run(finish())

    @invariant()
    def database_matches_model(self) -> None:
        self.run(self.check_database())

    async def check_database(self) -> None:
        # the posted balances as they stand at this moment, for balance_as_of later
        self.history[self.clock.now()] = {a.id: a.posted for a in self.model.accounts.values()}
        db = self.env.db
        ids = list(self.model.accounts)
        async with db.connection() as conn:
            found = await balances(conn, ids)
        for account_id, account in self.model.accounts.items():
            b = found[account_id]
            assert (b.posted, b.pending_out, b.pending_in, b.available) == (
                account.posted,
                account.pending_out,
                account.pending_in,
                account.available,
            ), f"{account.name}: database {b}, model {account}"
        # today's outflow, which the daily limit is checked against, is counted exactly
        rows = await db.fetch_all(
            "select account_id, debit_day, debit_day_total from ledger_balance"
            " where shard = 0 and account_id = any(%s)",
            (ids,),
        )
        outflow = {r["account_id"]: (r["debit_day"], r["debit_day_total"]) for r in rows}
        for account in self.model.accounts.values():
            assert outflow[account.id] == (account.debit_day, account.day_total), (
                f"{account.name}'s outflow today: database {outflow[account.id]}, model"
                f" {(account.debit_day, account.day_total)}"
            )
        if self.model.holds:
            rows = await db.fetch_all(
                "select id, state, posted_amount, kind, description, metadata from ledger_hold"
                " where id = any(%s)",
                (list(self.model.holds),),
            )
            states = {r["id"]: tuple(r.values())[1:] for r in rows}
            for hold in self.model.holds.values():
                expected = (
                    hold.state,
                    hold.posted_amount,
                    hold.kind,
                    hold.description,
                    hold.metadata,
                )
                assert states[hold.id] == expected, (
                    f"hold {hold.id}: database {states[hold.id]}, model {hold}"
                )
        if self.new_entries:
            entries = dict(self.new_entries)
            rows = await db.fetch_all(
                "select entry_id, account_id, currency, amount from ledger_posting"
                " where entry_id = any(%s)",
                (list(entries),),
            )
            got: dict[int, Counter[tuple[int, str, int]]] = {e: Counter() for e in entries}
            for r in rows:
                got[r["entry_id"]][(r["account_id"], r["currency"], r["amount"])] += 1
            written = {
                r["id"]: r
                for r in await db.fetch_all(
                    "select id, kind, description, exchange_rate, metadata, created_at"
                    " from ledger_entry where id = any(%s)",
                    (list(entries),),
                )
            }
            for entry_id, want in entries.items():
                assert got[entry_id] == Counter(want.postings), f"entry {entry_id}: {got}"
                row = written[entry_id]
                assert (
                    row["kind"],
                    row["description"],
                    row["exchange_rate"],
                    row["metadata"],
                    row["created_at"],
                ) == (
                    want.kind,
                    want.description,
                    want.exchange_rate,
                    want.metadata,
                    self.clock.now(),
                ), f"entry {entry_id}: {row} but {want}"
            self.new_entries.clear()
        report = await self.ledger.verify()
        assert report.ok, report.breaches

    # -- drawing commands ---------------------------------------------------------------

    def key(self, data: st.DataObject) -> str | None:
        if not data.draw(st.booleans(), label="keyed"):
            return None
        self.serial += 1
        return f"prop:{self.prefix}:{self.serial}"

    def any_account(self, data: st.DataObject) -> int:
        """Mostly a CNY account; now and then a USD one or one that does not exist."""
        name = data.draw(st.sampled_from([*CNY_NAMES * 3, "dave", "missing"]), label="account")
        return MISSING if name == "missing" else self.named[name].id

    def amount(self, data: st.DataObject, source_id: int, target_id: int, high: int) -> int:
        """Any amount, or one exactly at (or one past) an edge of the accounts: all that is
        available, the rest of today's limit, the single-payment limit, the room under a cap.
        """
        edges: list[int] = []
        source = self.model.accounts.get(source_id)
        target = self.model.accounts.get(target_id)
        if source is not None:
            if source.floor is not None:
                edges.append(source.available - source.floor)
            if source.single_limit is not None:
                edges.append(source.single_limit)
            if source.daily_limit is not None:
                today = business_day(self.clock.now())
                used = source.day_total if source.debit_day == today else 0
                edges.append(source.daily_limit - used)
        if target is not None and target.cap is not None:
            edges.append(target.cap - target.posted - target.pending_in)
        edges = sorted({edge + step for edge in edges for step in (0, 1) if edge + step > 0})
        anything = st.integers(1, high)
        return data.draw(
            st.one_of(anything, st.sampled_from(edges)) if edges else anything, label="amount"
        )

    def text(self, data: st.DataObject) -> str:
        return data.draw(TEXTS, label="text")

    def metadata(self, data: st.DataObject) -> dict[str, Any]:
        return data.draw(METADATA, label="metadata")

    def cny_account(self, data: st.DataObject) -> int:
        return self.named[data.draw(st.sampled_from(CNY_NAMES), label="account")].id

    def user(self, data: st.DataObject) -> MAccount:
        return self.named[data.draw(st.sampled_from(CNY_NAMES[1:]), label="user")]

    def any_hold(self, data: st.DataObject) -> int:
        ids = sorted(self.model.holds)
        if not ids or data.draw(st.integers(0, 9), label="missing hold") == 0:
            return MISSING
        pending = [i for i in ids if self.model.holds[i].state == "pending"]
        if pending and data.draw(st.integers(0, 3), label="pending hold") > 0:
            return data.draw(st.sampled_from(pending), label="hold")
        return data.draw(st.sampled_from(ids), label="hold")

    def draw_command(self, data: st.DataObject) -> Command:
        kind = data.draw(
            st.sampled_from(
                ["transfer", "transfer", "entry", "fx", "hold", "hold", "post", "post", "void"]
            ),
            label="kind",
        )
        pending = any(h.state == "pending" for h in self.model.holds.values())
        if kind in ("post", "void") and not pending and data.draw(st.integers(0, 3)) > 0:
            kind = "hold"  # mostly, first something to post or void
        if kind == "transfer":
            source, target = self.any_account(data), self.any_account(data)
            amount = self.amount(data, source, target, 3_000)
            return transfer(
                source,
                target,
                amount,
                "CNY",
                key=self.key(data),
                description=self.text(data),
                metadata=self.metadata(data),
            )
        if kind == "entry":
            return self.draw_entry(data)
        if kind == "fx":
            return self.draw_fx(data)
        if kind == "hold":
            expiry = data.draw(st.sampled_from([None, None, "soon", "soon", "now"]), label="expiry")
            now = self.clock.now()
            expires_at = {
                None: None,
                "now": now,
                "soon": now + timedelta(minutes=data.draw(st.integers(1, 120), label="ttl")),
            }[expiry]
            debit, credit = self.any_account(data), self.any_account(data)
            return CreateHold(
                debit,
                credit,
                self.amount(data, debit, credit, 2_500),
                "CNY",
                kind=data.draw(KINDS, label="hold kind"),
                key=self.key(data),
                expires_at=expires_at,
                description=self.text(data),
                metadata=self.metadata(data),
            )
        hold_id = self.any_hold(data)
        if kind == "void":
            return VoidHold(hold_id, key=self.key(data))
        hold = self.model.holds.get(hold_id)
        size = hold.amount if hold else 100
        # the room under the receiver's cap (which may have been lowered since the hold)
        room = hold.credit.cap - hold.credit.posted if hold and hold.credit.cap is not None else 0
        edges = [edge for edge in (room, room + 1) if 0 < edge <= size]
        amount = data.draw(
            st.one_of(
                st.none(),
                st.integers(1, size),
                st.integers(size + 1, size + 10),
                st.just(0),
                *([st.sampled_from(edges)] if edges else []),
            ),
            label="post amount",
        )
        return PostHold(
            hold_id,
            amount=amount,
            key=self.key(data),
            description=self.text(data),
            metadata=self.metadata(data),
        )

    def draw_entry(self, data: st.DataObject) -> PostEntry:
        debits = data.draw(st.lists(st.integers(1, 1_500), min_size=1, max_size=3), label="out")
        total = sum(debits)
        credits: list[int] = []
        parts = data.draw(st.integers(1, min(3, total)), label="parts")
        left = total
        for j in range(parts - 1):
            share = data.draw(st.integers(1, left - (parts - 1 - j)), label="share")
            credits.append(share)
            left -= share
        credits.append(left)
        legs = [Leg(self.cny_account(data), -amount, "CNY") for amount in debits]
        legs += [Leg(self.cny_account(data), amount, "CNY") for amount in credits]
        flaw = data.draw(
            st.sampled_from(
                [None] * 8
                + ["unbalanced", "zero", "one leg", "currency", "account", "huge", "bool"]
            ),
            label="flaw",
        )
        key = self.key(data)
        if flaw == "unbalanced":
            legs[-1] = dataclasses.replace(legs[-1], amount=legs[-1].amount + 1)
        elif flaw == "zero":
            legs[0] = dataclasses.replace(legs[0], amount=0)
        elif flaw == "one leg":
            legs = legs[:1]
        elif flaw == "account":
            legs[-1] = dataclasses.replace(legs[-1], account_id=self.any_account(data))
        elif flaw == "currency":
            legs[-1] = dataclasses.replace(legs[-1], currency="XXX")
        elif flaw == "huge":
            legs[0] = dataclasses.replace(legs[0], amount=-(MAX_AMOUNT + 1))
            legs[-1] = dataclasses.replace(legs[-1], amount=legs[-1].amount + MAX_AMOUNT + 1)
        elif flaw == "bool":
            # True == 1 to Python, but it is not an amount; kept unkeyed (the model compares
            # requests with ==, the engine by their JSON, where true != 1)
            legs = [Leg(self.user(data).id, -1, "CNY"), Leg(self.user(data).id, True, "CNY")]
            key = None
        legs = data.draw(st.permutations(legs), label="legs")
        return PostEntry(
            legs=tuple(legs),
            kind=data.draw(KINDS, label="entry kind"),
            key=key,
            description=f"flaw {flaw}: {self.text(data)}",
            metadata=self.metadata(data),
        )

    def draw_fx(self, data: st.DataObject) -> PostEntry:
        cny = data.draw(st.integers(1, 2_000), label="cny")
        usd = data.draw(st.integers(1, 300), label="usd")
        user, dave = self.user(data), self.named["dave"]
        fx_cny, fx_usd = self.named["fx_cny"], self.named["fx_usd"]
        if data.draw(st.booleans(), label="buy usd"):
            legs = (
                Leg(user.id, -cny, "CNY"),
                Leg(fx_cny.id, cny, "CNY"),
                Leg(fx_usd.id, -usd, "USD"),
                Leg(dave.id, usd, "USD"),
            )
        else:
            legs = (
                Leg(dave.id, -usd, "USD"),
                Leg(fx_usd.id, usd, "USD"),
                Leg(fx_cny.id, -cny, "CNY"),
                Leg(user.id, cny, "CNY"),
            )
        rate = data.draw(st.sampled_from(["7.10", "7.10", None]), label="rate")
        return PostEntry(
            legs=legs,
            kind="fx",
            exchange_rate=rate,
            key=self.key(data),
            description=self.text(data),
            metadata=self.metadata(data),
        )

    def retried(self, data: st.DataObject) -> Command:
        """A keyed request sent before: the same again, or another one under its key."""
        command = data.draw(st.sampled_from(self.sent_keyed), label="retried")
        if data.draw(st.booleans(), label="same request"):
            return command
        if isinstance(command, VoidHold):
            return dataclasses.replace(command, expired=not command.expired)
        return dataclasses.replace(command, description=f"not {command.description}")

    # -- rules --------------------------------------------------------------------------

    @rule(data=st.data())
    def one_command(self, data: st.DataObject) -> None:
        command = self.draw_command(data)
        path = data.draw(st.sampled_from(PATHS), label="path")
        self.run(self.submit([command], path))

    @rule(data=st.data())
    def batch(self, data: st.DataObject) -> None:
        size = data.draw(st.integers(2, 6), label="batch size")
        commands = [self.draw_command(data) for _ in range(size)]
        # repeats inside the batch: an earlier keyed command again, or a retry of an old one
        for _ in range(data.draw(st.integers(0, 2), label="repeats")):
            keyed = [c for c in commands if c.key is not None]
            choices = [*keyed, *(["old"] if self.sent_keyed else [])]
            if not choices:
                break
            pick = data.draw(st.sampled_from(choices), label="repeat")
            repeat = self.retried(data) if pick == "old" else pick
            position = data.draw(st.integers(0, len(commands)), label="position")
            commands.insert(position, repeat)
        self.run(self.submit(commands, "many"))

    @precondition(lambda self: bool(self.sent_keyed))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        command = self.retried(data)
        path = data.draw(st.sampled_from(PATHS), label="path")
        self.run(self.submit([command], path))

    @rule(
        data=st.data(),
        minutes=st.one_of(st.integers(1, 120), st.integers(121, 24 * 60), st.just("deadline")),
        expire=st.booleans(),
    )
    def time_passes(self, data: st.DataObject, minutes: int | str, expire: bool) -> None:
        """The clock moves on, by some minutes or exactly to the next hold's deadline (where
        the hold may be posted, too late); and maybe the expiry job runs."""
        if minutes == "deadline":
            now = self.clock.now()
            waiting = [
                h
                for h in self.model.holds.values()
                if h.state == "pending" and h.expires_at is not None and h.expires_at > now
            ]
            if not waiting:
                return
            hold = min(waiting, key=lambda h: h.expires_at or now)
            assert hold.expires_at is not None
            self.clock.set(hold.expires_at)
            if data.draw(st.booleans(), label="post at the deadline"):
                path = data.draw(st.sampled_from(PATHS), label="path")
                self.run(self.submit([PostHold(hold.id)], path))
        else:
            assert isinstance(minutes, int)
            self.clock.advance(timedelta(minutes=minutes))
        if not expire:
            return
        now = self.clock.now()
        due = self.model.due_holds(now)
        expired = self.run(self.ledger.expire_due_holds())
        assert expired == len(due)
        today = business_day(now)
        for hold in due:
            self.model.decide_void_hold(VoidHold(hold.id, expired=True), today)
        self.env.steps["expired"] += expired

    @rule(data=st.data())
    def history(self, data: st.DataObject) -> None:
        """A statement pages back through every posting of an account with the balance after
        each; the balance as of any past moment is what the model held then."""
        account = self.named[data.draw(st.sampled_from(sorted(self.named)), label="account")]
        page = data.draw(st.sampled_from([3, 10, 50]), label="page")
        moments = sorted(self.history)
        picked = data.draw(st.lists(st.sampled_from(moments), max_size=3), label="moments")
        self.run(self.check_history(account, page, picked))

    async def check_history(self, account: MAccount, page: int, moments: list[datetime]) -> None:
        async with self.env.db.connection() as conn:
            lines: list[StatementLine] = []
            before = None
            while chunk := await statement(conn, account.id, limit=page, before=before):
                assert len(chunk) <= page
                lines += chunk
                before = chunk[-1].posting_id
            cur = await conn.execute(
                "select count(*) as n from ledger_posting where account_id = %s", (account.id,)
            )
            row = await cur.fetchone()
            assert row is not None and len(lines) == row["n"]
            assert [x.posting_id for x in lines] == sorted(
                {x.posting_id for x in lines}, reverse=True
            )
            running = account.posted
            for line in lines:
                assert line.balance_after == running, (account.name, line)
                running -= line.amount
            assert running == 0
            start = min(self.history)
            assert await balance_as_of(conn, account.id, start - timedelta(seconds=1)) == 0
            for moment in moments:
                expected = self.history[moment][account.id]
                assert await balance_as_of(conn, account.id, moment) == expected, (
                    account.name,
                    moment,
                )

    @rule(data=st.data())
    def limits_change(self, data: st.DataObject) -> None:
        """A KYC tier change: a new cap for bob, new debit limits for carol, taking effect
        while holds are pending and today's outflow is counted."""
        bob, carol = self.named["bob"], self.named["carol"]
        if data.draw(st.booleans(), label="bob"):
            bob.cap = data.draw(
                st.one_of(
                    st.none(),
                    st.integers(0, 6_000),
                    st.sampled_from([bob.posted, bob.posted + bob.pending_in]),
                ),
                label="cap",
            )
            account = bob
        else:
            carol.single_limit = data.draw(st.none() | st.integers(1, 2_000), label="single")
            carol.daily_limit = data.draw(st.none() | st.integers(1, 5_000), label="daily")
            account = carol
        self.run(
            self.env.db.transaction(
                lambda conn: set_limits(
                    conn,
                    account.id,
                    cap=account.cap,
                    single_debit_limit=account.single_limit,
                    daily_debit_limit=account.daily_limit,
                )
            )
        )


@pytest.mark.timeout(900)  # room for hypothesis to shrink a failure (it stops after 5 min)
def test_ledger_matches_its_model(env: Env) -> None:
    LedgerMachine.env = env
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    # the programs did reach every path and the main kinds of answer
    assert env.steps["execute"] and env.steps["submit"] and env.steps["many"], env.steps
    for answer in ("accept", "InsufficientFunds", "replay_of", "replay_stored"):
        assert env.outcomes[answer], env.outcomes


# ---------------------------------------------------------------------------------------
# Regressions, as plain examples: each of these was a bug.


def test_a_negative_transfer_is_refused_not_reversed() -> None:
    # transfer(a, b, -100) used to build legs (+100 a, -100 b): money taken from b
    with pytest.raises(InvalidAmount):
        transfer(1, 2, -100, "CNY")
    for amount in (0, True, 1.5, "100", MAX_AMOUNT + 1):
        with pytest.raises(InvalidAmount):
            transfer(1, 2, amount, "CNY")  # type: ignore[arg-type]


async def new_account(db: Database, currency: str = "CNY", **options: Any) -> int:
    code = f"prop:{uuid.uuid4().hex}"
    info = await db.transaction(
        lambda conn: open_account(conn, code, AccountKind.TEST, currency, **options)
    )
    return info.id


async def test_bad_input_is_refused_without_failing_its_batch(
    db: Database, clock: ManualClock
) -> None:
    ledger = Ledger(db, clock)
    bank, a, b = await new_account(db, floor=None), await new_account(db), await new_account(db)
    naive = datetime(2030, 1, 1)  # no time zone
    outcomes = await ledger.execute_many(
        [
            transfer(bank, a, 1_000, "CNY"),
            # a bool is an int to Python; it used to reach the database and fail the batch
            PostEntry(legs=(Leg(a, -1, "CNY"), Leg(b, True, "CNY"))),  # type: ignore[arg-type]
            # a naive deadline used to raise TypeError and fail the batch
            CreateHold(a, b, 10, "CNY", expires_at=naive),
            transfer(a, b, 100, "CNY"),
        ]
    )
    assert [type(o.error) for o in outcomes] == [
        type(None),
        InvalidAmount,
        InvalidRequest,
        type(None),
    ]
    async with db.connection() as conn:
        found = await balances(conn, [a, b])
    assert (found[a].posted, found[b].posted) == (900, 100)
    await ledger.close()


async def test_a_retry_behind_a_conflicting_request_in_one_batch_replays(
    db: Database, clock: ManualClock
) -> None:
    ledger = Ledger(db, clock)
    bank, a = await new_account(db, floor=None), await new_account(db)
    key = f"k-{uuid.uuid4()}"
    first = await ledger.execute(transfer(bank, a, 100, "CNY", key=key))
    outcomes = await ledger.execute_many(
        [
            transfer(bank, a, 200, "CNY", key=key),  # another request under the key
            transfer(bank, a, 100, "CNY", key=key),  # the original, retried
            transfer(bank, a, 100, "CNY", key=key),
        ]
    )
    assert isinstance(outcomes[0].error, IdempotencyConflict)
    # used to be refused as a conflict too, because it differed from the batch's first use
    assert [(o.result, o.replayed) for o in outcomes[1:]] == [(first, True), (first, True)]
    async with db.connection() as conn:
        assert (await balances(conn, [a]))[a].posted == 100
    await ledger.close()


async def test_posting_a_hold_keeps_its_description_and_metadata(
    db: Database, clock: ManualClock
) -> None:
    ledger = Ledger(db, clock)
    bank, a, b = await new_account(db, floor=None), await new_account(db), await new_account(db)
    await ledger.execute(transfer(bank, a, 1_000, "CNY"))
    hold = await ledger.execute(
        CreateHold(
            a, b, 500, "CNY", kind="payment", description="order 42", metadata={"trade": "T42"}
        )
    )
    # the engine used to lock the hold without its description and metadata, so the entry
    # of its capture lost the order it belonged to
    posted = await ledger.execute(PostHold(hold["hold_id"], amount=300, metadata={"cap": 1}))
    async with db.connection() as conn:
        written = await entry(conn, posted["entry_id"])
    assert (written["kind"], written["description"]) == ("payment", "order 42")
    assert written["metadata"] == {"trade": "T42", "cap": 1, "hold_id": hold["hold_id"]}
    await ledger.close()
