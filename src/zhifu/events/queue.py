"""The delivery queue in the database: what the dispatcher schedules, claims and records.

Scheduling numbers committed events and fans each out into deliveries: each channel
(channels.py) names the events it delivers and where, the webhook channel one delivery
to the owner's endpoint if it wants that type. One scheduling pass runs at a time (a
transaction-level advisory lock; a worker that finds it taken skips its pass), taking
unscheduled events in outbox id order and giving each the owner's next sequence. This
is where sequences are assigned, not in the emitting transaction, so that emitting locks
nothing: the payments of one merchant do not serialize on a per-owner counter.

A delivery is claimed with FOR UPDATE SKIP LOCKED, which counts an attempt and leases
the delivery: its next_attempt_at moves to the end of the lease, so a worker that
dies mid-delivery leaves a delivery that falls due again and is retried by another. The
outcome of an attempt only decides the delivery if the attempt is still its latest
(attempt numbers fence out a worker that lost its lease).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from zhifu.db.database import Conn
from zhifu.events.channels import WEBHOOK, WEBHOOKS, Channel, Claim, Target
from zhifu.events.outbox import EVENT_COLUMNS, event_from_row
from zhifu.events.schedule import MAX_ATTEMPTS, AttemptResult, DeliveryState, after_attempt

ABANDONED = "abandoned: no outcome recorded before the lease ran out"


# The advisory lock of the scheduling pass (any constant unique to it in the database).
SCHEDULER_LOCK = 0x7A68_6966_7500_0001


async def schedule_new_events(
    conn: Conn, now: datetime, limit: int, channels: Sequence[Channel] = (WEBHOOKS,)
) -> int:
    """Number up to `limit` committed, unscheduled events and fan them out into
    deliveries on `channels`; return how many events (0 when another worker holds the
    pass)."""
    cur = await conn.execute("select pg_try_advisory_xact_lock(%s) as mine", (SCHEDULER_LOCK,))
    lock = await cur.fetchone()
    if lock is None or not lock["mine"]:
        return 0
    # A statement after the lock: its snapshot sees every earlier pass committed.
    cur = await conn.execute(
        """
        with batch as (
            select id, owner from outbox where dispatched_at is null
            order by id limit %(limit)s
        ), owners as (
            select owner, coalesce(
                (select max(o.sequence) from outbox o where o.owner = b.owner), 0) as last
            from (select distinct owner from batch) b
        ), numbered as (
            select b.id, w.last + row_number() over (partition by b.owner order by b.id)
                   as sequence
            from batch b join owners w on w.owner = b.owner
        ), marked as (
            update outbox o set sequence = n.sequence, dispatched_at = %(now)s
            from numbered n where o.id = n.id
        )
        select o.event_id as id, o.owner, o.event_type as type, n.sequence,
               o.payload as data, o.created_at
        from numbered n join outbox o on o.id = n.id order by n.id
        """,
        {"limit": limit, "now": now},
    )
    events = [event_from_row(row) for row in await cur.fetchall()]
    if events:
        for channel in channels:
            await _add_deliveries(conn, channel.name, await channel.targets(conn, events), now)
    return len(events)


async def _add_deliveries(conn: Conn, channel: str, targets: list[Target], now: datetime) -> None:
    if not targets:
        return
    await conn.execute(
        """
        insert into event_delivery (outbox_id, owner, channel, target, state,
                                    next_attempt_at, created_at)
        select o.id, o.owner, %(channel)s, t.url, 'pending', %(now)s, %(now)s
        from unnest(%(events)s::text[], %(urls)s::text[]) as t(event_id, url)
        join outbox o on o.event_id = t.event_id
        order by o.id
        """,
        {
            "channel": channel,
            "events": [target.event_id for target in targets],
            "urls": [target.url for target in targets],
            "now": now,
        },
    )


async def give_up_abandoned(conn: Conn, now: datetime) -> int:
    """Fail deliveries whose last allowed attempt was abandoned; return how many."""
    cur = await conn.execute(
        """
        with exhausted as (
            update event_delivery set state = 'failed', next_attempt_at = null,
                completed_at = %(now)s, last_status_code = null, last_error = %(abandoned)s
            where state = 'pending' and next_attempt_at <= %(now)s and attempts >= %(max)s
            returning id, attempts
        ), marked as (
            update event_delivery_attempt a set error = %(abandoned)s from exhausted e
            where a.delivery_id = e.id and a.attempt_no = e.attempts
              and a.status_code is null and a.error is null
        )
        select count(*) as failed from exhausted
        """,
        {"now": now, "abandoned": ABANDONED, "max": MAX_ATTEMPTS},
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["failed"])


async def claim_due(
    conn: Conn,
    now: datetime,
    lease: timedelta,
    limit: int,
    channels: Sequence[str] = (WEBHOOK,),
) -> list[Claim]:
    """Lease up to `limit` due deliveries on `channels` to this worker and start an
    attempt of each."""
    cur = await conn.execute(
        f"""
        with due as (
            select id from event_delivery
            where state = 'pending' and next_attempt_at <= %(now)s and attempts < %(max)s
              and channel = any(%(channels)s)
            order by next_attempt_at, id limit %(limit)s
            for update skip locked
        ), claimed as (
            update event_delivery d set attempts = d.attempts + 1,
                next_attempt_at = %(lease_end)s, last_attempt_at = %(now)s
            from due where d.id = due.id
            returning d.id, d.attempts, d.outbox_id, d.owner, d.channel, d.target
        ), abandoned as (
            update event_delivery_attempt a set error = %(abandoned)s from claimed c
            where a.delivery_id = c.id and a.attempt_no = c.attempts - 1
              and a.status_code is null and a.error is null
        ), started as (
            insert into event_delivery_attempt (delivery_id, attempt_no, started_at)
            select id, attempts, %(now)s from claimed
        )
        select c.id as delivery_id, c.attempts as attempt_no, c.channel,
               coalesce(c.target, ep.url) as url, ep.secret, {EVENT_COLUMNS}
        from claimed c join outbox o on o.id = c.outbox_id
        left join event_endpoint ep on ep.owner = c.owner and c.channel = %(webhook)s
        where c.target is not null or ep.owner is not null
        order by c.id
        """,
        {
            "now": now,
            "lease_end": now + lease,
            "limit": limit,
            "max": MAX_ATTEMPTS,
            "abandoned": ABANDONED,
            "channels": list(channels),
            "webhook": WEBHOOK,
        },
    )
    return [
        Claim(
            delivery_id=row["delivery_id"],
            attempt_no=row["attempt_no"],
            channel=row["channel"],
            url=row["url"],
            secret=row["secret"],
            event=event_from_row(row),
        )
        for row in await cur.fetchall()
    ]


async def record_attempt(
    conn: Conn, claim: Claim, result: AttemptResult, now: datetime
) -> DeliveryState | None:
    """Store an attempt's outcome; return the delivery's new state, or None when a newer
    attempt has taken over (this worker's lease ran out) and this one decides nothing."""
    await conn.execute(
        """
        update event_delivery_attempt set status_code = %s, error = %s, duration_ms = %s
        where delivery_id = %s and attempt_no = %s
        """,
        (result.status_code, result.error, result.duration_ms, claim.delivery_id, claim.attempt_no),
    )
    step = after_attempt(claim.attempt_no, result.acknowledged, now)
    cur = await conn.execute(
        """
        update event_delivery set state = %(state)s, next_attempt_at = %(next)s,
            completed_at = %(completed)s, last_status_code = %(status)s, last_error = %(error)s
        where id = %(id)s and attempts = %(attempt)s and state = 'pending'
        """,
        {
            "state": step.state.value,
            "next": step.next_attempt_at,
            "completed": None if step.state is DeliveryState.PENDING else now,
            "status": result.status_code,
            "error": result.error,
            "id": claim.delivery_id,
            "attempt": claim.attempt_no,
        },
    )
    return step.state if cur.rowcount == 1 else None
