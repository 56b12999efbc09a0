"""The ledger engine: the only code that writes money.

`apply(conn, commands, now)` applies a list of commands inside the caller's transaction:

1. claim the idempotency keys (replaying stored results, refusing reused keys);
2. lock the balance rows it will touch, in one statement, in (account, shard) order;
3. decide every command in order against the running balances held in memory, so one
   refusal (an overdraft, a limit) never fails or corrupts the others;
4. write everything set-based: entries, postings, holds, balance deltas netted per row.

One command or a thousand cost the same handful of round trips, which is how concurrent
requests are batched (see batcher.py) and how a hot account is one row update per batch.
A hot, mostly credited account also has several balance shards: a credit locks one shard
chosen at random, a debit locks them all and checks their sum, so concurrent payers of
one merchant do not queue on one row lock.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, cast

from psycopg import AsyncCursor
from psycopg.types.json import Jsonb

from zhifu.clock import business_day
from zhifu.db import idempotency
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
    SandboxMismatch,
    ZhifuError,
)
from zhifu.ledger.accounts import AccountInfo, load_accounts
from zhifu.ledger.commands import (
    Command,
    CreateHold,
    Leg,
    Outcome,
    PostEntry,
    PostHold,
    VoidHold,
    fingerprint,
)
from zhifu.metrics import LEDGER_COMMANDS
from zhifu.money import MAX_AMOUNT, check_currency


@dataclass(slots=True)
class _Shard:
    posted: int
    pending_out: int
    pending_in: int
    d_posted: int = 0
    d_pending_out: int = 0
    d_pending_in: int = 0


@dataclass(slots=True)
class _Account:
    """An account's locked balance rows and its limits, as the batch moves it."""

    info: AccountInfo
    floor: int | None
    cap: int | None
    single_debit_limit: int | None
    daily_debit_limit: int | None
    debit_day: date | None
    debit_day_total: int
    shards: dict[int, _Shard] = field(default_factory=dict)
    day_changed: bool = False

    @property
    def posted(self) -> int:
        return sum(s.posted + s.d_posted for s in self.shards.values())

    @property
    def pending_out(self) -> int:
        return sum(s.pending_out + s.d_pending_out for s in self.shards.values())

    @property
    def pending_in(self) -> int:
        return sum(s.pending_in + s.d_pending_in for s in self.shards.values())

    def credit_shard(self) -> int:
        return next(iter(self.shards))

    def outflow_today(self, today: date) -> int:
        return self.debit_day_total if self.debit_day == today else 0

    def check_debit(self, amount: int, today: date, *, reserve: bool = True) -> None:
        if self.floor is not None and self.posted - self.pending_out - amount < self.floor:
            raise InsufficientFunds(
                "insufficient funds", account_id=self.info.id, available=self.available()
            )
        if self.single_debit_limit is not None and amount > self.single_debit_limit:
            raise LimitExceeded(
                "amount exceeds the single-payment limit", limit=self.single_debit_limit
            )
        if (
            self.daily_debit_limit is not None
            and self.outflow_today(today) + amount > self.daily_debit_limit
        ):
            raise LimitExceeded(
                "amount exceeds the daily outflow limit",
                limit=self.daily_debit_limit,
                used_today=self.outflow_today(today),
            )

    def check_credit(self, amount: int) -> None:
        if self.cap is not None and self.posted + self.pending_in + amount > self.cap:
            raise BalanceCapExceeded(
                "the balance would exceed its cap", account_id=self.info.id, cap=self.cap
            )

    def available(self) -> int:
        return self.posted - self.pending_out

    def count_outflow(self, amount: int, today: date) -> None:
        if self.debit_day != today:
            self.debit_day, self.debit_day_total = today, 0
        self.debit_day_total = max(0, self.debit_day_total + amount)
        self.day_changed = True


@dataclass(slots=True)
class _Hold:
    id: int
    kind: str
    debit_account_id: int
    credit_account_id: int
    credit_shard: int
    currency: str
    amount: int
    posted_amount: int
    state: str
    expires_at: datetime | None
    created_at: datetime
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    entry_id: int | None = None
    closed_at: datetime | None = None
    is_new: bool = False
    changed: bool = False


