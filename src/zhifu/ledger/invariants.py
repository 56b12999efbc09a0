"""`zhifu ledger verify`: prove every invariant of the ledger, or say which one broke."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zhifu.db.database import Conn

# Each check is a query that returns the rows breaching one invariant.
CHECKS: dict[str, str] = {
    "every entry balances per currency": """
        select entry_id, currency, sum(amount) as total from ledger_posting
        group by entry_id, currency having sum(amount) <> 0 limit 20
    """,
    "every entry has at least two postings": """
        select e.id as entry_id, count(p.id) as postings from ledger_entry e
        left join ledger_posting p on p.entry_id = e.id
        group by e.id having count(p.id) < 2 limit 20
    """,
    "every posting is in its account's currency": """
        select p.id as posting_id, p.currency, a.currency as account_currency
        from ledger_posting p join ledger_account a on a.id = p.account_id
        where p.currency <> a.currency limit 20
    """,
    "no entry joins live and sandbox accounts": """
        select p.entry_id, array_agg(distinct a.book) as books
        from ledger_posting p join ledger_account a on a.id = p.account_id
        group by p.entry_id having count(distinct a.book) > 1 limit 20
    """,
    "no hold joins live and sandbox accounts": """
        select h.id as hold_id, d.book as debit_book, c.book as credit_book
        from ledger_hold h
        join ledger_account d on d.id = h.debit_account_id
        join ledger_account c on c.id = h.credit_account_id
        where d.book <> c.book limit 20
    """,
    "every cached balance equals the sum of its postings": """
        with cached as (
            select account_id, sum(posted) as posted from ledger_balance group by account_id
        ), summed as (
            select account_id, sum(amount) as posted from ledger_posting group by account_id
        )
        select c.account_id, c.posted as cached, coalesce(s.posted, 0) as postings
        from cached c left join summed s using (account_id)
        where c.posted <> coalesce(s.posted, 0) limit 20
    """,
    "pending balances equal the open holds": """
        with cached as (
            select account_id, sum(pending_out) as pending_out, sum(pending_in) as pending_in
            from ledger_balance group by account_id
        ), held as (
            select account_id, sum(out_amount) as pending_out, sum(in_amount) as pending_in from (
                select debit_account_id as account_id, amount as out_amount, 0 as in_amount
                from ledger_hold where state = 'pending'
                union all
                select credit_account_id, 0, amount from ledger_hold where state = 'pending'
            ) h group by account_id
        )
        select c.account_id, c.pending_out, coalesce(h.pending_out, 0) as held_out,
               c.pending_in, coalesce(h.pending_in, 0) as held_in
        from cached c left join held h using (account_id)
        where c.pending_out <> coalesce(h.pending_out, 0)
           or c.pending_in <> coalesce(h.pending_in, 0)
        limit 20
    """,
    "holds are consistent with their entries": """
        select h.id as hold_id, h.state, h.posted_amount, h.entry_id from ledger_hold h
        where (h.state = 'posted') <> (h.entry_id is not null)
           or (h.state <> 'posted' and h.posted_amount <> 0)
           or (h.state = 'posted' and h.posted_amount <> coalesce((
                select sum(amount) from ledger_posting p
                where p.entry_id = h.entry_id and p.account_id = h.credit_account_id), 0))
        limit 20
    """,
    "no account is below its floor": """
        select a.id as account_id, a.floor, sum(b.posted - b.pending_out) as available
        from ledger_account a join ledger_balance b on b.account_id = a.id
        where a.floor is not null group by a.id having sum(b.posted - b.pending_out) < a.floor
        limit 20
    """,
    "every account has all its balance shards": """
        select a.id as account_id, a.shards, count(b.shard) as rows
        from ledger_account a left join ledger_balance b on b.account_id = a.id
        group by a.id having count(b.shard) <> a.shards limit 20
    """,
    "all accounts sum to zero per book and currency": """
        select a.book, a.currency, sum(b.posted) as total
        from ledger_account a join ledger_balance b on b.account_id = a.id
        group by a.book, a.currency having sum(b.posted) <> 0
    """,
}


@dataclass
class Report:
    breaches: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.breaches

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": list(CHECKS),
            "breaches": self.breaches,
            "counts": self.counts,
        }


async def verify(conn: Conn) -> Report:
    """Run every check in one repeatable-read snapshot, so concurrent writers cannot
    make a consistent ledger look inconsistent."""
    report = Report()
    async with conn.transaction():
        await conn.execute("set transaction isolation level repeatable read read only")
        for name, query in CHECKS.items():
            cur = await conn.execute(query)
            rows = await cur.fetchall()
            if rows:
                report.breaches[name] = [{k: str(v) for k, v in row.items()} for row in rows]
        for table in ("ledger_account", "ledger_entry", "ledger_posting", "ledger_hold"):
            cur = await conn.execute(f"select count(*) as n from {table}")
            row = await cur.fetchone()
            report.counts[table] = int(row["n"]) if row else 0
    return report
