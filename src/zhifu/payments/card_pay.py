"""Paying a trade from a linked card: a top-up of exactly the trade's amount, then the
trade paid from the wallet.

A card payment is built from two movements that exist, not a second way to move money:

1. `FundingService.topup` charges the card for the trade's amount into the consumer's
   wallet. A top-up already waits on a ledger hold (bank clearing -> wallet) until the
   bank confirms: that is the "hold until the bank confirms" of a card payment.
2. When the bank confirms, `TradeService.pay_in` pays the trade from the wallet, in the
   same transaction that marks the card payment `paid`.

Each attempt is a `card_payment` row, committed before the card is charged. Its funding
key names the trade, the consumer, the card and the attempt, so a double submission (or a
retry after a crash) charges the card once; at most one attempt per trade and consumer is
in flight. If the bank declines, the attempt fails and the trade keeps waiting. If the
bank times out, the attempt stays `charging` and the `complete-card-payments` job finishes
it once the funding order has its answer (the funding worker asks the bank). If the trade
can no longer be paid by then (closed, expired, paid another way), the attempt ends
`kept_in_wallet`: the card was charged and the money stays in the consumer's wallet.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.db.due import DuePolling, claim_due
from zhifu.errors import (
    Conflict,
    InvalidStateTransition,
    ServiceUnavailable,
    ZhifuError,
)
from zhifu.funding import FundingOrder, FundingService, OrderState
from zhifu.logging import get_logger
from zhifu.payments.model import Trade
from zhifu.payments.trades import TradeService

log = get_logger("zhifu.payments.card")

# The job first looks at an attempt CHECK_FIRST after it began (a request that died
# before asking the bank is resumed then), then twice as long each time, up to CHECK_MOST.
CHECK_FIRST = timedelta(seconds=2)
CHECK_MOST = timedelta(minutes=1)
CHECKS = DuePolling(
    "card_payment", "state = 'charging'", "checks", "next_check_at", CHECK_FIRST, CHECK_MOST
)
FUNDING_REVIEW = "funding_review"


class CardPaymentState(StrEnum):
    CHARGING = "charging"  # the card charge is asked; the bank's final answer is awaited
    PAID = "paid"  # the bank confirmed, and the trade was paid from the wallet
    FAILED = "failed"  # nothing reached the wallet: declined, or the top-up was refused
    KEPT_IN_WALLET = "kept_in_wallet"  # charged, but the trade could not be paid


CARD_PAYMENT_TRANSITIONS: dict[CardPaymentState, frozenset[CardPaymentState]] = {
    CardPaymentState.CHARGING: frozenset(
        {CardPaymentState.PAID, CardPaymentState.FAILED, CardPaymentState.KEPT_IN_WALLET}
    ),
}


def check_transition(state: CardPaymentState, target: CardPaymentState) -> None:
    if target not in CARD_PAYMENT_TRANSITIONS.get(state, frozenset()):
        raise InvalidStateTransition(
            f"a {state} card payment cannot become {target}", state=state, target=target
        )


class CardDeclined(ZhifuError):
    code = "card_declined"
    status = 402
    title = "Card declined"


class CardPaymentInProgress(Conflict):
    code = "card_payment_in_progress"
    title = "A card payment of this trade is waiting for the bank"


class ChargedToWallet(Conflict):
    code = "card_charged_to_wallet"
    title = "The card was charged into the wallet, but the trade was not paid"


@dataclass(frozen=True, slots=True)
class CardPayment:
    id: int
    trade_id: int
    trade_no: str
    user_id: int
    card_id: int
    attempt: int
    funding_key: str
    funding_order_id: int | None
    password_free: bool
    method: str
    state: CardPaymentState
    failure_code: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CardPayment:
        values = {f.name: row[f.name] for f in fields(cls)}
        return cls(**{**values, "state": CardPaymentState(row["state"])})

    @property
    def charging(self) -> bool:
        return self.state is CardPaymentState.CHARGING

    def error(self) -> ZhifuError | None:
        """What to tell the consumer about an attempt that did not pay the trade."""
        if self.state is CardPaymentState.FAILED:
            return CardDeclined(
                f"the card payment failed: {self.failure_code}",
                decline_reason=self.failure_code,
                card_id=self.card_id,
            )
        if self.state is CardPaymentState.KEPT_IN_WALLET:
            return ChargedToWallet(
                "the card was charged, but the trade could not be paid "
                f"({self.failure_code}): the money is in your wallet",
                reason=self.failure_code,
                card_id=self.card_id,
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "trade_no": self.trade_no,
            "card_id": self.card_id,
            "attempt": self.attempt,
            "funding_order_id": self.funding_order_id,
            "state": str(self.state),
            "failure_code": self.failure_code,
            "created_at": self.created_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }


COLUMNS = ", ".join(f.name for f in fields(CardPayment))


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """A payment's outcome: `paid`, or `pending` while the bank confirms a card charge."""

    status: Literal["paid", "pending"]
    trade: Trade
    card_payment: CardPayment | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "trade": self.trade.to_dict(),
            "card_payment": self.card_payment.to_dict() if self.card_payment else None,
        }


