"""Refunds, in part or whole, several per trade, each idempotent by out_request_no.

A refund returns the buyer's money from the merchant's pending settlement first, then its
available balance, and returns the platform's fee in proportion (see fees.py). The trade
row is locked for the whole refund, so concurrent refunds of one trade are decided one
after another and their total can never exceed what was paid (a CHECK says so too).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from zhifu.clock import Clock
from zhifu.db import idempotency
from zhifu.db.database import Conn, Database
from zhifu.db.idempotency import merchant_scope, remember, replayed
from zhifu.errors import InsufficientFunds, InvalidRequest
from zhifu.identity import wallet_account
from zhifu.merchants import merchant_debit
from zhifu.money import check_minor, format_decimal
from zhifu.payments import postings
from zhifu.payments.errors import (
    MerchantInsufficientFunds,
    RefundExists,
    RefundTooLarge,
    TradeNotRefundable,
)
from zhifu.payments.fees import refund_fee
from zhifu.payments.model import Trade
from zhifu.payments.states import EscrowState, TradeEvent, TradeState
from zhifu.payments.trades import TradeLifecycle, TradeService


@dataclass(frozen=True, slots=True)
class Refund:
    id: int
    trade_no: str
    out_request_no: str
    amount: int
    fee_refund: int
    currency: str
    reason: str
    entry_id: int | None
    created_at: datetime
    # True when this call found the refund made before (the same out_request_no or key)
    # and so moved no money: what Alipay's fund_change says.
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "trade_no": self.trade_no,
            "out_request_no": self.out_request_no,
            "amount": self.amount,
            "amount_decimal": format_decimal(self.amount, self.currency),
            "fee_refund": self.fee_refund,
            "fee_refund_decimal": format_decimal(self.fee_refund, self.currency),
            # What leaves the merchant's balance: the refund less the fee it returns.
            "net_amount": self.amount - self.fee_refund,
            "net_amount_decimal": format_decimal(self.amount - self.fee_refund, self.currency),
            "currency": self.currency,
            "reason": self.reason,
            "entry_id": self.entry_id,
            "created_at": self.created_at.isoformat(),
        }


_SELECT = """
    select r.id, t.trade_no, r.out_request_no, r.amount, r.fee_refund, t.currency, r.reason,
           r.entry_id, r.created_at, r.request_hash
    from refund r join trade t on t.id = r.trade_id
