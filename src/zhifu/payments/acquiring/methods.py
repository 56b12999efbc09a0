"""Ways to pay besides the hosted checkout: the merchant's QR code (dynamic or static),
the consumer's payment code, and tap-to-pay.

Merchant-presented QR. `precreate` makes a trade and its EMVCo payload (dynamic: it
names the trade and its amount); a store's static payload names the merchant and store
and the consumer types the amount. The consumer `scan`s a payload to see whom and what
they pay, then pays the trade (`Payments.paying.pay_trade`) or, for a static code,
`pay_static`, which makes the trade and pays it in one transaction under the consumer's
idempotency key.

Payment code and tap. The merchant's terminal submits the consumer's one-time
credential with the order; both go through one path, `_charge`, in one transaction:

1. create the trade for the credential's owner (the same out_trade_no returns it);
2. record the credential as used for that trade (its primary key refuses a second use;
   the same credential sent again for the same trade is the terminal retrying, and
   gets the trade as it stands);
3. pay it within the owner's password-free allowance, in a savepoint. Above the
   allowance only the savepoint rolls back: the trade commits waiting for the owner's
   PIN (they see it in their pending list and confirm it with the PIN), and the
   credential stays used, since it has been spent on that trade.

Any other refusal (insufficient funds, a KYC limit, an expired trade) rolls back the
whole transaction: no trade, and the credential is not used, so the consumer can fix the
cause (top up) and the terminal can submit the same code again while it is still valid.
A paid or closed trade submitted again is returned as it is, and the new credential is
not used.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.db.throttle import RateLimiter
from zhifu.errors import Conflict, IdempotencyConflict, InvalidRequest, NotFound
from zhifu.identity import UserService
from zhifu.inputs import MAX_ID
from zhifu.merchants import Merchant, MerchantService
from zhifu.money import check_currency, format_decimal
from zhifu.payments.acquiring import paycode, tap
from zhifu.payments.acquiring.devices import DeviceService
from zhifu.payments.acquiring.qr import LocalName, MerchantQr
from zhifu.payments.errors import (
    InvalidPaymentCode,
    InvalidQr,
    InvalidTapRequest,
    PinRequired,
    TradeExists,
    TradeNotFound,
)
from zhifu.payments.model import COLUMNS, DEFAULT_TIMEOUT, NewTrade, Trade, trade_from_row
from zhifu.payments.states import TradeState
from zhifu.payments.trades import TradeService

# How long a trade waits for the consumer's PIN at the till.
IN_PERSON_TIMEOUT = timedelta(minutes=5)


class PaymentCodeUsed(Conflict):
    code = "payment_code_used"
    title = "Payment code already used"


class CryptogramReplayed(Conflict):
    code = "cryptogram_replayed"
    title = "Tap cryptogram already used"


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """What a merchant asks a consumer to pay, at a store and terminal or online."""

    out_trade_no: str
    amount: int
    subject: str
    currency: str = "CNY"
    store_id: int | None = None
    terminal_id: int | None = None

    def trade(self, **more: Any) -> NewTrade:
        return NewTrade(
            out_trade_no=self.out_trade_no,
            amount=self.amount,
            subject=self.subject,
            currency=self.currency,
            store_id=self.store_id,
            terminal_id=self.terminal_id,
            **more,
        ).checked()


@dataclass(frozen=True, slots=True, kw_only=True)
class TapSubmission:
    """A tap as the terminal relays it. `terminal_id` is what the device signed: the
    zhifu id of the merchant's terminal, in decimal."""

    tap_token: str
    terminal_id: str
    counter: int
    timestamp: datetime
    cryptogram: str


@dataclass(frozen=True, slots=True)
class _OneTimeUse:
    """A credential that pays once, stored as (key, counter) in its table."""

    table: Literal["used_payment_code", "used_tap"]
    key_column: Literal["device_id", "tap_token"]
    key: int | str
    counter: int
    reused: Conflict


@dataclass(frozen=True, slots=True)
class Precreated:
    trade: Trade
    qr_payload: str


@dataclass(frozen=True, slots=True)
class Scanned:
    """What a consumer sees after scanning: whom they pay, and what, if the code says."""

    merchant: Merchant
    currency: str
    subject: str
    trade: Trade | None = None
    store: dict[str, Any] | None = None

    @property
    def store_id(self) -> int | None:
        return None if self.store is None else int(self.store["id"])

    def to_dict(self) -> dict[str, Any]:
        trade = self.trade
        return {
            "kind": "static" if trade is None else "dynamic",
            "merchant": {
                "id": self.merchant.id,
                "name": self.merchant.name,
                "city": self.merchant.city,
            },
            "amount": trade and trade.amount,
            "amount_decimal": trade and format_decimal(trade.amount, trade.currency),
            "currency": self.currency,
            "subject": self.subject,
            "trade_no": trade and trade.trade_no,
            "state": trade and trade.state,
            "store_id": self.store_id,
            "store_name": self.store and self.store["name"],
        }