def funding_key(trade_no: str, user_id: int, card_id: int, attempt: int) -> str:
    """The top-up's idempotency key: one charge per trade, consumer, card and attempt."""
    return f"trade:{trade_no}:user:{user_id}:card:{card_id}:attempt:{attempt}"


class CardPayments:
    def __init__(
        self, db: Database, clock: Clock, trades: TradeService, funding: FundingService
    ) -> None:
        self.db = db
        self.clock = clock
        self.trades = trades
        self.funding = funding

    async def pay(
        self,
        trade_no: str,
        buyer_user_id: int,
        card_id: int,
        *,
        pin: str | None = None,
        method: str = "wallet",
    ) -> PaymentResult:
        """Pay a waiting trade from a linked card; `pending` if the bank has not answered
        for good. A decline raises CardDeclined and the trade keeps waiting."""
        trade = await self.trades.authorize(trade_no, buyer_user_id, pin=pin)
        payment = await self.db.transaction(
            lambda conn: self._begin(conn, trade, buyer_user_id, card_id, pin is None, method)
        )
        payment = await self._advance(payment)
        error = payment.error()
        if error is not None:
            raise error
        if payment.charging:
            return PaymentResult("pending", trade, payment)
        return PaymentResult("paid", await self.trades.by_trade_no(trade_no), payment)

    async def latest(self, trade_no: str, buyer_user_id: int) -> CardPayment | None:
        """The consumer's most recent card payment attempt of the trade, if any."""
        row = await self.db.fetch_one(
            f"""
            select {COLUMNS} from card_payment
            where trade_id = (select id from trade where trade_no = %s) and user_id = %s
            order by id desc limit 1
            """,
            (trade_no, buyer_user_id),
        )
        return None if row is None else CardPayment.from_row(row)

    # Starting an attempt.

    async def _begin(
        self,
        conn: Conn,
        trade: Trade,
        user_id: int,
        card_id: int,
        password_free: bool,
        method: str,
    ) -> CardPayment:
        """The attempt in flight for this trade and consumer, or a new one."""
        payment = await self._in_flight(conn, trade.id, user_id)
        if payment is None:
            payment = await self._insert(conn, trade, user_id, card_id, password_free, method)
        if payment is None:  # a concurrent submission inserted it first
            payment = await self._in_flight(conn, trade.id, user_id)
        assert payment is not None
        if payment.card_id != card_id:
            raise CardPaymentInProgress(
                "another card's payment of this trade is waiting for the bank",
                trade_no=trade.trade_no,
                card_id=payment.card_id,
            )
        return payment

    async def _in_flight(self, conn: Conn, trade_id: int, user_id: int) -> CardPayment | None:
        cur = await conn.execute(
            f"""
            select {COLUMNS} from card_payment
            where trade_id = %s and user_id = %s and state = 'charging' for update
            """,
            (trade_id, user_id),
        )
        row = await cur.fetchone()
        return None if row is None else CardPayment.from_row(row)

    async def _insert(
        self,
        conn: Conn,
        trade: Trade,
        user_id: int,
        card_id: int,
        password_free: bool,
        method: str,
    ) -> CardPayment | None:
        """A new attempt (one more than this card's earlier ones), or None if another
        attempt of the trade and consumer got in first."""
        cur = await conn.execute(
            "select count(*) as earlier from card_payment"
            " where trade_id = %s and user_id = %s and card_id = %s",
            (trade.id, user_id, card_id),
        )
        row = await cur.fetchone()
        assert row is not None
        attempt = int(row["earlier"]) + 1
        now = self.clock.now()
        cur = await conn.execute(
            f"""
            insert into card_payment (trade_id, trade_no, user_id, card_id, attempt,
                funding_key, password_free, method, state, next_check_at, created_at,
                updated_at)
            values (%s, %s, %s, %s, %s, %s, %s, %s, 'charging', %s, %s, %s)
            on conflict (trade_id, user_id) where state = 'charging' do nothing
            returning {COLUMNS}
            """,
            (
                trade.id,
                trade.trade_no,
                user_id,
                card_id,
                attempt,
                funding_key(trade.trade_no, user_id, card_id, attempt),
                password_free,
                method,
                now + CHECK_FIRST,
                now,
                now,
            ),
        )
        row = await cur.fetchone()
        return None if row is None else CardPayment.from_row(row)

    # Moving an attempt along.

    async def _advance(self, payment: CardPayment) -> CardPayment:
        """Charge the card (or look up the charge) and act on the bank's answer. A top-up
        zhifu refuses before asking the bank fails the attempt and is raised."""
        try:
            order = await self._funding_order(payment)
        except ServiceUnavailable:
            raise
        except ZhifuError as error:
            await self._finish(payment, CardPaymentState.FAILED, None, error.code)
            raise
        return await self._settle(payment, order)

    async def _funding_order(self, payment: CardPayment) -> FundingOrder:
        """The attempt's top-up: asked for now (the same key replays an earlier request,
        so the card is charged once), or looked up once known."""
        if payment.funding_order_id is not None:
            return await self.funding.get(payment.user_id, payment.funding_order_id)
        trade = await self.trades.by_trade_no(payment.trade_no)
        return await self.funding.topup(
            payment.user_id, payment.card_id, trade.amount, trade.currency, payment.funding_key
        )

    async def _settle(self, payment: CardPayment, order: FundingOrder) -> CardPayment:
        if order.pending:
            return await self._note_order(payment, order)
        if order.state is OrderState.SUCCEEDED:
            return await self._pay_trade(payment, order)
        reason = order.failure_code if order.state is OrderState.FAILED else FUNDING_REVIEW
        return await self._finish(payment, CardPaymentState.FAILED, order.id, reason or "declined")

    async def _note_order(self, payment: CardPayment, order: FundingOrder) -> CardPayment:
        row = await self.db.fetch_one(
            f"""
            update card_payment set funding_order_id = %s, updated_at = %s
            where id = %s returning {COLUMNS}
            """,
            (order.id, self.clock.now(), payment.id),
        )
        assert row is not None
        return CardPayment.from_row(row)

    async def _pay_trade(self, payment: CardPayment, order: FundingOrder) -> CardPayment:
        """Pay the trade from the wallet the card filled and mark the attempt paid, in one
        transaction; if the trade cannot be paid, the money stays in the wallet."""

        async def work(conn: Conn) -> CardPayment:
            current = await self._lock(conn, payment.id)
            if not current.charging:
                return current
            try:
                async with conn.transaction():  # a savepoint: a refusal undoes only this
                    await self.trades.pay_in(
                        conn,
                        current.trade_no,
                        current.user_id,
                        pin_checked=not current.password_free,
                        method=current.method,
                    )
            except ZhifuError as error:
                log.info("card charged into the wallet", card_payment=current.id, code=error.code)
                return await self._transition(
                    conn, current, CardPaymentState.KEPT_IN_WALLET, order.id, error.code
                )
            return await self._transition(conn, current, CardPaymentState.PAID, order.id, None)

        return await self.db.transaction(work)

    async def _finish(
        self,
        payment: CardPayment,
        state: CardPaymentState,
        order_id: int | None,
        failure: str | None,
    ) -> CardPayment:
        async def work(conn: Conn) -> CardPayment:
            current = await self._lock(conn, payment.id)
            if not current.charging:
                return current
            return await self._transition(conn, current, state, order_id, failure)

        return await self.db.transaction(work)

    async def _lock(self, conn: Conn, payment_id: int) -> CardPayment:
        cur = await conn.execute(
            f"select {COLUMNS} from card_payment where id = %s for update", (payment_id,)
        )
        row = await cur.fetchone()
        assert row is not None
        return CardPayment.from_row(row)

    async def _transition(
        self,
        conn: Conn,
        payment: CardPayment,
        state: CardPaymentState,
        order_id: int | None,
        failure: str | None,
    ) -> CardPayment:
        check_transition(payment.state, state)
        now = self.clock.now()
        cur = await conn.execute(
            f"""
            update card_payment
            set state = %s, funding_order_id = coalesce(%s, funding_order_id),
                failure_code = %s, next_check_at = null, updated_at = %s, completed_at = %s
            where id = %s returning {COLUMNS}
            """,
            (str(state), order_id, failure, now, now, payment.id),
        )
        row = await cur.fetchone()
        assert row is not None
        return CardPayment.from_row(row)

    # The worker job.

    async def complete_due(self, limit: int = 100) -> int:
        """Move along attempts still charging past their check time (the bank answered
        late, or the request died before asking it); return how many were finished.
        Attempts are claimed with SKIP LOCKED, so workers share them."""
        finished = 0
        for payment in await self.db.transaction(lambda conn: self._claim_due(conn, limit)):
            try:
                advanced = await self._advance(payment)
            except ZhifuError as error:
                log.warning("card payment refused", card_payment=payment.id, code=error.code)
                finished += not isinstance(error, ServiceUnavailable)
                continue
            finished += not advanced.charging
        return finished

    async def _claim_due(self, conn: Conn, limit: int) -> list[CardPayment]:
        """Claim due attempts and push their next check back (doubling, up to a cap)."""
        rows = await claim_due(conn, CHECKS, COLUMNS, self.clock.now(), limit)
        return [CardPayment.from_row(row) for row in rows]
