"""What a merchant's bills say, read from the records themselves, to the fen.

Two bills cover a period (start inclusive, end exclusive):
- the trade bill: every payment of a trade made in the period (by payment time) and every
  refund made in it, each with its amount and the fee charged or returned, as the trade
  and refund rows record them;
- the account bill: every movement of the merchant's balance (pending settlement and
  available together) in the period, one line per ledger entry, with the balance after
  it: payments less their fee, refunds, payouts.

Lines are streamed from one query each, so a busy merchant's month is never held in
memory. An escrow trade appears at payment; its refund through the escrow flow (the hold
is released, no refund row exists) does not appear in the trade bill.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from zhifu.db.database import Database
from zhifu.identity import mask_phone
from zhifu.merchants import existing_merchant_accounts

PAYMENT = "payment"
REFUND = "refund"


@dataclass(frozen=True, slots=True)
class TradeBillLine:
    """A payment of a trade or one of its refunds. Amounts are positive: `amount` is what
    was paid or refunded, `fee` what the platform charged or gave back."""

    kind: str
    trade_no: str
    out_trade_no: str
    subject: str
    created_at: datetime
    finished_at: datetime
    store_id: int | None
    store_name: str | None
    terminal_id: int | None
    buyer_phone: str | None  # masked
    trade_amount: int
    amount: int
    fee: int
    out_request_no: str | None
    currency: str


@dataclass(frozen=True, slots=True)
class AccountBillLine:
    """One movement of the merchant's balance: signed (negative when money left)."""

    entry_id: int
    kind: str
    description: str
    business_no: str | None  # the trade_no or payout order_id behind it
    out_no: str | None  # the merchant's out_trade_no or out_biz_no
    subject: str
    created_at: datetime
    counterparty_phone: str | None  # masked
    amount: int
    balance_after: int
    currency: str


_TRADE_LINES = """
    select * from (
        select 'payment' as kind, t.trade_no, t.out_trade_no, t.subject, t.created_at,
               t.paid_at as finished_at, t.store_id, s.name as store_name, t.terminal_id,
               u.phone as buyer_phone, t.amount as trade_amount, t.amount, t.fee,
               null::text as out_request_no, t.currency, t.id as trade_id, 0::bigint as refund_id
        from trade t
        left join store s on s.id = t.store_id
        left join app_user u on u.id = t.buyer_user_id
        where t.merchant_id = %(merchant)s and t.currency = %(currency)s
          and t.paid_at >= %(start)s and t.paid_at < %(end)s
        union all
        select 'refund', t.trade_no, t.out_trade_no, t.subject, t.created_at, r.created_at,
               t.store_id, s.name, t.terminal_id, u.phone, t.amount, r.amount, r.fee_refund,
               r.out_request_no, t.currency, t.id, r.id
        from refund r
        join trade t on t.id = r.trade_id
        left join store s on s.id = t.store_id
        left join app_user u on u.id = t.buyer_user_id
        where t.merchant_id = %(merchant)s and t.currency = %(currency)s
          and r.created_at >= %(start)s and r.created_at < %(end)s
    ) lines
"""

# One line per entry: an entry touching both merchant accounts (a refund taken from
# pending and available) nets to one movement; one moving money between them, to none.
_MOVES = """
    select p.entry_id, sum(p.amount)::bigint as amount, min(p.created_at) as created_at
    from ledger_posting p
    where p.account_id = any(%(accounts)s)
      and p.created_at >= %(start)s and p.created_at < %(end)s
    group by p.entry_id
    having sum(p.amount) <> 0
"""

_ACCOUNT_LINES = f"""
    with moves as ({_MOVES})
    select m.entry_id, e.kind, e.description,
           coalesce(t.trade_no, po.order_id) as business_no,
           coalesce(t.out_trade_no, po.out_biz_no) as out_no,
           coalesce(t.subject, nullif(po.title, ''), e.description) as subject,
           m.created_at, u.phone as counterparty_phone, m.amount
    from moves m
    join ledger_entry e on e.id = m.entry_id
    left join trade t on t.trade_no = e.metadata->>'trade_no' and t.merchant_id = %(merchant)s
    left join payout po on po.entry_id = m.entry_id
    left join app_user u on u.id = coalesce(t.buyer_user_id, po.user_id)
    order by m.created_at, m.entry_id
"""


def _masked(phone: str | None) -> str | None:
    return None if phone is None else mask_phone(phone)


class BillService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def trade_lines(
        self, merchant_id: int, start: datetime, end: datetime, currency: str = "CNY"
    ) -> AsyncIterator[TradeBillLine]:
        """Payments and refunds in [start, end), in the order they happened."""
        params = {"merchant": merchant_id, "currency": currency, "start": start, "end": end}
        query = _TRADE_LINES + " order by finished_at, trade_id, refund_id"
        names = {f.name for f in fields(TradeBillLine)}
        async for row in self._stream(query, params):
            row["buyer_phone"] = _masked(row["buyer_phone"])
            yield TradeBillLine(**{name: row[name] for name in names})

    async def has_trade_lines(
        self, merchant_id: int, start: datetime, end: datetime, currency: str = "CNY"
    ) -> bool:
        params = {"merchant": merchant_id, "currency": currency, "start": start, "end": end}
        row = await self.db.fetch_one(f"select exists ({_TRADE_LINES}) as found", params)
        return bool(row and row["found"])

    async def account_lines(
        self, merchant_id: int, start: datetime, end: datetime, currency: str = "CNY"
    ) -> AsyncIterator[AccountBillLine]:
        """Movements of the merchant's balance in [start, end), each with the balance
        (pending settlement plus available) just after it."""
        params = await self._account_params(merchant_id, start, end, currency)
        row = await self.db.fetch_one(
            """
            select coalesce(sum(amount), 0)::bigint as opening from ledger_posting
            where account_id = any(%(accounts)s) and created_at < %(start)s
            """,
            params,
        )
        balance = int(row["opening"]) if row else 0
        async for line in self._stream(_ACCOUNT_LINES, params):
            balance += line["amount"]
            line["counterparty_phone"] = _masked(line["counterparty_phone"])
            yield AccountBillLine(**line, balance_after=balance, currency=currency)

    async def has_account_lines(
        self, merchant_id: int, start: datetime, end: datetime, currency: str = "CNY"
    ) -> bool:
        params = await self._account_params(merchant_id, start, end, currency)
        row = await self.db.fetch_one(f"select exists ({_MOVES}) as found", params)
        return bool(row and row["found"])

    async def _account_params(
        self, merchant_id: int, start: datetime, end: datetime, currency: str
    ) -> dict[str, Any]:
        async with self.db.connection() as conn:
            accounts = list(
                (await existing_merchant_accounts(conn, merchant_id, currency)).values()
            )
        return {"merchant": merchant_id, "accounts": accounts, "start": start, "end": end}

    async def _stream(self, query: str, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        async with self.db.connection() as conn:
            async for row in conn.cursor().stream(query, params):
                yield row
