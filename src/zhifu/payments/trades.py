"""Trades: a merchant's order, paid once by a consumer, refunded, closed or finished.

Every change to a trade locks its row (`FOR UPDATE`) and commits together with the money
it moves (one `ledger.apply`) and the event that tells the merchant (`events.emit`), so a
trade is never paid without money moving, nor money moved without the trade saying so.
Paying the same trade twice, concurrently or not, finds it paid the second time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from zhifu.clock import Clock, business_day
from zhifu.db.database import Conn, Database
from zhifu.errors import InvalidRequest
from zhifu.events import PUBLIC_ONLY, Destinations, emit
from zhifu.identity import UserService, spend_password_free, wallet_account
from zhifu.merchants import Merchant, MerchantService, merchant_accounts
from zhifu.payments import postings
from zhifu.payments.errors import (
    PinRequired,
    TradeClosed,
    TradeExists,
    TradeExpired,
    TradeNotFound,
    TradePaid,
)
from zhifu.payments.fees import trade_fee
from zhifu.payments.model import AUTO_CONFIRM_AFTER, COLUMNS, NewTrade, Trade, trade_from_row
from zhifu.payments.states import EscrowState, TradeEvent, TradeState, next_trade_state


class TradeService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        merchants: MerchantService,
        users: UserService,
        *,
        destinations: Destinations = PUBLIC_ONLY,
    ) -> None:
        self.db = db
        self.clock = clock
        self.merchants = merchants
        self.users = users
        self.destinations = destinations  # where a notify_url may point

    # Creating and reading trades.

    async def create(self, merchant: Merchant, request: NewTrade) -> Trade:
        """Create a trade; the same out_trade_no again returns the same trade."""
        request = request.checked()
        if request.store_id is not None:
            await self.merchants.store(merchant.id, request.store_id)
        if request.terminal_id is not None:
            await self.merchants.terminal(merchant.id, request.terminal_id)
        return await self.db.transaction(lambda conn: self.create_in(conn, merchant, request))

    async def create_in(self, conn: Conn, merchant: Merchant, request: NewTrade) -> Trade:
        if request.notify_url is not None:
            self.destinations.check_url(request.notify_url, name="notify_url")
        now = self.clock.now()
        cur = await conn.execute(
            f"""
            with next as (select nextval('trade_id_seq') as id)
            insert into trade (id, trade_no, merchant_id, out_trade_no, request_hash, amount,
                currency, subject, state, method, escrow, store_id, terminal_id, notify_url,
                return_url, buyer_user_id, expires_at, created_at, updated_at)
            select next.id, %(day)s || lpad(next.id::text, 16, '0'), %(merchant_id)s,
                %(out_trade_no)s, %(hash)s, %(amount)s, %(currency)s, %(subject)s,
                'WAIT_BUYER_PAY', %(method)s, %(escrow)s, %(store_id)s, %(terminal_id)s,
                %(notify_url)s, %(return_url)s, %(buyer)s, %(expires_at)s, %(now)s, %(now)s
            from next
            on conflict (merchant_id, out_trade_no) do nothing
            returning {COLUMNS}
            """,
            {
                "day": business_day(now).strftime("%Y%m%d"),
                "merchant_id": merchant.id,
                "out_trade_no": request.out_trade_no,
                "hash": request.fingerprint(),
                "amount": request.amount,
                "currency": request.currency,
                "subject": request.subject,
                "method": request.method,
                "escrow": request.escrow,
                "store_id": request.store_id,
                "terminal_id": request.terminal_id,
                "notify_url": request.notify_url,
                "return_url": request.return_url,
                "buyer": request.buyer_user_id,
                "expires_at": now + request.timeout,
                "now": now,
            },
        )
        row = await cur.fetchone()
        if row is not None:
            return trade_from_row(row)
        cur = await conn.execute(
            f"""
            select {COLUMNS}, request_hash from trade
            where merchant_id = %s and out_trade_no = %s
            """,
            (merchant.id, request.out_trade_no),
        )
        existing = await cur.fetchone()
        if existing is None or existing["request_hash"] != request.fingerprint():
            raise TradeExists(
                "this out_trade_no was already used for a different trade",
                out_trade_no=request.out_trade_no,
            )
        return trade_from_row(existing)

    async def get(
        self, merchant_id: int, *, trade_no: str | None = None, out_trade_no: str | None = None
    ) -> Trade:
        async with self.db.connection() as conn:
            return await self._row(conn, merchant_id, trade_no=trade_no, out_trade_no=out_trade_no)

    async def by_trade_no(self, trade_no: str) -> Trade:
        """A trade found by zhifu's number alone (a consumer scanning its QR code)."""
        async with self.db.connection() as conn:
            return await self._row(conn, None, trade_no=trade_no)

    async def list_trades(
        self,
        merchant_id: int,
        *,
        state: str | None = None,
        limit: int = 50,
        before: int | None = None,
        out_trade_no: str | None = None,
    ) -> list[Trade]:
        """The merchant's trades, newest first; `before` (a trade's id) pages back."""
        if not 1 <= limit <= 500:
            raise InvalidRequest("limit must be between 1 and 500")
        rows = await self.db.fetch_all(
            f"""
            select {COLUMNS} from trade
            where merchant_id = %(merchant)s
              and (%(state)s::text is null or state = %(state)s)
              and (%(out)s::text is null or out_trade_no = %(out)s)
              and (%(before)s::bigint is null or id < %(before)s)
            order by id desc limit %(limit)s
            """,
            {
                "merchant": merchant_id,
                "state": state,
                "out": out_trade_no,
                "before": before,
                "limit": limit,
            },
        )
        return [trade_from_row(row) for row in rows]

    async def list_for_buyer(self, user_id: int, limit: int = 50) -> list[Trade]:
        rows = await self.db.fetch_all(
            f"select {COLUMNS} from trade where buyer_user_id = %s order by id desc limit %s",
            (user_id, limit),
        )
        return [trade_from_row(row) for row in rows]

    async def _row(
        self,
        conn: Conn,
        merchant_id: int | None,
        *,
        trade_no: str | None = None,
        out_trade_no: str | None = None,
        lock: bool = False,
    ) -> Trade:
        if trade_no is None and out_trade_no is None:
            raise InvalidRequest("give trade_no or out_trade_no")
        cur = await conn.execute(
            f"""
            select {COLUMNS} from trade
            where (%(trade_no)s::text is null or trade_no = %(trade_no)s)
              and (%(out)s::text is null or out_trade_no = %(out)s)
              and (%(merchant)s::bigint is null or merchant_id = %(merchant)s)
            {"for update" if lock else ""}
            """,
            {"trade_no": trade_no, "out": out_trade_no, "merchant": merchant_id},
        )
        rows = await cur.fetchall()
        if len(rows) != 1:
            raise TradeNotFound("no such trade", trade_no=trade_no, out_trade_no=out_trade_no)
        return trade_from_row(rows[0])

    async def locked(
        self,
        conn: Conn,
        merchant_id: int | None,
        *,
        trade_no: str | None = None,
        out_trade_no: str | None = None,
    ) -> Trade:
        """The trade, its row locked until the caller's transaction ends."""
        return await self._row(
            conn, merchant_id, trade_no=trade_no, out_trade_no=out_trade_no, lock=True
        )

    async def update(self, conn: Conn, trade: Trade, **changes: Any) -> Trade:
        changes["updated_at"] = self.clock.now()
        assignments = ", ".join(f"{name} = %({name})s" for name in changes)
        cur = await conn.execute(
            f"update trade set {assignments} where id = %(id)s returning {COLUMNS}",
            {**changes, "id": trade.id},
        )
        row = await cur.fetchone()
        assert row is not None
        return trade_from_row(row)

    async def announce(self, conn: Conn, trade: Trade, event_type: str, **more: Any) -> None:
        """Tell the merchant, in this transaction: the trade, and `more` (e.g. the refund)."""
        await emit(
            conn,
            owner=f"merchant:{trade.merchant_id}",
            event_type=event_type,
            payload={**trade.event_data(), **more},
            now=self.clock.now(),
        )

    # Paying.

    async def pay(
        self,
        trade_no: str,
        buyer_user_id: int,
        *,
        pin: str | None = None,
        method: str = "wallet",
    ) -> Trade:
        """The consumer pays a waiting trade from their wallet, with the PIN or within
        their password-free allowance."""
        if pin is not None:
            await self.users.verify_pin(buyer_user_id, pin)
        return await self.db.transaction(
            lambda conn: self.pay_in(
                conn, trade_no, buyer_user_id, pin_checked=pin is not None, method=method
            )
        )

    async def pay_in(
        self, conn: Conn, trade_no: str, buyer_user_id: int, *, pin_checked: bool, method: str
    ) -> Trade:
        trade = await self.locked(conn, None, trade_no=trade_no)
        self._check_payable(trade, buyer_user_id)
        password_free = not pin_checked
        if password_free:
            await self._check_password_free(conn, buyer_user_id, trade.amount)
        merchant = await self.merchants.get(trade.merchant_id, conn)
        fee = trade_fee(trade.amount, merchant.fee_rate_ppm)
        now = self.clock.now()
        changes = await self._move_payment(conn, trade, buyer_user_id, fee, now)
        paid = await self.update(
            conn,
            trade,
            state=next_trade_state(TradeState(trade.state), TradeEvent.PAY),
            buyer_user_id=buyer_user_id,
            fee=fee,
            method=trade.method or method,
            password_free=password_free,
            paid_at=now,
            refund_window_ends_at=now + timedelta(days=merchant.refund_window_days),
            **changes,
        )
        await self.announce(conn, paid, "trade.paid")
        return paid

    async def authorize(self, trade_no: str, buyer_user_id: int, *, pin: str | None) -> Trade:
        """Check, without paying, that the buyer may pay the trade now: it is payable,
        and the PIN matches or the amount fits the password-free allowance. For paths
        that move money before paying (a card top-up), so they charge no card in vain."""

        async def check(conn: Conn) -> Trade:
            trade = await self._row(conn, None, trade_no=trade_no)
            self._check_payable(trade, buyer_user_id)
            if pin is None:
                await self._check_password_free(conn, buyer_user_id, trade.amount)
            return trade

        trade = await self.db.transaction(check)
        if pin is not None:
            await self.users.verify_pin(buyer_user_id, pin)
        return trade

    def _check_payable(self, trade: Trade, buyer_user_id: int) -> None:
        if trade.state == TradeState.TRADE_CLOSED:
            raise TradeClosed("the trade is closed", trade_no=trade.trade_no)
        if trade.state != TradeState.WAIT_BUYER_PAY:
            raise TradePaid("the trade is already paid", trade_no=trade.trade_no)
        if trade.expires_at <= self.clock.now():
            raise TradeExpired("the trade expired before it was paid", trade_no=trade.trade_no)
        if trade.buyer_user_id is not None and trade.buyer_user_id != buyer_user_id:
            raise TradeNotFound("no such trade", trade_no=trade.trade_no)

    async def _check_password_free(self, conn: Conn, user_id: int, amount: int) -> None:
        today = business_day(self.clock.now())
        refusal = await spend_password_free(conn, user_id, amount, today)
        if refusal is not None:
            raise PinRequired(refusal, amount=amount)

    async def _move_payment(
        self, conn: Conn, trade: Trade, buyer_user_id: int, fee: int, now: datetime
    ) -> dict[str, Any]:
        """Move the buyer's money to the merchant, or hold it in escrow for them; return
        the trade's changes that say so."""
        wallet = await wallet_account(conn, buyer_user_id, trade.currency)
        pending, _ = await merchant_accounts(conn, trade.merchant_id, trade.currency)
        if trade.escrow:
            hold = postings.escrow_hold(trade, wallet=wallet, pending=pending)
            held = await postings.apply_one(conn, hold, now)
            return {
                "hold_id": held["hold_id"],
                "escrow_state": EscrowState.PAID,
                "auto_confirm_at": now + AUTO_CONFIRM_AFTER,
            }
        revenue = await postings.revenue_account(conn, trade.currency, beside=pending)
        entry = postings.payment(trade, wallet=wallet, pending=pending, revenue=revenue, fee=fee)
        return {"entry_id": (await postings.apply_one(conn, entry, now))["entry_id"]}