"""


def _refund(row: dict[str, Any]) -> Refund:
    return Refund(**{k: v for k, v in row.items() if k != "request_hash"})


class RefundService:
    def __init__(
        self, db: Database, clock: Clock, trades: TradeService, lifecycle: TradeLifecycle
    ) -> None:
        self.db = db
        self.clock = clock
        self.trades = trades
        self.lifecycle = lifecycle

    async def refund(
        self,
        merchant_id: int,
        *,
        out_request_no: str,
        amount: int,
        reason: str = "",
        trade_no: str | None = None,
        out_trade_no: str | None = None,
        idempotency_key: str | None = None,
    ) -> Refund:
        """Refund `amount` of a paid trade. `out_request_no` decides whether money moves
        (the same number again returns the first refund); an idempotency key, when
        given, is bound to this exact request (see zhifu.db.idempotency)."""
        check_minor(amount)
        if not isinstance(out_request_no, str) or not 1 <= len(out_request_no) <= 64:
            raise InvalidRequest("out_request_no has 1 to 64 characters")
        if not isinstance(reason, str) or len(reason) > 256:
            raise InvalidRequest("a refund reason has at most 256 characters")
        scope = merchant_scope(merchant_id)
        request = {
            "refund": [trade_no, out_trade_no],
            "out_request_no": out_request_no,
            "amount": amount,
            "reason": reason,
        }

        async def work(conn: Conn) -> Refund:
            earlier = await replayed(conn, scope, idempotency_key, request)
            if earlier is not None:
                return replace(await self._by_id(conn, earlier["refund_id"]), replayed=True)
            trade = await self.trades.locked(
                conn, merchant_id, trade_no=trade_no, out_trade_no=out_trade_no
            )
            refund = await self.refund_in(conn, trade, out_request_no, amount, reason)
            await remember(conn, scope, idempotency_key, {"refund_id": refund.id})
            return refund

        return await self.db.transaction(work)

    async def refund_in(
        self, conn: Conn, trade: Trade, out_request_no: str, amount: int, reason: str
    ) -> Refund:
        digest = idempotency.request_hash({"amount": amount})
        earlier = await self._earlier(conn, trade, out_request_no, digest)
        if earlier is not None:
            return earlier
        self._check_refundable(trade, amount)
        fee_back = refund_fee(trade.fee, trade.amount, trade.refunded_amount, amount)
        entry_id = await self._move_refund(conn, trade, amount, fee_back)
        cur = await conn.execute(
            """
            insert into refund (trade_id, out_request_no, request_hash, amount, fee_refund,
                                reason, entry_id, created_at)
            values (%s, %s, %s, %s, %s, %s, %s, %s) returning id
            """,
            (
                trade.id,
                out_request_no,
                digest,
                amount,
                fee_back,
                reason,
                entry_id,
                self.clock.now(),
            ),
        )
        row = await cur.fetchone()
        assert row is not None
        refunded = trade.refunded_amount + amount
        updated = await self.trades.update(
            conn, trade, refunded_amount=refunded, refunded_fee=trade.refunded_fee + fee_back
        )
        refund = await self._by_id(conn, row["id"])
        await self.trades.announce(conn, updated, "trade.refunded", refund=refund.to_dict())
        if refunded == trade.amount:
            await self.lifecycle.close_in(conn, updated, TradeEvent.REFUND_ALL, "refunded")
        return refund

    async def _earlier(
        self, conn: Conn, trade: Trade, out_request_no: str, digest: str
    ) -> Refund | None:
        cur = await conn.execute(
            _SELECT + " where r.trade_id = %s and r.out_request_no = %s",
            (trade.id, out_request_no),
        )
        row = await cur.fetchone()
        if row is None:
            return None
        if row["request_hash"] != digest:
            raise RefundExists(
                "this out_request_no was already used for a different refund",
                out_request_no=out_request_no,
            )
        return replace(_refund(row), replayed=True)

    def _check_refundable(self, trade: Trade, amount: int) -> None:
        if trade.state != TradeState.TRADE_SUCCESS:
            raise TradeNotRefundable(
                f"a trade in {trade.state} cannot be refunded",
                trade_no=trade.trade_no,
                state=trade.state,
            )
        if trade.escrow and trade.escrow_state != EscrowState.CONFIRMED:
            raise InvalidRequest(
                "the money of this guaranteed trade is still in escrow: "
                "refund it through the escrow refund request"
            )
        left = trade.amount - trade.refunded_amount
        if amount > left:
            raise RefundTooLarge(
                "the refund exceeds what is left to refund", requested=amount, refundable=left
            )

    async def _move_refund(self, conn: Conn, trade: Trade, amount: int, fee_back: int) -> int:
        """Merchant (pending first, then available) + platform fee -> buyer's wallet."""
        assert trade.buyer_user_id is not None
        currency = trade.currency
        debit = await merchant_debit(conn, trade.merchant_id, currency, amount - fee_back)
        entry = postings.refund(
            trade,
            wallet=await wallet_account(conn, trade.buyer_user_id, currency),
            merchant_legs=debit.legs,
            revenue=await postings.revenue_account(conn, currency, beside=debit.pending),
            fee_back=fee_back,
            amount=amount,
        )
        try:
            return int((await postings.apply_one(conn, entry, self.clock.now()))["entry_id"])
        except InsufficientFunds as error:
            if debit.refused(error):
                raise MerchantInsufficientFunds(
                    "the merchant's balance cannot cover this refund"
                ) from error
            raise

    async def list_refunds(self, merchant_id: int, trade_no: str) -> list[Refund]:
        async with self.db.connection() as conn:
            trade = await self.trades._row(conn, merchant_id, trade_no=trade_no)
            cur = await conn.execute(_SELECT + " where r.trade_id = %s order by r.id", (trade.id,))
            return [_refund(row) for row in await cur.fetchall()]

    async def _by_id(self, conn: Conn, refund_id: int) -> Refund:
        cur = await conn.execute(_SELECT + " where r.id = %s", (refund_id,))
        row = await cur.fetchone()
        assert row is not None
        return _refund(row)

    async def cancel(
        self,
        merchant_id: int,
        *,
        trade_no: str | None = None,
        out_trade_no: str | None = None,
        idempotency_key: str | None = None,
    ) -> Trade:
        """Close the trade if unpaid; refund it in full if paid. Cancelling a closed
        trade changes nothing, so a retry finds the trade as the first call left it."""
        request = {"cancel": [trade_no, out_trade_no]}

        async def work(conn: Conn) -> Trade:
            scope = merchant_scope(merchant_id)
            await replayed(conn, scope, idempotency_key, request)
            await remember(conn, scope, idempotency_key, request)
            trade = await self.trades.locked(
                conn, merchant_id, trade_no=trade_no, out_trade_no=out_trade_no
            )
            if trade.state == TradeState.TRADE_CLOSED:
                return trade  # cancelling again changes nothing
            if trade.state == TradeState.WAIT_BUYER_PAY:
                return await self.lifecycle.close_in(
                    conn, trade, TradeEvent.CLOSE, "cancelled by the merchant"
                )
            left = trade.amount - trade.refunded_amount
            await self.refund_in(conn, trade, "cancel", left, "cancelled")
            return await self.trades.locked(conn, merchant_id, trade_no=trade.trade_no)

        return await self.db.transaction(work)