@dataclass(slots=True)
class _NewEntry:
    kind: str
    description: str
    metadata: dict[str, Any]
    exchange_rate: str | None
    postings: list[tuple[int, str, int]]  # (account_id, currency, amount)
    id: int = 0


class _Batch:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.today = business_day(now)
        self.accounts: dict[int, _Account] = {}
        self.holds: dict[int, _Hold] = {}
        self.entries: list[_NewEntry] = []
        self.new_holds: list[_Hold] = []


async def apply(
    conn: Conn,
    commands: Sequence[Command],
    now: datetime,
    *,
    on_locked: Callable[[], None] | None = None,
) -> list[Outcome]:
    """Apply `commands` in order inside the caller's transaction; one Outcome each.

    `on_locked` is called once every row the batch needs is locked: from then on, a
    transaction touching the same accounts waits for this one to commit (the batcher
    starts its next batch then, so batches overlap yet keep their arrival order).
    """
    outcomes: list[Outcome | None] = [None] * len(commands)
    batch = _Batch(now)
    keys = _read_keys(commands, outcomes)
    # Pipeline mode: statements whose results are not needed yet go out together, so a
    # batch costs two round trips between BEGIN and COMMIT: claim the keys and lock the
    # rows; write everything.
    async with conn.pipeline():
        plan_mode = await _generic_plans(conn)
        claim = await _queue_claim(conn, keys, commands)
        await _lock_holds(conn, commands, outcomes, batch)
        infos = await load_accounts(conn, _account_ids(commands, batch))
        await _lock_balances(conn, commands, outcomes, infos, batch)
        if on_locked is not None:
            on_locked()
        mode = await plan_mode.fetchone()
        claimed = await claim.fetchone()
        assert mode is not None and claimed is not None
        replay_of = await _resolve_keys(conn, keys, set(claimed["claimed"]), outcomes)

        pending: list[tuple[int, Any]] = []  # (command index, deferred result builder)
        for i, command in enumerate(commands):
            if outcomes[i] is not None or i in replay_of:
                continue
            try:
                pending.append((i, _decide(command, infos, batch)))
            except ZhifuError as error:
                outcomes[i] = Outcome(error=error)

        _assign_ids(claimed, batch)
        results = {i: build() for i, build in pending}
        for i, result in results.items():
            outcomes[i] = Outcome(result=result)
        for i, first in replay_of.items():
            outcomes[i] = _replay(outcomes[first])
        await _write(conn, batch, _settled_keys(commands, outcomes, replay_of), mode["mode"])
    final = [o if o is not None else Outcome(error=ZhifuError("not applied")) for o in outcomes]
    _count(commands, final)
    return final


def _count(commands: Sequence[Command], outcomes: list[Outcome]) -> None:
    """Ledger commands decided, by type and outcome (accepted, replayed or the error code)."""
    tally: Counter[tuple[str, str]] = Counter()
    for command, outcome in zip(commands, outcomes, strict=True):
        verdict = "replayed" if outcome.replayed else "accepted"
        if outcome.error is not None:
            verdict = outcome.error.code
        tally[(type(command).__name__, verdict)] += 1
    for (name, verdict), count in tally.items():
        LEDGER_COMMANDS.labels(command=name, outcome=verdict).inc(count)


async def _generic_plans(conn: Conn) -> AsyncCursor[Any]:
    """Queue the switch to generic plans for the rest of the transaction (`_write` restores
    the caller's mode, which this statement returns).

    The engine's statements take arrays, so PostgreSQL would plan them afresh on every
    execution (a custom plan for an array of two looks cheaper than the generic one), and
    that planning cost more server time than the execution. The generic plans are index
    nested loops, right for any batch size.
    """
    return await conn.execute(
        """
        with old as materialized (select current_setting('plan_cache_mode') as mode)
        select mode, set_config('plan_cache_mode', 'force_generic_plan', true) from old
        """
    )


def _replay(first: Outcome | None) -> Outcome:
    assert first is not None
    return Outcome(result=first.result, error=first.error, replayed=True)


@dataclass(slots=True)
class _Keys:
    hashes: dict[str, str]  # first occurrence of each key -> its request hash
    keyed: dict[int, tuple[str, str]]  # command index -> (key, request hash)
    replay_of: dict[int, int]  # in-batch repeat -> index of the first occurrence


