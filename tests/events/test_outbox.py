from __future__ import annotations

import asyncio
import random

import pytest

from tests.events.support import emit_event
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.db.database import Conn
from zhifu.errors import InvalidRequest
from zhifu.events import Event, emit, get_event, list_events


async def test_an_event_gets_an_id_a_sequence_and_is_stored(
    db: Database, clock: ManualClock, owner: str
) -> None:
    first = await emit_event(db, clock, owner, trade_no="T1", amount=1234)
    second = await emit_event(db, clock, owner, trade_no="T2", amount=1)
    assert first.id.startswith("evt_") and first.id != second.id
    assert (first.sequence, second.sequence) == (1, 2)
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


async def test_sequences_are_per_owner(db: Database, clock: ManualClock, owner: str) -> None:
    await emit_event(db, clock, owner)
    other = await emit_event(db, clock, owner + "x")
    assert other.sequence == 1


async def test_an_event_rolls_back_with_its_transaction_and_leaves_no_gap(
    db: Database, clock: ManualClock, owner: str
) -> None:
    async def failing_change(conn: Conn) -> None:
        await emit(conn, owner=owner, event_type="trade.paid", payload={}, now=clock.now())
        raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError):
        await db.transaction(failing_change)
    async with db.connection() as conn:
        assert await list_events(conn, owner) == []
    assert (await emit_event(db, clock, owner)).sequence == 1


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


async def test_concurrent_emits_number_each_owner_in_commit_order_without_gaps(
    db: Database, clock: ManualClock, owner: str
) -> None:
    """Whatever a reader sees at any moment is a prefix 1..k of each owner's sequence:
    no event becomes visible before one with a smaller number."""
    owners = [f"{owner}-{n}" for n in range(3)]
    per_owner = 30
    emitting = True
    snapshots: list[dict[str, list[int]]] = []

    async def state_change(n: int) -> Event:
        async def work(conn: Conn) -> Event:
            await asyncio.sleep(random.uniform(0, 0.003))
            event = await emit(
                conn, owner=owners[n % 3], event_type="trade.paid", payload={}, now=clock.now()
            )
            await asyncio.sleep(random.uniform(0, 0.003))
            return event

        return await db.transaction(work)

    async def watch() -> None:
        while emitting:
            rows = await db.fetch_all(
                """
                select owner, array_agg(sequence order by sequence) as sequences
                from outbox where owner = any(%s) group by owner
                """,
                (owners,),
            )
            snapshots.append({row["owner"]: row["sequences"] for row in rows})

    watcher = asyncio.create_task(watch())
    events = await asyncio.gather(*(state_change(n) for n in range(3 * per_owner)))
    emitting = False
    await watcher

    for name in owners:
        numbers = sorted(event.sequence for event in events if event.owner == name)
        assert numbers == list(range(1, per_owner + 1))
    assert len(snapshots) > 5
    for snapshot in snapshots:
        for sequences in snapshot.values():
            assert sequences == list(range(1, len(sequences) + 1))
