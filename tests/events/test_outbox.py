from __future__ import annotations

import asyncio
import random
from dataclasses import replace

import pytest

from tests.events.support import emit_event, schedule
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.db.database import Conn
from zhifu.errors import InvalidRequest
from zhifu.events import Event, emit, get_event, list_events


async def sequences(db: Database, owner: str) -> list[int | None]:
    rows = await db.fetch_all("select sequence from outbox where owner = %s order by id", (owner,))
    return [row["sequence"] for row in rows]


async def test_an_event_gets_an_id_at_once_and_a_sequence_when_scheduled(
    db: Database, clock: ManualClock, owner: str
) -> None:
    first = await emit_event(db, clock, owner, trade_no="T1", amount=1234)
    second = await emit_event(db, clock, owner, trade_no="T2", amount=1)
    assert first.id.startswith("evt_") and first.id != second.id
    assert (first.sequence, second.sequence) == (None, None)
    async with db.connection() as conn:
        assert await list_events(conn, owner) == []  # nothing numbered yet

    assert await schedule(db, clock) == 2
    first, second = replace(first, sequence=1), replace(second, sequence=2)
    async with db.connection() as conn:
        assert await get_event(conn, owner, first.id) == first
        assert await get_event(conn, "merchant:other", first.id) is None
        assert await list_events(conn, owner) == [first, second]
        assert await list_events(conn, owner, after_sequence=1) == [second]
    assert first.envelope() == {
        "id": first.id,
        "type": "trade.paid",
        "sequence": 1,
        "created_at": "2026-01-01T00:00:00+00:00",
        "data": {"trade_no": "T1", "amount": 1234},
    }
    assert await schedule(db, clock) == 0


async def test_sequences_are_per_owner_and_continue_across_passes(
    db: Database, clock: ManualClock, owner: str
) -> None:
    await emit_event(db, clock, owner)
    await emit_event(db, clock, owner + "x")
    await schedule(db, clock)
    await emit_event(db, clock, owner)
    await schedule(db, clock, limit=1)
    assert await sequences(db, owner) == [1, 2]
    assert await sequences(db, owner + "x") == [1]


async def test_an_event_rolls_back_with_its_transaction_and_leaves_no_gap(
    db: Database, clock: ManualClock, owner: str
) -> None:
    async def failing_change(conn: Conn) -> None:
        await emit(conn, owner=owner, event_type="trade.paid", payload={}, now=clock.now())
        raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError):
        await db.transaction(failing_change)
    await emit_event(db, clock, owner)
    await schedule(db, clock)
    assert await sequences(db, owner) == [1]


async def test_emitting_for_one_owner_never_waits_for_another_transaction(
    db: Database, clock: ManualClock, owner: str
) -> None:
    """A hot merchant's payments do not serialize on its events: while one transaction
    that emitted is still open, others emit for the same owner and commit."""
    emitted, finish = asyncio.Event(), asyncio.Event()

    async def slow_change(conn: Conn) -> None:
        await emit(conn, owner=owner, event_type="trade.paid", payload={}, now=clock.now())
        emitted.set()
        await finish.wait()

    slow = asyncio.create_task(db.transaction(slow_change))
    await emitted.wait()
    quick = [emit_event(db, clock, owner, n=n) for n in range(3)]
    await asyncio.wait_for(asyncio.gather(*quick), timeout=5)
    assert await schedule(db, clock) == 3  # the open one is not seen yet
    finish.set()
    await slow
    assert await schedule(db, clock) == 1
    assert sorted(await sequences(db, owner)) == [1, 2, 3, 4]


async def test_emit_refuses_to_run_outside_a_transaction(
    db: Database, clock: ManualClock, owner: str
) -> None:
    async with db.connection() as conn:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            await emit(conn, owner=owner, event_type="trade.paid", payload={}, now=clock.now())


@pytest.mark.parametrize(
    ("owner", "event_type"),
    [
        ("", "trade.paid"),
        ("merchant 42", "trade.paid"),
        ("merchant:42", "Trade.Paid"),
        ("merchant:42", "trade..paid"),
        ("merchant:42", ""),
    ],
)
async def test_invalid_owners_and_types_are_refused(
    db: Database, clock: ManualClock, owner: str, event_type: str
) -> None:
    with pytest.raises(InvalidRequest):
        await db.transaction(
            lambda conn: emit(conn, owner=owner, event_type=event_type, payload={}, now=clock.now())
        )


async def test_concurrent_emits_and_passes_number_each_owner_without_gaps_in_causal_order(
    db: Database, clock: ManualClock, owner: str
) -> None:
    """Whatever a reader sees at any moment is a prefix 1..k of each owner's sequence,
    and a chain of events, each emitted after the one before committed (the steps of
    one trade), is numbered in its order."""
    owners = [f"{owner}-{n}" for n in range(3)]
    per_owner = 30
    emitting = True
    snapshots: list[dict[str, list[int]]] = []

    async def trade_steps(n: int) -> list[Event]:
        steps = []
        for step in range(3):
            await asyncio.sleep(random.uniform(0, 0.003))
            steps.append(await emit_event(db, clock, owners[n % 3], step=step))
        return steps

    async def schedule_and_watch() -> None:
        while emitting:
            await schedule(db, clock, limit=7)
            rows = await db.fetch_all(
                """
                select owner, array_agg(sequence order by sequence) as sequences
                from outbox where owner = any(%s) and sequence is not null group by owner
                """,
                (owners,),
            )
            snapshots.append({row["owner"]: row["sequences"] for row in rows})

    workers = [asyncio.create_task(schedule_and_watch()) for _ in range(2)]
    chains = await asyncio.gather(*(trade_steps(n) for n in range(per_owner)))
    emitting = False
    await asyncio.gather(*workers)
    while await schedule(db, clock):
        pass

    numbers = await db.fetch_all(
        "select event_id, owner, sequence from outbox where owner = any(%s)", (owners,)
    )
    sequence_of = {row["event_id"]: row["sequence"] for row in numbers}
    for name in owners:
        mine = sorted(row["sequence"] for row in numbers if row["owner"] == name)
        assert mine == list(range(1, len(mine) + 1))
    for chain in chains:
        assert [sequence_of[event.id] for event in chain] == sorted(
            sequence_of[event.id] for event in chain
        )
    assert len(snapshots) > 5
    for snapshot in snapshots:
        for found in snapshot.values():
            assert found == list(range(1, len(found) + 1))