def _read_keys(commands: Sequence[Command], outcomes: list[Outcome | None]) -> _Keys:
    """Hash each keyed request; refuse in-batch reuses of a key for another request."""
    keys = _Keys(hashes={}, keyed={}, replay_of={})
    first_index: dict[str, int] = {}
    for i, command in enumerate(commands):
        if command.key is None:
            continue
        digest = _request_hash(command)
        keys.keyed[i] = (command.key, digest)
        if command.key in first_index:
            if keys.hashes[command.key] != digest:
                outcomes[i] = Outcome(error=idempotency.reused(command.key))
            else:
                keys.replay_of[i] = first_index[command.key]
            continue
        first_index[command.key] = i
        keys.hashes[command.key] = digest
    return keys


async def _queue_claim(conn: Conn, keys: _Keys, commands: Sequence[Command]) -> AsyncCursor[Any]:
    """Queue the claim of the keys (see zhifu.db.idempotency, whose protocol this is: a key
    is inserted in sorted order, a concurrent claim of it waits for our commit or rollback)
    together with the draw of the ids of the entries and holds the batch may create.

    One id is drawn per command that may create an entry or a hold: a refused command
    leaves a gap in the sequence, as a rolled-back transaction does.
    """
    sorted_keys = sorted(keys.hashes)
    return await conn.execute(
        f"""
        with claimed as ({idempotency.CLAIM})
        select array(select key from claimed) as claimed,
               array(select nextval('ledger_entry_id_seq') from generate_series(1, %(entries)s))
                 as entry_ids,
               array(select nextval('ledger_hold_id_seq') from generate_series(1, %(holds)s))
                 as hold_ids
        """,
        {
            "keys": _texts(sorted_keys),
            "hashes": _texts(keys.hashes[k] for k in sorted_keys),
            "entries": sum(1 for c in commands if isinstance(c, PostEntry | PostHold)),
            "holds": sum(1 for c in commands if isinstance(c, CreateHold)),
        },
    )


async def _resolve_keys(
    conn: Conn, keys: _Keys, claimed: set[str], outcomes: list[Outcome | None]
) -> dict[int, int]:
    """Fill the outcomes of keys stored before; return in-batch repeats -> first index."""
    taken = [k for k in keys.hashes if k not in claimed]
    if not taken:
        return keys.replay_of
    stored = await idempotency.stored(conn, taken)
    replay_of = keys.replay_of
    # A key stored before this batch answers each of its occurrences in the batch against
    # the stored request, not against the first occurrence: a true retry replays even when
    # a request reusing its key came earlier in the same batch.
    for i, (key, digest) in keys.keyed.items():
        previous = stored.get(key)
        if previous is None:
            continue
        replay_of.pop(i, None)
        if previous.request_hash != digest:
            outcomes[i] = Outcome(error=idempotency.reused(key))
        else:
            outcomes[i] = Outcome(result=previous.result, replayed=True)
    return replay_of


_PLAIN = (str, int, float, bool, type(None))
_ENTRY_FIELDS = tuple(f.name for f in fields(PostEntry) if f.name not in ("key", "legs"))


def _plain_entry_fingerprint(command: PostEntry) -> dict[str, Any] | None:
    """`fingerprint(command)` for an entry of plain values, without the deep copy that
    `dataclasses.asdict` makes (the most expensive step of a batched transfer); None when
    the entry holds anything else, for which the general `fingerprint` is used."""
    if type(command.metadata) is not dict or type(command.legs) is not tuple:
        return None
    body: dict[str, Any] = {name: getattr(command, name) for name in _ENTRY_FIELDS}
    if not all(type(v) in _PLAIN for k, v in body.items() if k != "metadata"):
        return None
    if not all(type(k) is str and type(v) in _PLAIN for k, v in command.metadata.items()):
        return None
    legs = []
    for leg in command.legs:
        if type(leg) is not Leg:
            return None
        values = (leg.account_id, leg.amount, leg.currency)
        if not all(type(v) in _PLAIN for v in values):
            return None
        legs.append(dict(zip(_LEG_FIELDS, values, strict=True)))
    body["legs"] = legs
    body["type"] = "PostEntry"
    return body


