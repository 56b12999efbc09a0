"""Top-ups and withdrawals: a ledger hold first, then the bank, then post or void.

1. One transaction creates the order (unique per user and idempotency key, so a retry
   finds it) and a ledger hold: a top-up reserves the credit to the wallet from the
   platform's bank clearing account (the wallet's cap is checked); a withdrawal reserves
   the wallet's money (floor and KYC limits are checked) so it cannot be spent twice.
2. After commit, the bank is asked, with the order's reference (the bank dedupes on it).
3. Its final answer posts the hold (succeeded) or voids it (failed). A timeout leaves
   the order pending; the bank's callback or the `resolve_pending` job finishes it.

Finishing locks the order row and acts only on a pending order, so a duplicate callback,
a callback racing the poller, or a retry changes nothing. A crash between steps leaves a
pending order that `resolve_pending` finishes: if the bank never received the request,
it is sent again under the same reference.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.db.due import DuePolling, Job, claim_due
from zhifu.errors import CardUnlinked, IdempotencyConflict, NotFound
from zhifu.funding.bank import (
    BankConnector,
    BankResult,
    BankStatus,
    ChargeRequest,
    PayoutRequest,
)
from zhifu.funding.orders import (
    MAX_POLL_INTERVAL,
    ORDER_COLUMNS,
    POLL_AFTER,
    FundingKind,
    FundingOrder,
    FundingRequest,
    OrderEvent,
    OrderState,
    next_state,
    order_id_of,
)
from zhifu.identity import Card, CardService, UserService, wallet_account
from zhifu.ledger import (
    AccountKind,
    Command,
    CreateHold,
    Ledger,
    Outcome,
    PostHold,
    VoidHold,
    apply,
    book_of,
    system_account,
)
from zhifu.logging import get_logger
from zhifu.money import check_currency, check_minor

log = get_logger("zhifu.funding")

MAX_LIST = 100
R = TypeVar("R")


POLLING = DuePolling(
    "funding_order",
    "state = 'pending'",
    "poll_attempts",
    "next_poll_at",
    POLL_AFTER,
    MAX_POLL_INTERVAL,
)


class FundingService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ledger: Ledger,
        users: UserService,
        cards: CardService,
        bank: BankConnector,
    ) -> None:
        self.db = db
        self.clock = clock
        self.ledger = ledger
        self.users = users
        self.cards = cards
        self.bank = bank

    def jobs(self) -> list[Job]:
        return [("finish-funding-orders", 1.0, self.resolve_pending)]

    # Starting orders.

    async def topup(
        self, user_id: int, card_id: int, amount: int, currency: str, idempotency_key: str
    ) -> FundingOrder:
        """Charge a linked card into the wallet; the order as the bank left it."""
        request = _request(user_id, card_id, FundingKind.TOPUP, amount, currency, idempotency_key)
        return await self._start(request, await self._linked_card(user_id, card_id))

    async def withdraw(
        self,
        user_id: int,
        card_id: int,
        amount: int,
        currency: str,
        pin: str,
        idempotency_key: str,
    ) -> FundingOrder:
        """Pay wallet money out to a linked card or account; needs the payment PIN."""
        request = _request(
            user_id, card_id, FundingKind.WITHDRAWAL, amount, currency, idempotency_key
        )
        card = await self._linked_card(user_id, card_id)
        await self.users.verify_pin(user_id, pin)
        return await self._start(request, card)

    async def _linked_card(self, user_id: int, card_id: int) -> Card:
        card = await self.cards.get(user_id, card_id)
        if card.status != "active":
            raise CardUnlinked(f"{card.kind} {card_id} is no longer linked", card_id=card_id)
        return card

    async def _start(self, request: FundingRequest, card: Card) -> FundingOrder:
        order, created = await self.open(request)
        if not created:
            return order
        return await self.submit(order, card)

    async def open(self, request: FundingRequest) -> tuple[FundingOrder, bool]:
        """Step 1: the order and its hold, committed together; or the order an earlier
        request with the same key opened (False)."""

        async def work(conn: Conn) -> tuple[FundingOrder, bool]:
            order_id = await self._claim(conn, request)
            if order_id is None:
                return await self._replay(conn, request), False
            hold_id = await self._reserve(conn, request, order_id)
            return await self._attach_hold(conn, order_id, hold_id), True

        return await self.db.transaction(work)

    async def _claim(self, conn: Conn, request: FundingRequest) -> int | None:
        """Insert the order; None if the user's key is taken (a concurrent insert of the
        same key waits here until the first commits or rolls back)."""
        now = self.clock.now()
        cur = await conn.execute(
            """
            insert into funding_order (user_id, card_id, kind, amount, currency, state,
                idempotency_key, request_hash, next_poll_at, created_at, updated_at)
            values (%s, %s, %s, %s, %s, 'pending', %s, %s, %s, %s, %s)
            on conflict (user_id, idempotency_key) do nothing
            returning id
            """,
            (
                request.user_id,
                request.card_id,
                str(request.kind),
                request.amount,
                request.currency,
                request.idempotency_key,
                request.request_hash,
                now + POLL_AFTER,
                now,
                now,
            ),
        )
        row = await cur.fetchone()
        return None if row is None else int(row["id"])

    async def _replay(self, conn: Conn, request: FundingRequest) -> FundingOrder:
        cur = await conn.execute(
            f"""
            select {ORDER_COLUMNS}, request_hash from funding_order
            where user_id = %s and idempotency_key = %s
            """,
            (request.user_id, request.idempotency_key),
        )
        row = await cur.fetchone()
        assert row is not None
        if row["request_hash"] != request.request_hash:
            raise IdempotencyConflict(
                "this idempotency key was already used for a different request",
                key=request.idempotency_key,
            )
        return FundingOrder.from_row(row)

    async def _reserve(self, conn: Conn, request: FundingRequest, order_id: int) -> int:
        """The ledger hold of a new order; the ledger's refusal aborts the transaction."""
        wallet = await wallet_account(conn, request.user_id, request.currency)
        book = await book_of(conn, wallet)  # a sandbox wallet is funded by a sandbox bank
        clearing = (
            await system_account(conn, AccountKind.BANK_CLEARING, request.currency, book=book)
        ).id
        debit, credit = (
            (clearing, wallet) if request.kind is FundingKind.TOPUP else (wallet, clearing)
        )
        hold = CreateHold(
            debit_account_id=debit,
            credit_account_id=credit,
            amount=request.amount,
            currency=request.currency,
            kind=request.kind.entry_kind,
            description=f"{request.kind} {order_id}",
            metadata={"funding_order_id": order_id},
        )
        return int((await self._book(conn, hold)).unwrap()["hold_id"])

    async def _book(self, conn: Conn, command: Command) -> Outcome:
        return (await apply(conn, [command], self.clock.now()))[0]

    async def _attach_hold(self, conn: Conn, order_id: int, hold_id: int) -> FundingOrder:
        cur = await conn.execute(
            f"update funding_order set hold_id = %s where id = %s returning {ORDER_COLUMNS}",
            (hold_id, order_id),
        )
        return await _one(cur)

    # Asking the bank and finishing.

    async def submit(self, order: FundingOrder, card: Card) -> FundingOrder:
        """Step 2 and 3: send the order to the bank and book its answer."""
        return await self.finish(order.id, await self._ask_bank(order, card))

    async def _ask_bank(self, order: FundingOrder, card: Card) -> BankResult:
        args = (order.reference, card.token, card.last4, order.amount, order.currency)
        if order.kind is FundingKind.TOPUP:
            return await self._safely(order, self.bank.charge(ChargeRequest(*args)))
        return await self._safely(order, self.bank.payout(PayoutRequest(*args)))

    async def _safely(self, order: FundingOrder, call: Awaitable[R]) -> R | BankResult:
        """The bank's answer; failing to get one leaves the outcome unknown (pending)."""
        try:
            return await call
        except Exception as error:
            log.warning("bank call failed", order_id=order.id, error=type(error).__name__)
            return BankResult(order.reference, BankStatus.PENDING)

    async def finish(self, order_id: int, result: BankResult) -> FundingOrder:
        """Book the bank's final answer on a pending order, exactly once."""

        async def work(conn: Conn) -> FundingOrder:
            order = await self._lock(conn, order_id)
            if not order.pending or not result.final:
                return order
            return await self._settle(conn, order, result)

        return await self.db.transaction(work)

    async def _lock(self, conn: Conn, order_id: int) -> FundingOrder:
        cur = await conn.execute(
            f"select {ORDER_COLUMNS} from funding_order where id = %s for update", (order_id,)
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"funding order {order_id} not found")
        return FundingOrder.from_row(row)

    async def _settle(self, conn: Conn, order: FundingOrder, result: BankResult) -> FundingOrder:
        assert order.hold_id is not None
        succeeded = result.status is BankStatus.SUCCEEDED
        command: Command = PostHold(order.hold_id) if succeeded else VoidHold(order.hold_id)
        event = OrderEvent.BANK_SUCCEEDED if succeeded else OrderEvent.BANK_DECLINED
        failure = None if succeeded else result.decline_reason or "declined"
        outcome = await self._book(conn, command)
        if outcome.error is not None:
            log.error(
                "bank moved money the ledger refused", order_id=order.id, code=outcome.error.code
            )
            event, failure = OrderEvent.BOOKING_REFUSED, outcome.error.code
        return await self._record(conn, order, next_state(order.state, event), result, failure)

    async def _record(
        self,
        conn: Conn,
        order: FundingOrder,
        state: OrderState,
        result: BankResult,
        failure: str | None,
    ) -> FundingOrder:
        now = self.clock.now()
        cur = await conn.execute(
            f"""
            update funding_order
            set state = %s, bank_reference = %s, failure_code = %s, next_poll_at = null,
                updated_at = %s, completed_at = %s
            where id = %s returning {ORDER_COLUMNS}
            """,
            (str(state), result.bank_reference, failure, now, now, order.id),
        )
        return await _one(cur)

    async def on_bank_callback(self, result: BankResult) -> None:
        """The bank's callback: finish the order it names (a repeat changes nothing)."""
        order_id = order_id_of(result.reference)
        if order_id is None:
            log.warning("callback for an unknown reference", reference=result.reference[:40])
            return
        try:
            await self.finish(order_id, result)
        except NotFound:
            log.warning("callback for an unknown order", reference=result.reference)

    # The worker job.

    async def resolve_pending(self, limit: int = 100) -> int:
        """Ask the bank about orders pending past their poll time; return how many of
        them it finished. Orders are claimed with SKIP LOCKED, so workers share them."""
        finished = 0
        for order in await self.db.transaction(lambda conn: self._claim_due(conn, limit)):
            order = await self.finish(order.id, await self._poll(order))
            if not order.pending:
                finished += 1
        return finished

    async def _claim_due(self, conn: Conn, limit: int) -> list[FundingOrder]:
        """Claim due orders and push their next poll back (doubling, up to a cap)."""
        rows = await claim_due(conn, POLLING, ORDER_COLUMNS, self.clock.now(), limit)
        return [FundingOrder.from_row(row) for row in rows]

    async def _poll(self, order: FundingOrder) -> BankResult:
        """The bank's word on a pending order; a request it never received is sent again
        (under the same reference, so it cannot move money twice)."""
        result = await self._safely(order, self.bank.status(order.reference))
        if result is not None:
            return result
        log.info("bank never received the order; sending it again", order_id=order.id)
        card = await self.cards.get(order.user_id, order.card_id)
        return await self._ask_bank(order, card)

    # Reading.

    async def get(self, user_id: int, order_id: int) -> FundingOrder:
        row = await self.db.fetch_one(
            f"select {ORDER_COLUMNS} from funding_order where id = %s and user_id = %s",
            (order_id, user_id),
        )
        if row is None:
            raise NotFound(f"funding order {order_id} not found")
        return FundingOrder.from_row(row)

    async def list(
        self, user_id: int, *, limit: int = 50, before: int | None = None
    ) -> list[FundingOrder]:
        """The user's orders, newest first; `before` pages on from an order id."""
        rows = await self.db.fetch_all(
            f"""
            select {ORDER_COLUMNS} from funding_order
            where user_id = %s and (%s::bigint is null or id < %s)
            order by id desc limit %s
            """,
            (user_id, before, before, max(1, min(limit, MAX_LIST))),
        )
        return [FundingOrder.from_row(row) for row in rows]


def _request(
    user_id: int, card_id: int, kind: FundingKind, amount: int, currency: str, key: str
) -> FundingRequest:
    return FundingRequest(
        user_id=user_id,
        card_id=card_id,
        kind=kind,
        amount=check_minor(amount),
        currency=check_currency(currency),
        idempotency_key=key,
    )


async def _one(cur: Any) -> FundingOrder:
    row = await cur.fetchone()
    assert row is not None
    return FundingOrder.from_row(row)