def static_order_no(user_id: int, idempotency_key: str) -> str:
    """The out_trade_no of a static-QR payment: one per consumer and idempotency key."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"static-{user_id}-{digest}"


class PaymentMethods:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        users: UserService,
        merchants: MerchantService,
        trades: TradeService,
        devices: DeviceService,
    ) -> None:
        self.db = db
        self.clock = clock
        self.users = users
        self.merchants = merchants
        self.trades = trades
        self.devices = devices
        self.rate_limiter = RateLimiter(db, clock)

    # Merchant-presented QR codes.

    async def precreate(
        self,
        merchant: Merchant,
        order: Order,
        *,
        expires_after: timedelta = DEFAULT_TIMEOUT,
        notify_url: str | None = None,
    ) -> Precreated:
        """A trade and its dynamic QR payload; the same out_trade_no returns the same."""
        order = await self._checked_place(merchant, order)
        request = order.trade(method="qr", timeout=expires_after, notify_url=notify_url)

        async def work(conn: Conn) -> Precreated:
            trade = await self.trades.create_in(conn, merchant, request)
            return Precreated(trade, trade_qr(merchant, trade))

        return await self.db.transaction(work)

    async def trade_qr(self, merchant: Merchant, trade_no: str) -> str:
        """The dynamic QR payload of one of the merchant's trades."""
        return trade_qr(merchant, await self.trades.get(merchant.id, trade_no=trade_no))

    async def store_qr(self, merchant: Merchant, store_id: int, currency: str = "CNY") -> str:
        """The static QR payload of one of the merchant's stores."""
        check_currency(currency)
        await self.merchants.store(merchant.id, store_id)
        qr = MerchantQr(**_qr_merchant(merchant), store_ref=str(store_id), currency=currency)
        return qr.encode()

    async def scan(self, user_id: int, payload: str) -> Scanned:
        """Read a scanned payload: the trade it names, or the merchant and store."""
        qr = MerchantQr.parse(payload)
        if qr.trade_ref is not None:
            return await self._scan_trade(user_id, qr.trade_ref, qr)
        return await self._scan_store(qr)

    async def _scan_trade(self, user_id: int, trade_no: str, qr: MerchantQr) -> Scanned:
        trade = await self.buyer_trade(user_id, trade_no)
        if not _names(qr, trade):
            raise InvalidQr("the code does not match its trade", trade_no=trade_no)
        merchant = await self.merchants.get(trade.merchant_id)
        return Scanned(merchant, trade.currency, trade.subject, trade=trade)

    async def _scan_store(self, qr: MerchantQr) -> Scanned:
        merchant_id = _numeric_ref(qr.merchant_ref, "merchant")
        try:
            merchant = await self.merchants.get(merchant_id)
            store = None
            if qr.store_ref is not None:
                store = await self.merchants.store(merchant_id, _numeric_ref(qr.store_ref, "store"))
        except NotFound:
            raise InvalidQr("the code names no zhifu merchant or store") from None
        subject = store["name"] if store else merchant.name
        return Scanned(merchant, qr.currency, subject, store=store)

    async def pay_static(
        self,
        user_id: int,
        payload: str,
        amount: int,
        *,
        idempotency_key: str,
        pin: str | None = None,
    ) -> Trade:
        """Pay `amount` at a static code: a trade made and paid at once. A retry with the
        same idempotency key returns that trade; with another amount it is refused."""
        qr = MerchantQr.parse(payload)
        if qr.trade_ref is not None:
            raise InvalidQr("this code is for one trade: pay it by its trade_no")
        scanned = await self._scan_store(qr)
        request = NewTrade(
            out_trade_no=static_order_no(user_id, idempotency_key),
            amount=amount,
            subject=scanned.subject,
            currency=scanned.currency,
            store_id=scanned.store_id,
            buyer_user_id=user_id,
            method="static_qr",
        ).checked()
        if pin is not None:
            await self.users.verify_pin(user_id, pin)

        async def work(conn: Conn) -> Trade:
            trade = await self._buyer_trade_in(conn, scanned.merchant, request)
            if trade.state != TradeState.WAIT_BUYER_PAY:
                return trade  # paid by an earlier try with this key
            return await self.trades.pay_in(
                conn, trade.trade_no, user_id, pin_checked=pin is not None, method="static_qr"
            )

        try:
            return await self.db.transaction(work)
        except TradeExists:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used for a different payment",
                key=idempotency_key,
            ) from None

    # The consumer's trades.

    async def buyer_trade(self, user_id: int, trade_no: str) -> Trade:
        """A trade the consumer may see: theirs, or one still waiting for a buyer."""
        trade = await self.trades.by_trade_no(trade_no)
        if trade.buyer_user_id == user_id or (
            trade.buyer_user_id is None and trade.state == TradeState.WAIT_BUYER_PAY
        ):
            return trade
        raise TradeNotFound("no such trade", trade_no=trade_no)

    async def awaiting_buyer(self, user_id: int, limit: int = 50) -> list[Trade]:
        """Trades made for the consumer (payment code, tap) that wait for their PIN."""
        rows = await self.db.fetch_all(
            f"""
            select {COLUMNS} from trade
            where buyer_user_id = %s and state = 'WAIT_BUYER_PAY' and expires_at > %s
            order by id desc limit %s
            """,
            (user_id, self.clock.now(), limit),
        )
        return [trade_from_row(row) for row in rows]

    # Credentials the merchant's terminal submits.

    async def pay_with_code(self, merchant: Merchant, order: Order, auth_code: str) -> Trade:
        """Charge the consumer whose payment code the terminal scanned. Failed lookups
        are rate-limited per merchant and per terminal (see paycode.py, Guessing)."""
        limits = [(paycode.MERCHANT_GUESSES, str(merchant.id))]
        if order.terminal_id is not None:
            limits.append((paycode.TERMINAL_GUESSES, f"{merchant.id}:{order.terminal_id}"))
        async with self.rate_limiter.counting_failures(limits, failures=(InvalidPaymentCode,)):
            device, counter = await self.devices.verify_code(auth_code)
        reused = PaymentCodeUsed("the payment code was already used; ask for a fresh one")
        use = _OneTimeUse("used_payment_code", "device_id", device.id, counter, reused)
        return await self._charge(merchant, order, device.user_id, "payment_code", use)

    async def pay_with_tap(
        self, merchant: Merchant, order: Order, submission: TapSubmission
    ) -> Trade:
        """Charge the consumer whose device signed this tap for this terminal and amount."""
        request = tap.TapRequest(
            token=submission.tap_token,
            terminal_id=submission.terminal_id,
            amount=order.amount,
            currency=order.currency,
            counter=submission.counter,
            timestamp=submission.timestamp,
        )
        terminal_id = await self._signed_terminal(merchant, submission.terminal_id)
        device = await self.devices.tap_device(submission.tap_token)
        assert device.tap_public_key is not None
        now = self.clock.now()
        counter = tap.verify_tap(device.tap_public_key, request, submission.cryptogram, now)
        reused = CryptogramReplayed("this tap was already used; tap again")
        use = _OneTimeUse("used_tap", "tap_token", device.tap_token, counter, reused)
        order = replace(order, terminal_id=terminal_id)
        return await self._charge(merchant, order, device.user_id, "tap", use)

    async def _signed_terminal(self, merchant: Merchant, signed_id: str) -> int:
        """The signed message names no merchant: the terminal binds a tap to one, so it
        must be one of the submitting merchant's terminals."""
        try:
            terminal = await self.merchants.terminal(merchant.id, int(signed_id))
        except (ValueError, NotFound):
            raise InvalidTapRequest(
                "terminal_id must be the id of one of your terminals", field="terminal_id"
            ) from None
        return int(terminal["id"])

    async def _charge(
        self, merchant: Merchant, order: Order, buyer_user_id: int, method: str, use: _OneTimeUse
    ) -> Trade:
        """Create the consumer's trade, spend the credential on it and pay it, or leave it
        waiting for their PIN (see the module docstring for what commits when)."""
        order = await self._checked_place(merchant, order)
        request = order.trade(buyer_user_id=buyer_user_id, method=method, timeout=IN_PERSON_TIMEOUT)

        async def work(conn: Conn) -> Trade:
            trade = await self._buyer_trade_in(conn, merchant, request)
            if trade.state != TradeState.WAIT_BUYER_PAY or not await _use_once(conn, use, trade):
                return trade
            return await self._pay_or_wait(conn, trade, buyer_user_id, method)

        return await self.db.transaction(work)

    async def _pay_or_wait(
        self, conn: Conn, trade: Trade, buyer_user_id: int, method: str
    ) -> Trade:
        try:
            async with conn.transaction():  # a savepoint: PinRequired undoes only this
                return await self.trades.pay_in(
                    conn, trade.trade_no, buyer_user_id, pin_checked=False, method=method
                )
        except PinRequired:
            return trade

    # Shared checks.

    async def _buyer_trade_in(self, conn: Conn, merchant: Merchant, request: NewTrade) -> Trade:
        """The consumer's trade for this order: made now, or the one an earlier try made.

        The buyer's row is locked first, as the password-free check will lock it:
        otherwise two charges of one buyer each hold the foreign-key lock the new trade
        takes on it and wait for the other's (a deadlock)."""
        await conn.execute(
            "select 1 from app_user where id = %s for update", (request.buyer_user_id,)
        )
        trade = await self.trades.create_in(conn, merchant, request)
        if trade.buyer_user_id != request.buyer_user_id:
            raise TradeExists(
                "this out_trade_no was already used for another trade",
                out_trade_no=request.out_trade_no,
            )
        return trade

    async def _checked_place(self, merchant: Merchant, order: Order) -> Order:
        """The order with its store and terminal checked to be the merchant's; a
        terminal's store stands in for a missing store_id."""
        if order.terminal_id is None:
            if order.store_id is not None:
                await self.merchants.store(merchant.id, order.store_id)
            return order
        terminal = await self.merchants.terminal(merchant.id, order.terminal_id)
        if order.store_id not in (None, terminal["store_id"]):
            raise InvalidRequest("the terminal is not in that store", field="terminal_id")
        return replace(order, store_id=terminal["store_id"])