_LEG_FIELDS = tuple(f.name for f in fields(Leg))
_SAMPLE = PostEntry(legs=(Leg(1, -2, "CNY"), Leg(3, 2, "CNY")), key="k", metadata={"a": 1})
# Used only while it agrees with `fingerprint` (a field added to the commands must not
# change what a stored idempotency key matches).
_FAST_FINGERPRINT = idempotency.request_hash(
    _plain_entry_fingerprint(_SAMPLE)
) == idempotency.request_hash(fingerprint(_SAMPLE)) and _LEG_FIELDS == (
    "account_id",
    "amount",
    "currency",
)


def _request_hash(command: Command) -> str:
    body = (
        _plain_entry_fingerprint(command)
        if _FAST_FINGERPRINT and type(command) is PostEntry
        else None
    )
    return idempotency.request_hash(fingerprint(command) if body is None else body)


async def _lock_holds(
    conn: Conn, commands: Sequence[Command], outcomes: list[Outcome | None], batch: _Batch
) -> None:
    ids = sorted(
        {c.hold_id for i, c in enumerate(commands) if isinstance(c, PostHold | VoidHold)} - {0}
    )
    if not ids:
        return
    cur = await conn.execute(
        """
        select id, kind, debit_account_id, credit_account_id, credit_shard, currency, amount,
               posted_amount, state, expires_at, created_at, description, metadata
        from ledger_hold where id = any(%s) order by id for update
        """,
        (ids,),
    )
    for row in await cur.fetchall():
        batch.holds[row["id"]] = _Hold(**row)


def _account_ids(commands: Sequence[Command], batch: _Batch) -> set[int]:
    ids: set[int] = set()
    for command in commands:
        if isinstance(command, PostEntry):
            ids.update(leg.account_id for leg in command.legs)
        elif isinstance(command, CreateHold):
            ids.update((command.debit_account_id, command.credit_account_id))
    for hold in batch.holds.values():
        ids.update((hold.debit_account_id, hold.credit_account_id))
    return ids


def _debited_accounts(commands: Sequence[Command], batch: _Batch) -> set[int]:
    """Accounts whose every shard must be locked: those money may leave."""
    debited: set[int] = set()
    for command in commands:
        if isinstance(command, PostEntry):
            debited.update(leg.account_id for leg in command.legs if leg.amount < 0)
        elif isinstance(command, CreateHold):
            debited.add(command.debit_account_id)
    debited.update(hold.debit_account_id for hold in batch.holds.values())
    return debited


async def _lock_balances(
    conn: Conn,
    commands: Sequence[Command],
    outcomes: list[Outcome | None],
    infos: dict[int, AccountInfo],
    batch: _Batch,
) -> None:
    debited = _debited_accounts(commands, batch)
    wanted: list[tuple[int, int]] = []
    for account_id, info in infos.items():
        if info.shards == 1 or account_id in debited:
            wanted.extend((account_id, shard) for shard in range(info.shards))
        else:
            wanted.append((account_id, random.randrange(info.shards)))
    # Hold credits land on the shard the hold reserved.
    for hold in batch.holds.values():
        if hold.credit_account_id in infos:
            wanted.append((hold.credit_account_id, hold.credit_shard))
    wanted = sorted(set(wanted))
    if not wanted:
        return
    cur = await conn.execute(
        """
        select b.account_id, b.shard, b.posted, b.pending_out, b.pending_in,
               b.debit_day, b.debit_day_total,
               a.floor, a.cap, a.single_debit_limit, a.daily_debit_limit
        from ledger_balance b
        join ledger_account a on a.id = b.account_id
        join unnest(%s::bigint[], %s::int[]) as w(account_id, shard)
          on w.account_id = b.account_id and w.shard = b.shard
        order by b.account_id, b.shard
        for update of b
        """,
        (_ints(a for a, _ in wanted), _ints(s for _, s in wanted)),
    )
    for row in await cur.fetchall():
        account = batch.accounts.get(row["account_id"])
        if account is None:
            account = batch.accounts[row["account_id"]] = _Account(
                info=infos[row["account_id"]],
                floor=row["floor"],
                cap=row["cap"],
                single_debit_limit=row["single_debit_limit"],
                daily_debit_limit=row["daily_debit_limit"],
                debit_day=None,
                debit_day_total=0,
            )
        if row["shard"] == 0:
            account.debit_day, account.debit_day_total = row["debit_day"], row["debit_day_total"]
        account.shards[row["shard"]] = _Shard(row["posted"], row["pending_out"], row["pending_in"])