class TradeLifecycle:
    """Closing unpaid trades and finishing paid ones: by the merchant or by the clock."""

    def __init__(self, db: Database, clock: Clock, trades: TradeService) -> None:
        self.db = db
        self.clock = clock
        self.trades = trades

    async def close(
        self, merchant_id: int, *, trade_no: str | None = None, out_trade_no: str | None = None
    ) -> Trade:
        async def work(conn: Conn) -> Trade:
            trade = await self.trades.locked(
                conn, merchant_id, trade_no=trade_no, out_trade_no=out_trade_no
            )
            return await self.close_in(conn, trade, TradeEvent.CLOSE, "closed by the merchant")

        return await self.db.transaction(work)

    async def close_in(self, conn: Conn, trade: Trade, event: TradeEvent, reason: str) -> Trade:
        closed = await self.trades.update(
            conn,
            trade,
            state=next_trade_state(TradeState(trade.state), event),
            close_reason=reason,
            closed_at=self.clock.now(),
        )
        await self.trades.announce(conn, closed, "trade.closed")
        return closed

    async def expire_due(self, limit: int = 500) -> int:
        """Close trades left unpaid past their expiry (worker job)."""
        return await self._sweep(
            "state = 'WAIT_BUYER_PAY' and expires_at <= %s",
            limit,
            lambda conn, trade: self.close_in(conn, trade, TradeEvent.EXPIRE, "expired"),
        )

    async def finish_due(self, limit: int = 500) -> int:
        """Finish paid trades whose refund window has ended (worker job)."""

        async def finish(conn: Conn, trade: Trade) -> Trade:
            state = next_trade_state(TradeState(trade.state), TradeEvent.END_REFUND_WINDOW)
            finished = await self.trades.update(
                conn, trade, state=state, finished_at=self.clock.now()
            )
            await self.trades.announce(conn, finished, "trade.finished")
            return finished

        return await self._sweep(
            "state = 'TRADE_SUCCESS' and refund_window_ends_at <= %s"
            " and (escrow_state is null or escrow_state = 'CONFIRMED')",
            limit,
            finish,
        )

    async def _sweep(self, condition: str, limit: int, step: Any) -> int:
        async def work(conn: Conn) -> int:
            cur = await conn.execute(
                f"""
                select {COLUMNS} from trade where {condition}
                order by id limit %s for update skip locked
                """,
                (self.clock.now(), limit),
            )
            rows = await cur.fetchall()
            for row in rows:
                await step(conn, trade_from_row(row))
            return len(rows)

        return await self.db.transaction(work)
