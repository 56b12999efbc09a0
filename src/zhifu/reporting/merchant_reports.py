"""What a merchant reads about its business: takings per business day, and its trades
found by search and filters.

Takings are counted by business day (midnight to midnight, Asia/Shanghai):

- gross: the amounts of the trades paid that day (guaranteed trades included: paid,
  even while the money waits in escrow);
- fees: the fees charged on those trades;
- refunded: the refunds made that day (of trades paid on any day), and the part of
  the fee each returned;
- net: gross - fees - refunded + fees returned, what the day added to the merchant's
  balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from zhifu.clock import BUSINESS_TIMEZONE, Clock, business_day
from zhifu.db.database import Database
from zhifu.errors import InvalidRequest
from zhifu.money import check_currency
from zhifu.payments import TRADE_COLUMNS, TRADE_METHODS, Trade, TradeState, trade_from_row

MAX_DAYS = 366
MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class DayTakings:
    day: date
    trades: int = 0
    gross: int = 0
    fees: int = 0
    refunded: int = 0
    fees_returned: int = 0

    @property
    def net(self) -> int:
        return self.gross - self.fees - self.refunded + self.fees_returned


@dataclass(frozen=True, slots=True)
class TradeQuery:
    """A search of the merchant's trades. `text` matches zhifu's trade number exactly,
    or part of the merchant's order number or of the subject; `since` and `until` are
    business days, both included, on when the trade was made."""

    text: str | None = None
    state: str | None = None
    method: str | None = None
    since: date | None = None
    until: date | None = None
    before: int | None = None
    limit: int = 50

    def checked(self) -> TradeQuery:
        if self.state is not None and self.state not in TradeState.__members__:
            raise InvalidRequest(f"unknown trade state {self.state!r}", field="state")
        if self.method is not None and self.method not in TRADE_METHODS:
            raise InvalidRequest(f"unknown payment method {self.method!r}", field="method")
        if self.since and self.until and self.since > self.until:
            raise InvalidRequest("the first day comes after the last", field="since")
        if self.text is not None and len(self.text) > 256:
            raise InvalidRequest("search for at most 256 characters", field="text")
        if not 1 <= self.limit <= MAX_PAGE:
            raise InvalidRequest(f"a page has 1 to {MAX_PAGE} trades")
        return self


@dataclass(frozen=True, slots=True)
class TradePage:
    trades: list[Trade]
    next_before: int | None  # the `before` of the next page, if there is one


def day_start(day: date) -> datetime:
    """Midnight at the start of a business day."""
    return datetime.combine(day, time(), tzinfo=BUSINESS_TIMEZONE)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class MerchantReports:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def today(self) -> date:
        return business_day(self.clock.now())

    async def takings(
        self, merchant_id: int, *, days: int = 30, currency: str = "CNY"
    ) -> list[DayTakings]:
        """The last `days` business days up to today, oldest first, every day present."""
        check_currency(currency)
        if not 1 <= days <= MAX_DAYS:
            raise InvalidRequest(f"between 1 and {MAX_DAYS} days")
        last = self.today()
        first = last - timedelta(days=days - 1)
        window = {
            "merchant": merchant_id,
            "currency": currency,
            "since": day_start(first),
            "until": day_start(last + timedelta(days=1)),
            "zone": BUSINESS_TIMEZONE.key,
        }
        paid = await self.db.fetch_all(
            """
            select (paid_at at time zone %(zone)s)::date as day, count(*) as trades,
                   sum(amount) as gross, sum(fee) as fees
            from trade
            where merchant_id = %(merchant)s and currency = %(currency)s
              and paid_at >= %(since)s and paid_at < %(until)s
            group by 1
            """,
            window,
        )
        refunded = await self.db.fetch_all(
            """
            select (r.created_at at time zone %(zone)s)::date as day,
                   sum(r.amount) as refunded, sum(r.fee_refund) as fees_returned
            from refund r join trade t on t.id = r.trade_id
            where t.merchant_id = %(merchant)s and t.currency = %(currency)s
              and r.created_at >= %(since)s and r.created_at < %(until)s
            group by 1
            """,
            window,
        )
        by_day: dict[date, dict[str, Any]] = {}
        for row in (*paid, *refunded):
            by_day.setdefault(row.pop("day"), {}).update(
                {name: int(value) for name, value in row.items()}
            )
        return [
            DayTakings(day, **by_day.get(day, {}))
            for day in (first + timedelta(days=n) for n in range(days))
        ]

    async def search(self, merchant_id: int, query: TradeQuery) -> TradePage:
        """The merchant's trades that match, newest first, a page at a time."""
        query = query.checked()
        text = (query.text or "").strip() or None
        rows = await self.db.fetch_all(
            f"""
            select {TRADE_COLUMNS} from trade
            where merchant_id = %(merchant)s
              and (%(state)s::text is null or state = %(state)s)
              and (%(method)s::text is null or method = %(method)s)
              and (%(since)s::timestamptz is null or created_at >= %(since)s)
              and (%(until)s::timestamptz is null or created_at < %(until)s)
              and (%(text)s::text is null or trade_no = %(text)s
                   or out_trade_no ilike %(like)s or subject ilike %(like)s)
              and (%(before)s::bigint is null or id < %(before)s)
            order by id desc limit %(limit)s
            """,
            {
                "merchant": merchant_id,
                "state": query.state,
                "method": query.method,
                "since": query.since and day_start(query.since),
                "until": query.until and day_start(query.until + timedelta(days=1)),
                "text": text,
                "like": text and _like(text),
                "before": query.before,
                "limit": query.limit + 1,
            },
        )
        trades = [trade_from_row(row) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        return TradePage(trades, trades[-1].id if more and trades else None)