def _decide(command: Command, infos: dict[int, AccountInfo], batch: _Batch) -> Any:
    """Accept `command` against the running balances (or raise); return a result builder."""
    if isinstance(command, PostEntry):
        return _decide_entry(command, infos, batch)
    if isinstance(command, CreateHold):
        return _decide_create_hold(command, infos, batch)
    if isinstance(command, PostHold):
        return _decide_post_hold(command, batch)
    return _decide_void_hold(command, batch)


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise InvalidAmount("amount must be a positive integer of minor units", amount=str(amount))


def _account(
    account_id: int, currency: str, infos: dict[int, AccountInfo], batch: _Batch
) -> _Account:
    account = batch.accounts.get(account_id)
    if account is None:
        raise NotFound("no such ledger account", account_id=account_id)
    if account.info.currency != currency:
        raise CurrencyMismatch(
            f"the account holds {account.info.currency}, not {currency}", account_id=account_id
        )
    return account


def _check_one_book(accounts: list[_Account]) -> None:
    books = {account.info.book for account in accounts}
    if len(books) > 1:
        raise SandboxMismatch(
            "live and sandbox money never mix: these accounts are in different books"
        )


def _decide_entry(command: PostEntry, infos: dict[int, AccountInfo], batch: _Batch) -> Any:
    if len(command.legs) < 2:
        raise InvalidRequest("an entry needs at least two legs")
    nets: dict[int, int] = {}
    totals: dict[str, int] = {}
    for leg in command.legs:
        check_currency(leg.currency)
        # a leg is signed, so check its size; but a bool or a string is no amount at all
        _check_amount(abs(leg.amount) if type(leg.amount) is int else leg.amount)
        _account(leg.account_id, leg.currency, infos, batch)
        nets[leg.account_id] = nets.get(leg.account_id, 0) + leg.amount
        totals[leg.currency] = totals.get(leg.currency, 0) + leg.amount
    if any(totals.values()):
        raise InvalidRequest("the legs of an entry must sum to zero in each currency")
    _check_one_book([batch.accounts[account_id] for account_id in nets])
    if len(totals) > 1 and not command.exchange_rate:
        raise CurrencyMismatch("a movement across currencies needs an explicit exchange rate")
    for account_id, net in nets.items():
        if net < 0:
            batch.accounts[account_id].check_debit(-net, batch.today)
        elif net > 0:
            batch.accounts[account_id].check_credit(net)
    for account_id, net in nets.items():
        account = batch.accounts[account_id]
        if net < 0:
            account.shards[0].d_posted += net
            account.count_outflow(-net, batch.today)
        elif net > 0:
            account.shards[account.credit_shard()].d_posted += net
    entry = _NewEntry(
        kind=command.kind,
        description=command.description,
        metadata=dict(command.metadata),
        exchange_rate=command.exchange_rate,
        postings=[(leg.account_id, leg.currency, leg.amount) for leg in command.legs],
    )
    batch.entries.append(entry)
    return lambda: {"entry_id": entry.id}


def _decide_create_hold(command: CreateHold, infos: dict[int, AccountInfo], batch: _Batch) -> Any:
    check_currency(command.currency)
    _check_amount(command.amount)
    if command.debit_account_id == command.credit_account_id:
        raise InvalidRequest("a hold needs two different accounts")
    if command.expires_at is not None and (
        not isinstance(command.expires_at, datetime) or command.expires_at.utcoffset() is None
    ):
        raise InvalidRequest("a hold's expiry must be a datetime with a time zone")
    if command.expires_at is not None and command.expires_at <= batch.now:
        raise InvalidRequest("a hold cannot expire in the past")
    debit = _account(command.debit_account_id, command.currency, infos, batch)
    credit = _account(command.credit_account_id, command.currency, infos, batch)
    _check_one_book([debit, credit])
    debit.check_debit(command.amount, batch.today)
    credit.check_credit(command.amount)
    shard = credit.credit_shard()
    debit.shards[0].d_pending_out += command.amount
    debit.count_outflow(command.amount, batch.today)
    credit.shards[shard].d_pending_in += command.amount
    hold = _Hold(
        id=0,
        kind=command.kind,
        debit_account_id=command.debit_account_id,
        credit_account_id=command.credit_account_id,
        credit_shard=shard,
        currency=command.currency,
        amount=command.amount,
        posted_amount=0,
        state="pending",
        expires_at=command.expires_at,
        created_at=batch.now,
        description=command.description,
        metadata=dict(command.metadata),
        is_new=True,
    )
    batch.new_holds.append(hold)
    return lambda: {"hold_id": hold.id, "state": "pending"}


