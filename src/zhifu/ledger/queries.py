"""Reading the ledger: balances, holds, statements, balances as of a past moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zhifu.db.database import Conn
from zhifu.errors import InvalidRequest, NotFound


@dataclass(frozen=True, slots=True)
class Balance:
    account_id: int
    currency: str
    posted: int
    pending_out: int
    pending_in: int

    @property
    def available(self) -> int:
        return self.posted - self.pending_out

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "currency": self.currency,
            "posted": self.posted,
            "available": self.available,
            "pending_out": self.pending_out,
            "pending_in": self.pending_in,
        }


async def balances(conn: Conn, account_ids: list[int]) -> dict[int, Balance]:
    cur = await conn.execute(
        """
        select a.id as account_id, a.currency, sum(b.posted)::bigint as posted,
               sum(b.pending_out)::bigint as pending_out, sum(b.pending_in)::bigint as pending_in
        from ledger_account a join ledger_balance b on b.account_id = a.id
        where a.id = any(%s) group by a.id
        """,
        (account_ids,),
    )
    return {row["account_id"]: Balance(**row) for row in await cur.fetchall()}


async def balance(conn: Conn, account_id: int) -> Balance:
    found = await balances(conn, [account_id])
    if account_id not in found:
        raise NotFound("no such ledger account", account_id=account_id)
    return found[account_id]


async def balance_as_of(conn: Conn, account_id: int, moment: datetime) -> int:
    """The posted balance of an account as it stood at `moment`."""
    await balance(conn, account_id)
    cur = await conn.execute(
        """
        select coalesce(sum(amount), 0)::bigint as total from ledger_posting
        where account_id = %s and created_at <= %s
        """,
        (account_id, moment),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["total"])


@dataclass(frozen=True, slots=True)
class StatementLine:
    posting_id: int
    entry_id: int
    kind: str
    description: str
    amount: int
    balance_after: int
    created_at: datetime
    metadata: dict[str, Any]


MAX_PAGE = 500


async def statement(
    conn: Conn, account_id: int, *, limit: int = 50, before: int | None = None
) -> list[StatementLine]:
    """Postings of an account, newest first, each with the balance just after it.

    Pages are keyed by posting id: pass the last line's `posting_id` as `before`.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}")
    await balance(conn, account_id)
    # The page and the balance it starts from are read by one statement, so from one
    # snapshot: postings to a sharded account may commit out of id order, and one
    # committing between two reads would put its amount in the balances of lines that do
    # not show it.
    cur = await conn.execute(
        """
        with page as (
            select p.id as posting_id, p.entry_id, e.kind, e.description, p.amount,
                   p.created_at, e.metadata
            from ledger_posting p join ledger_entry e on e.id = p.entry_id
            where p.account_id = %(account)s and (%(before)s::bigint is null or p.id < %(before)s)
            order by p.id desc limit %(limit)s
        )
        select page.*,
               (select coalesce(sum(amount), 0)::bigint from ledger_posting
                where account_id = %(account)s and id <= (select max(posting_id) from page))
                 as total
        from page order by posting_id desc
        """,
        {"account": account_id, "before": before, "limit": limit},
    )
    rows = await cur.fetchall()
    if not rows:
        return []
    running = int(rows[0]["total"])
    lines = []
    for row in rows:
        del row["total"]
        lines.append(StatementLine(balance_after=running, **row))
        running -= row["amount"]
    return lines


async def hold(conn: Conn, hold_id: int) -> dict[str, Any]:
    cur = await conn.execute(
        """
        select id, kind, debit_account_id, credit_account_id, currency, amount, posted_amount,
               state, expires_at, entry_id, created_at, closed_at, metadata
        from ledger_hold where id = %s
        """,
        (hold_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"hold {hold_id} does not exist")
    return dict(row)


async def entry(conn: Conn, entry_id: int) -> dict[str, Any]:
    cur = await conn.execute(
        """
        select e.id, e.kind, e.description, e.exchange_rate, e.metadata, e.created_at,
               json_agg(json_build_object('account_id', p.account_id, 'currency', p.currency,
                                          'amount', p.amount) order by p.id) as postings
        from ledger_entry e join ledger_posting p on p.entry_id = e.id
        where e.id = %s group by e.id
        """,
        (entry_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"ledger entry {entry_id} does not exist")
    return dict(row)
