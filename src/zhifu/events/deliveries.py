"""What an owner sees of its deliveries (its webhook's unless another channel is named),
and resending an event to its webhook."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zhifu.db.database import Conn
from zhifu.errors import InvalidRequest, NotFound
from zhifu.events.channels import WEBHOOK
from zhifu.events.endpoints import get_endpoint
from zhifu.events.schedule import DeliveryState

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    event_id: str
    event_type: str
    sequence: int
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt_no: int
    started_at: datetime
    # Both None: in flight, or the worker died before recording (see `error` later).
    status_code: int | None
    error: str | None
    duration_ms: int | None


def _delivery_from_row(row: dict[str, Any]) -> Delivery:
    return Delivery(**{**row, "state": DeliveryState(row["state"])})


async def list_deliveries(
    conn: Conn,
    owner: str,
    *,
    state: DeliveryState | None = None,
    event_id: str | None = None,
    delivery_id: int | None = None,
    before: int | None = None,
    limit: int = 50,
    channel: str = WEBHOOK,
) -> list[Delivery]:
    """An owner's deliveries on a channel, newest first; `before` (a delivery id) pages
    back."""
    cur = await conn.execute(
        """
        select d.id, o.event_id, o.event_type, o.sequence, d.state, d.attempts,
               d.next_attempt_at, d.last_attempt_at, d.last_status_code, d.last_error,
               d.created_at, d.completed_at
        from event_delivery d join outbox o on o.id = d.outbox_id
        where d.owner = %(owner)s and d.channel = %(channel)s
          and (%(state)s::text is null or d.state = %(state)s)
          and (%(event_id)s::text is null or o.event_id = %(event_id)s)
          and (%(delivery_id)s::bigint is null or d.id = %(delivery_id)s)
          and (%(before)s::bigint is null or d.id < %(before)s)
        order by d.id desc limit %(limit)s
        """,
        {
            "owner": owner,
            "state": state.value if state else None,
            "event_id": event_id,
            "delivery_id": delivery_id,
            "before": before,
            "limit": max(1, min(limit, MAX_PAGE)),
            "channel": channel,
        },
    )
    return [_delivery_from_row(row) for row in await cur.fetchall()]


async def list_attempts(
    conn: Conn, owner: str, delivery_id: int, channel: str = WEBHOOK
) -> list[Attempt]:
    """Every attempt of one of the owner's deliveries, in order."""
    cur = await conn.execute(
        """
        select a.attempt_no, a.started_at, a.status_code, a.error, a.duration_ms
        from event_delivery_attempt a join event_delivery d on d.id = a.delivery_id
        where d.owner = %s and d.id = %s and d.channel = %s order by a.attempt_no
        """,
        (owner, delivery_id, channel),
    )
    return [Attempt(**row) for row in await cur.fetchall()]


async def _find_outbox_id(
    conn: Conn, owner: str, event_id: str | None, delivery_id: int | None
) -> int:
    if (event_id is None) == (delivery_id is None):
        raise InvalidRequest("name exactly one of event_id and delivery_id")
    if event_id is not None:
        cur = await conn.execute(
            "select id, sequence from outbox where owner = %s and event_id = %s",
            (owner, event_id),
        )
    else:
        cur = await conn.execute(
            """
            select o.id, o.sequence from event_delivery d join outbox o on o.id = d.outbox_id
            where d.owner = %s and d.id = %s and d.channel = %s
            """,
            (owner, delivery_id, WEBHOOK),
        )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no such event or delivery for {owner}")
    if row["sequence"] is None:
        raise InvalidRequest("the event is not scheduled yet: it is delivered without a resend")
    return int(row["id"])


async def resend(
    conn: Conn,
    owner: str,
    *,
    event_id: str | None = None,
    delivery_id: int | None = None,
    now: datetime,
) -> Delivery:
    """Schedule a fresh delivery of an event, due now, whatever became of earlier ones.

    Name the event by its id or by one of its deliveries. The fresh delivery carries the
    same event id, so a receiver that already has the event drops it.
    """
    outbox_id = await _find_outbox_id(conn, owner, event_id, delivery_id)
    if await get_endpoint(conn, owner) is None:
        raise InvalidRequest(f"{owner} has no webhook endpoint to resend to")
    cur = await conn.execute(
        """
        insert into event_delivery (outbox_id, owner, state, next_attempt_at, created_at)
        values (%(outbox_id)s, %(owner)s, 'pending', %(now)s, %(now)s) returning id
        """,
        {"outbox_id": outbox_id, "owner": owner, "now": now},
    )
    row = await cur.fetchone()
    assert row is not None
    (delivery,) = await list_deliveries(conn, owner, delivery_id=row["id"])
    return delivery