def _pending_hold(hold_id: int, batch: _Batch) -> _Hold:
    hold = batch.holds.get(hold_id)
    if hold is None:
        raise NotFound(f"hold {hold_id} does not exist", hold_id=hold_id)
    if hold.state != "pending":
        raise InvalidStateTransition(
            f"hold {hold_id} is {hold.state}, not pending", hold_id=hold_id, state=hold.state
        )
    if hold.expires_at is not None and hold.expires_at <= batch.now:
        raise HoldExpired(f"hold {hold_id} expired at {hold.expires_at.isoformat()}")
    return hold


def _release(hold: _Hold, batch: _Batch) -> tuple[_Account, _Account]:
    debit = batch.accounts[hold.debit_account_id]
    credit = batch.accounts[hold.credit_account_id]
    debit.shards[0].d_pending_out -= hold.amount
    credit.shards[hold.credit_shard].d_pending_in -= hold.amount
    return debit, credit


def _decide_post_hold(command: PostHold, batch: _Batch) -> Any:
    hold = _pending_hold(command.hold_id, batch)
    amount = hold.amount if command.amount is None else command.amount
    _check_amount(amount)
    if amount > hold.amount:
        raise InvalidAmount(
            "cannot post more than the hold reserved", amount=amount, reserved=hold.amount
        )
    credit = batch.accounts[hold.credit_account_id]
    if credit.cap is not None and credit.posted + amount > credit.cap:
        raise BalanceCapExceeded("the balance would exceed its cap", cap=credit.cap)
    debit, credit = _release(hold, batch)
    debit.shards[0].d_posted -= amount
    credit.shards[hold.credit_shard].d_posted += amount
    if amount < hold.amount and business_day(hold.created_at) == batch.today:
        debit.count_outflow(-(hold.amount - amount), batch.today)
    entry = _NewEntry(
        kind=hold.kind,
        description=command.description or hold.description,
        metadata={**hold.metadata, **command.metadata, "hold_id": hold.id},
        exchange_rate=None,
        postings=[
            (hold.debit_account_id, hold.currency, -amount),
            (hold.credit_account_id, hold.currency, amount),
        ],
    )
    batch.entries.append(entry)
    hold.state, hold.posted_amount, hold.closed_at, hold.changed = (
        "posted",
        amount,
        batch.now,
        True,
    )

    def result() -> dict[str, Any]:
        hold.entry_id = entry.id
        return {"hold_id": hold.id, "entry_id": entry.id, "posted_amount": amount}

    return result


def _decide_void_hold(command: VoidHold, batch: _Batch) -> Any:
    hold = batch.holds.get(command.hold_id)
    if hold is None:
        raise NotFound(f"hold {command.hold_id} does not exist", hold_id=command.hold_id)
    if hold.state != "pending":
        raise InvalidStateTransition(
            f"hold {hold.id} is {hold.state}, not pending", hold_id=hold.id, state=hold.state
        )
    debit, _ = _release(hold, batch)
    if business_day(hold.created_at) == batch.today:
        debit.count_outflow(-hold.amount, batch.today)
    state = "expired" if command.expired else "voided"
    hold.state, hold.closed_at, hold.changed = state, batch.now, True
    return lambda: {"hold_id": hold.id, "state": state}


def _assign_ids(ids: dict[str, Any], batch: _Batch) -> None:
    for entry, entry_id in zip(batch.entries, ids["entry_ids"], strict=False):
        entry.id = entry_id
    for hold, hold_id in zip(batch.new_holds, ids["hold_ids"], strict=False):
        hold.id = hold_id
    if len(batch.entries) > len(ids["entry_ids"]) or len(batch.new_holds) > len(ids["hold_ids"]):
        raise AssertionError("more entries or holds than commands that create them")


