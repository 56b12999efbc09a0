"""Guaranteed (escrow) trades: the buyer's money waits in a ledger hold until receipt.

Paying creates a hold from the buyer's wallet to the merchant's pending settlement
account. Confirmation, by the buyer or by the timeout the worker applies, posts the hold
and takes the fee; an agreed refund, or a dispute decided for the buyer, voids it and the
money never left the buyer's wallet. See states.py for the transitions.
"""

from __future__ import annotations

from typing import Any

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.db.idempotency import buyer_scope, merchant_scope, remember, replayed
from zhifu.ledger import apply
from zhifu.merchants import merchant_accounts
from zhifu.payments import postings
from zhifu.payments.errors import TradeNotFound
from zhifu.payments.model import Trade
from zhifu.payments.states import EscrowEvent, EscrowState, TradeState, next_escrow_state
from zhifu.payments.trades import TradeService


class EscrowService:
    def __init__(self, db: Database, clock: Clock, trades: TradeService) -> None:
        self.db = db
        self.clock = clock
        self.trades = trades

    # Each step of a buyer or seller may carry an idempotency key: a retry with it returns
    # the trade as it is now instead of refusing a step already taken.

    async def ship(self, merchant_id: int, trade_no: str, *, key: str | None = None) -> Trade:
        return await self._step(EscrowEvent.SHIP, trade_no, merchant_id=merchant_id, key=key)

    async def confirm(self, buyer_user_id: int, trade_no: str, *, key: str | None = None) -> Trade:
        return await self._step(EscrowEvent.CONFIRM, trade_no, buyer_user_id=buyer_user_id, key=key)

    async def request_refund(
        self, buyer_user_id: int, trade_no: str, *, key: str | None = None
    ) -> Trade:
        return await self._step(
            EscrowEvent.REQUEST_REFUND, trade_no, buyer_user_id=buyer_user_id, key=key
        )

    async def answer_refund(
        self, merchant_id: int, trade_no: str, *, agree: bool, key: str | None = None
    ) -> Trade:
        event = EscrowEvent.AGREE_REFUND if agree else EscrowEvent.REFUSE_REFUND
        return await self._step(event, trade_no, merchant_id=merchant_id, key=key)

    async def decide_dispute(self, trade_no: str, *, for_buyer: bool) -> Trade:
        """An operator's ruling on a disputed trade."""
        event = EscrowEvent.RULE_FOR_BUYER if for_buyer else EscrowEvent.RULE_FOR_SELLER
        return await self._step(event, trade_no)

    async def auto_confirm_due(self, limit: int = 200) -> int:
        """Confirm escrow trades whose buyer did nothing before the deadline (worker job)."""

        async def work(conn: Conn) -> int:
            cur = await conn.execute(
                """
                select trade_no from trade
                where escrow_state in ('PAID', 'SHIPPED') and auto_confirm_at <= %s
                order by auto_confirm_at limit %s for update skip locked
                """,
                (self.clock.now(), limit),
            )
            rows = await cur.fetchall()
            for row in rows:
                await self._step_in(conn, EscrowEvent.AUTO_CONFIRM, row["trade_no"])
            return len(rows)

        return await self.db.transaction(work)

    async def _step(
        self,
        event: EscrowEvent,
        trade_no: str,
        *,
        merchant_id: int | None = None,
        buyer_user_id: int | None = None,
        key: str | None = None,
    ) -> Trade:
        scope = buyer_scope(buyer_user_id) if buyer_user_id else merchant_scope(merchant_id or 0)
        request = {"escrow": event.value, "trade_no": trade_no}

        async def work(conn: Conn) -> Trade:
            if await replayed(conn, scope, key, request) is not None:
                return await self.trades.locked(conn, merchant_id, trade_no=trade_no)
            trade = await self._step_in(conn, event, trade_no, merchant_id, buyer_user_id)
            await remember(conn, scope, key, request)
            return trade

        return await self.db.transaction(work)

    async def _step_in(
        self,
        conn: Conn,
        event: EscrowEvent,
        trade_no: str,
        merchant_id: int | None = None,
        buyer_user_id: int | None = None,
    ) -> Trade:
        trade = await self.trades.locked(conn, merchant_id, trade_no=trade_no)
        if not trade.escrow or trade.escrow_state is None:
            raise TradeNotFound("no such escrow trade", trade_no=trade_no)
        if buyer_user_id is not None and trade.buyer_user_id != buyer_user_id:
            raise TradeNotFound("no such escrow trade", trade_no=trade_no)
        state = next_escrow_state(EscrowState(trade.escrow_state), event)
        changes: dict[str, Any] = {"escrow_state": state}
        if state == EscrowState.CONFIRMED:
            changes["entry_id"] = await self._release_to_merchant(conn, trade)
        elif state == EscrowState.REFUNDED:
            await postings.apply_one(
                conn, postings.escrow_refund(self._hold(trade)), self.clock.now()
            )
            changes |= {
                "state": TradeState.TRADE_CLOSED,
                "refunded_amount": trade.amount,
                "refunded_fee": trade.fee,  # never taken: the hold is voided
                "close_reason": "refunded",
                "closed_at": self.clock.now(),
            }
        updated = await self.trades.update(conn, trade, **changes)
        await self.trades.announce(conn, updated, f"trade.escrow.{state.lower()}")
        return updated

    def _hold(self, trade: Trade) -> int:
        assert trade.hold_id is not None
        return trade.hold_id

    async def _release_to_merchant(self, conn: Conn, trade: Trade) -> int:
        """Post the hold to the merchant and take the fee, in one ledger call."""
        pending, _ = await merchant_accounts(conn, trade.merchant_id, trade.currency)
        revenue = await postings.revenue_account(conn, trade.currency, beside=pending)
        commands = postings.escrow_release(
            trade, hold_id=self._hold(trade), pending=pending, revenue=revenue
        )
        results = [o.unwrap() for o in await apply(conn, commands, self.clock.now())]
        return int(results[0]["entry_id"])
