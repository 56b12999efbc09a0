"""Claiming due rows for a polling job, with the next look pushed back exponentially.

Several workers may poll the same table: rows are claimed with FOR UPDATE SKIP LOCKED and
their next look is moved back in the same statement, so each due row goes to one worker,
and a row that stays unfinished is looked at after `first`, then twice as long each
time, up to `most`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import sql

from zhifu.db.database import Conn

# A background job: its name, how often it runs (seconds), and the work (it returns how
# many rows it moved). Each capability's service lists its own in `jobs()`; the runtime
# gathers them and the worker runs them.
Job = tuple[str, float, Callable[[], Awaitable[int]]]


@dataclass(frozen=True, slots=True)
class DuePolling:
    """Where a job's rows live: the table, which rows wait, and the polling columns."""

    table: str
    waiting: str  # a condition on the row, e.g. "state = 'pending'" (code, never input)
    count_column: str
    next_column: str
    first: timedelta
    most: timedelta


async def claim_due(
    conn: Conn, polling: DuePolling, columns: str, now: datetime, limit: int
) -> list[dict[str, Any]]:
    """Claim up to `limit` due rows, push their next look back, return their `columns`."""
    table = sql.Identifier(polling.table)
    count, next_at = sql.Identifier(polling.count_column), sql.Identifier(polling.next_column)
    query = sql.SQL(
        """
        update {table} t
        set {count} = t.{count} + 1,
            {next_at} = %(now)s + make_interval(secs => least(
                %(first)s * power(2, least(t.{count} + 1, 20)), %(most)s))
        from (
            select id as due_id from {table}
            where {waiting} and {next_at} <= %(now)s
            order by {next_at} limit %(limit)s for update skip locked
        ) due
        where t.id = due.due_id
        returning {columns}
        """
    ).format(
        table=table,
        count=count,
        next_at=next_at,
        waiting=sql.SQL(polling.waiting),
        columns=sql.SQL(columns),
    )
    cur = await conn.execute(
        query,
        {
            "now": now,
            "first": polling.first.total_seconds(),
            "most": polling.most.total_seconds(),
            "limit": limit,
        },
    )
    return list(await cur.fetchall())