async def _write(
    conn: Conn, batch: _Batch, settled: tuple[dict[str, Any], list[str]], plan_mode: str
) -> None:
    """Queue the whole of the batch's writes as one statement: entries, postings, holds,
    balance deltas, the results of its idempotency keys; and restore the plan mode.

    The postings' checks (balanced per entry, foreign keys) run at the end of the
    statement, when its entries exist.
    """
    parts: list[str] = []
    params: dict[str, Any] = {"now": batch.now, "plan_mode": plan_mode}
    if batch.entries:
        entries = batch.entries
        parts.append(
            """
            entries as (
                insert into ledger_entry (id, kind, description, exchange_rate, metadata,
                                          created_at)
                select id, kind, description, rate, metadata, %(now)s
                from unnest(%(e_id)s::bigint[], %(e_kind)s::text[], %(e_desc)s::text[],
                            %(e_rate)s::text[], %(e_meta)s::jsonb[])
                  as e(id, kind, description, rate, metadata)
            ),
            postings as (
                insert into ledger_posting (entry_id, account_id, currency, amount, created_at)
                select entry_id, account_id, currency, amount, %(now)s
                from unnest(%(p_entry)s::bigint[], %(p_account)s::bigint[],
                            %(p_currency)s::text[], %(p_amount)s::bigint[])
                  as p(entry_id, account_id, currency, amount)
            )
            """
        )
        postings = [(e.id, *p) for e in entries for p in e.postings]
        params.update(
            e_id=_ints(e.id for e in entries),
            e_kind=_texts(e.kind for e in entries),
            e_desc=_texts(e.description for e in entries),
            e_rate=_texts(e.exchange_rate for e in entries),
            e_meta=_texts(_json(e.metadata) for e in entries),
            p_entry=_ints(p[0] for p in postings),
            p_account=_ints(p[1] for p in postings),
            p_currency=_texts(p[2] for p in postings),
            p_amount=_ints(p[3] for p in postings),
        )
    _write_holds(batch, parts, params)
    rows = _balance_deltas(batch)
    if rows:
        parts.append(
            """
            balances as (
                update ledger_balance b
                set posted = b.posted + d.posted,
                    pending_out = b.pending_out + d.pending_out,
                    pending_in = b.pending_in + d.pending_in,
                    debit_day = coalesce(d.debit_day, b.debit_day),
                    debit_day_total = coalesce(d.debit_day_total, b.debit_day_total)
                from unnest(%(b_account)s::bigint[], %(b_shard)s::int[], %(b_posted)s::bigint[],
                            %(b_out)s::bigint[], %(b_in)s::bigint[], %(b_day)s::date[],
                            %(b_day_total)s::bigint[])
                  as d(account_id, shard, posted, pending_out, pending_in, debit_day,
                       debit_day_total)
                where b.account_id = d.account_id and b.shard = d.shard
            )
            """
        )
        params.update(
            b_account=_ints(r[0] for r in rows),
            b_shard=_ints(r[1] for r in rows),
            b_posted=_ints(r[2] for r in rows),
            b_out=_ints(r[3] for r in rows),
            b_in=_ints(r[4] for r in rows),
            b_day=_texts(None if r[5] is None else r[5].isoformat() for r in rows),
            b_day_total=_ints(r[6] for r in rows),
        )
    done, released = settled
    if done:
        # The keys' results, stored in the transaction that did the work (idempotency.py).
        parts.append(f"done as ({idempotency.COMPLETE})")
        params.update(done=_texts(done), results=_texts(json.dumps(r) for r in done.values()))
    if released:
        parts.append(f"released as ({idempotency.RELEASE})")
        params.update(released=_texts(released))
    with_parts = "with " + ",".join(parts) if parts else ""
    await conn.execute(
        with_parts + " select set_config('plan_cache_mode', %(plan_mode)s, true)", params
    )


def _ints(values: Iterable[int | None]) -> str:
    """An array literal of integers: much cheaper to send than a list psycopg adapts."""
    items = list(values)
    if None in items:
        return "{" + ",".join("NULL" if v is None else str(int(v)) for v in items) + "}"
    return "{" + ",".join(map(str, map(int, cast("list[int]", items)))) + "}"