async def _use_once(conn: Conn, use: _OneTimeUse, trade: Trade) -> bool:
    """Record the credential as spent on `trade`: True if it is now; False if it already
    was, on this trade (a terminal's retry); refused if it was spent on another."""
    cur = await conn.execute(
        f"""
        insert into {use.table} ({use.key_column}, counter, trade_id) values (%s, %s, %s)
        on conflict do nothing returning trade_id
        """,
        (use.key, use.counter, trade.id),
    )
    if await cur.fetchone() is not None:
        return True
    cur = await conn.execute(
        f"select trade_id from {use.table} where {use.key_column} = %s and counter = %s",
        (use.key, use.counter),
    )
    earlier = await cur.fetchone()
    if earlier is not None and earlier["trade_id"] == trade.id:
        return False
    raise use.reused


def _names(qr: MerchantQr, trade: Trade) -> bool:
    """Whether a scanned dynamic code agrees with the trade it names."""
    merchant_agrees = qr.merchant_ref in (None, str(trade.merchant_id))
    return merchant_agrees and (qr.amount, qr.currency) == (trade.amount, trade.currency)


def trade_qr(merchant: Merchant, trade: Trade) -> str:
    """The dynamic EMVCo payload of a trade: it carries the trade_no and the amount."""
    qr = MerchantQr(
        **_qr_merchant(merchant),
        store_ref=None if trade.store_id is None else str(trade.store_id),
        trade_ref=trade.trade_no,
        amount=trade.amount,
        currency=trade.currency,
    )
    return qr.encode()


def _qr_merchant(merchant: Merchant) -> dict[str, Any]:
    """The merchant as a QR code names it: ASCII name and city (EMVCo fields 59 and 60),
    and, when those lose characters, the original in the local-language template (64)."""
    name = _ascii(merchant.name, 25) or f"zhifu merchant {merchant.id}"
    city = _ascii(merchant.city, 15) or "-"
    original = (merchant.name[:25], merchant.city[:15])
    local = None
    if (name, city) != original:
        local = LocalName(language="zh", merchant_name=original[0], merchant_city=original[1])
    return {
        "merchant_name": name,
        "merchant_city": city,
        "merchant_category_code": merchant.category_code,
        "merchant_ref": str(merchant.id),
        "local": local,
    }


def _ascii(text: str, longest: int) -> str:
    """Printable ASCII of `text` (accents dropped, other scripts removed), cut to length."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(char for char in decomposed if " " <= char <= "~")
    return " ".join(kept.split())[:longest].strip()


def _numeric_ref(reference: str | None, what: str) -> int:
    if reference is None or not reference.isdigit() or not 0 < int(reference) <= MAX_ID:
        raise InvalidQr(f"the code's {what} reference is not a zhifu id")
    return int(reference)
