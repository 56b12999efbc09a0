"""The transactional outbox: an event is written in the transaction of the state change
it describes, so both commit or neither does.

Each event has a public id (`evt_...`) at once, and a sequence per owner once the
dispatcher schedules it (queue.py): emitting writes one row and locks nothing, so the
many payments of one hot merchant never wait on each other here. The scheduler numbers
committed events in one pass at a time, so an owner's sequence has no gaps (a rolled-back
event never got a number) and follows causality: an event emitted after another one
committed (the next step of the same trade, say) is seen, and numbered, after it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from zhifu.db.database import Conn
from zhifu.errors import InvalidRequest

_OWNER = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    owner: str
    type: str
    sequence: int | None  # None until the dispatcher schedules the event
    data: dict[str, Any]
    created_at: datetime

    def envelope(self) -> dict[str, Any]:
        """What a receiver gets: the body of the webhook."""
        return {
            "id": self.id,
            "type": self.type,
            "sequence": self.sequence,
            "created_at": self.created_at.astimezone(UTC).isoformat(),
            "data": self.data,
        }


def check_owner(owner: str) -> str:
    if not _OWNER.match(owner):
        raise InvalidRequest(f"invalid event owner {owner!r}")
    return owner


def check_event_type(event_type: str) -> str:
    if len(event_type) > 100 or not _EVENT_TYPE.match(event_type):
        raise InvalidRequest(f"invalid event type {event_type!r} (expected e.g. 'trade.paid')")
    return event_type


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


async def emit(
    conn: Conn, *, owner: str, event_type: str, payload: dict[str, Any], now: datetime
) -> Event:
    """Record an event in the caller's transaction; it is numbered and delivered after
    that commits. Nothing is locked: concurrent emits for one owner do not wait."""
    if conn.info.transaction_status != TransactionStatus.INTRANS:
        raise RuntimeError("emit must run inside the transaction of the state change")
    check_owner(owner)
    check_event_type(event_type)
    event = Event(
        id=new_event_id(),
        owner=owner,
        type=event_type,
        sequence=None,
        data=dict(payload),
        created_at=now,
    )
    await conn.execute(
        """
        insert into outbox (event_id, owner, event_type, payload, created_at)
        values (%s, %s, %s, %s, %s)
        """,
        (event.id, owner, event_type, Jsonb(event.data), now),
    )
    return event


EVENT_COLUMNS = (
    "o.event_id as id, o.owner, o.event_type as type, o.sequence, o.payload as data, o.created_at"
)


def event_from_row(row: dict[str, Any]) -> Event:
    return Event(**{field.name: row[field.name] for field in fields(Event)})


async def get_event(conn: Conn, owner: str, event_id: str) -> Event | None:
    cur = await conn.execute(
        f"select {EVENT_COLUMNS} from outbox o where o.owner = %s and o.event_id = %s",
        (owner, event_id),
    )
    row = await cur.fetchone()
    return event_from_row(row) if row else None


async def list_events(
    conn: Conn, owner: str, *, after_sequence: int = 0, limit: int = 100
) -> list[Event]:
    """An owner's scheduled events in sequence order: how a receiver catches up on what
    it missed."""
    cur = await conn.execute(
        f"""
        select {EVENT_COLUMNS} from outbox o
        where o.owner = %s and o.sequence > %s order by o.sequence limit %s
        """,
        (owner, after_sequence, min(limit, 1000)),
    )
    return [event_from_row(row) for row in await cur.fetchall()]