def _texts(values: Iterable[str | None]) -> str:
    """An array literal of strings, each quoted (a backslash escapes `"` and itself)."""
    items = list(values)
    if not items:
        return "{}"
    if None not in items:
        joined = '","'.join(cast("list[str]", items))
        # no quote or backslash inside any string: nothing to escape
        if "\\" not in joined and joined.count('"') == 2 * (len(items) - 1):
            return '{"' + joined + '"}'
    return (
        "{"
        + ",".join(
            "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            for v in items
        )
        + "}"
    )


def _json(value: Any) -> str:
    return "{}" if type(value) is dict and not value else json.dumps(value)


def _write_holds(batch: _Batch, parts: list[str], params: dict[str, Any]) -> None:
    new = batch.new_holds
    if new:
        parts.append(
            """
            new_holds as (
                insert into ledger_hold (id, kind, debit_account_id, credit_account_id,
                    credit_shard, currency, amount, state, description, metadata, expires_at,
                    created_at)
                select id, kind, debit, credit, shard, currency, amount, 'pending',
                       description, metadata, expires_at, %(now)s
                from unnest(%(h_id)s::bigint[], %(h_kind)s::text[], %(h_debit)s::bigint[],
                            %(h_credit)s::bigint[], %(h_shard)s::int[], %(h_currency)s::text[],
                            %(h_amount)s::bigint[], %(h_desc)s::text[], %(h_meta)s::jsonb[],
                            %(h_expires)s::timestamptz[])
                  as h(id, kind, debit, credit, shard, currency, amount, description, metadata,
                       expires_at)
            )
            """
        )
        params.update(
            h_id=[h.id for h in new],
            h_kind=[h.kind for h in new],
            h_debit=[h.debit_account_id for h in new],
            h_credit=[h.credit_account_id for h in new],
            h_shard=[h.credit_shard for h in new],
            h_currency=[h.currency for h in new],
            h_amount=[h.amount for h in new],
            h_desc=[h.description for h in new],
            h_meta=[Jsonb(h.metadata) for h in new],
            h_expires=[h.expires_at for h in new],
        )
    changed = [h for h in batch.holds.values() if h.changed]
    if changed:
        parts.append(
            """
            changed_holds as (
                update ledger_hold h
                set state = c.state, posted_amount = c.posted_amount, entry_id = c.entry_id,
                    closed_at = c.closed_at
                from unnest(%(c_id)s::bigint[], %(c_state)s::text[], %(c_posted)s::bigint[],
                            %(c_entry)s::bigint[], %(c_closed)s::timestamptz[])
                  as c(id, state, posted_amount, entry_id, closed_at)
                where h.id = c.id
            )
            """
        )
        params.update(
            c_id=[h.id for h in changed],
            c_state=[h.state for h in changed],
            c_posted=[h.posted_amount for h in changed],
            c_entry=[h.entry_id for h in changed],
            c_closed=[h.closed_at for h in changed],
        )


def _balance_deltas(
    batch: _Batch,
) -> list[tuple[int, int, int, int, int, date | None, int | None]]:
    """One row per balance shard the batch changed: its deltas, netted over the batch."""
    rows: list[tuple[int, int, int, int, int, date | None, int | None]] = []
    for account_id, account in batch.accounts.items():
        for shard_no, shard in account.shards.items():
            day_changed = shard_no == 0 and account.day_changed
            if not (shard.d_posted or shard.d_pending_out or shard.d_pending_in or day_changed):
                continue
            rows.append(
                (
                    account_id,
                    shard_no,
                    shard.d_posted,
                    shard.d_pending_out,
                    shard.d_pending_in,
                    account.debit_day if day_changed else None,
                    account.debit_day_total if day_changed else None,
                )
            )
    return rows


def _settled_keys(
    commands: Sequence[Command],
    outcomes: list[Outcome | None],
    replay_of: dict[int, int],
) -> tuple[dict[str, Any], list[str]]:
    """The results of accepted keyed commands to store; the keys of refused ones to release."""
    done: dict[str, Any] = {}
    released: list[str] = []
    for i, (command, outcome) in enumerate(zip(commands, outcomes, strict=True)):
        if command.key is None or outcome is None or outcome.replayed or i in replay_of:
            continue
        if outcome.error is None:
            done[command.key] = outcome.result
        elif not isinstance(outcome.error, IdempotencyConflict):
            released.append(command.key)
    return done, released
