"""The trade: a merchant's order as a value, with the rules every page and API asks of
it (can it be paid, how much can still be refunded, what its buyer may do next), so
that no router derives them again.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from zhifu.db import idempotency
from zhifu.errors import InvalidRequest
from zhifu.money import check_currency, check_minor, format_decimal
from zhifu.payments.states import EscrowState, TradeState

DEFAULT_TIMEOUT = timedelta(minutes=15)
MAX_TIMEOUT = timedelta(days=15)
METHODS = ("qr", "static_qr", "payment_code", "checkout", "tap", "wallet")
# An escrow trade confirms itself this long after its buyer paid, if nothing else happens.
AUTO_CONFIRM_AFTER = timedelta(days=10)
PAID_STATES = (TradeState.TRADE_SUCCESS, TradeState.TRADE_FINISHED)
# What a guaranteed trade's buyer may do, by the state of its escrow.
BUYER_CAN_CONFIRM = (EscrowState.PAID, EscrowState.SHIPPED)
BUYER_CAN_ASK_REFUND = (EscrowState.PAID, EscrowState.SHIPPED)


@dataclass(frozen=True, slots=True)
class Trade:
    id: int
    trade_no: str
    merchant_id: int
    out_trade_no: str
    amount: int
    currency: str
    subject: str
    state: str
    method: str | None
    escrow: bool
    escrow_state: str | None
    buyer_user_id: int | None
    fee: int
    refunded_amount: int
    refunded_fee: int
    store_id: int | None
    terminal_id: int | None
    hold_id: int | None
    entry_id: int | None
    notify_url: str | None
    return_url: str | None
    close_reason: str | None
    password_free: bool
    expires_at: datetime
    paid_at: datetime | None
    refund_window_ends_at: datetime | None
    auto_confirm_at: datetime | None
    closed_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        body = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in body.items():
            if isinstance(value, datetime):
                body[name] = value.isoformat()
        body["net_amount"] = self.net_amount
        for name in ("amount", "fee", "refunded_amount", "net_amount"):
            body[f"{name}_decimal"] = format_decimal(getattr(self, name), self.currency)
        return body

    @property
    def net_amount(self) -> int:
        """What the merchant keeps (or will, once escrow releases it): the amount not
        refunded less the fee not returned; nothing for an unpaid trade."""
        if self.paid_at is None:
            return 0
        return self.amount - self.refunded_amount - (self.fee - self.refunded_fee)

    def payable(self, now: datetime) -> bool:
        """Waiting for its buyer, and not past its time."""
        return self.state == TradeState.WAIT_BUYER_PAY and self.expires_at > now

    @property
    def paid(self) -> bool:
        return self.state in PAID_STATES

    @property
    def refundable_amount(self) -> int:
        """What a refund may still return: nothing unless the trade is paid and its money
        has reached the merchant (an escrow trade refunds through its escrow until then)."""
        if self.state != TradeState.TRADE_SUCCESS:
            return 0
        if self.escrow and self.escrow_state != EscrowState.CONFIRMED:
            return 0
        return self.amount - self.refunded_amount

    def buyer_can_confirm(self, user_id: int) -> bool:
        return self.buyer_user_id == user_id and self.escrow_state in BUYER_CAN_CONFIRM

    def buyer_can_ask_refund(self, user_id: int) -> bool:
        return self.buyer_user_id == user_id and self.escrow_state in BUYER_CAN_ASK_REFUND

    def event_data(self) -> dict[str, Any]:
        """What a merchant's webhook says about the trade."""
        keep = (
            "trade_no", "out_trade_no", "amount", "amount_decimal", "currency", "subject",
            "state", "method", "escrow", "escrow_state", "fee", "refunded_amount", "paid_at",
            "closed_at", "close_reason",
        )  # fmt: skip
        body = self.to_dict()
        return {name: body[name] for name in keep}


COLUMNS = ", ".join(f.name for f in fields(Trade))


def trade_from_row(row: dict[str, Any]) -> Trade:
    return Trade(**{f.name: row[f.name] for f in fields(Trade)})


def _check_text(value: str, name: str, longest: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= longest or not value.isprintable():
        raise InvalidRequest(f"{name} has 1 to {longest} printable characters")
    return value


def _check_url(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if not value.startswith(("http://", "https://")) or len(value) > 2000:
        raise InvalidRequest(f"{name} must be an http(s) URL")
    return value


@dataclass(frozen=True, slots=True)
class NewTrade:
    """What a merchant asks for when it creates a trade."""

    out_trade_no: str
    amount: int
    subject: str
    currency: str = "CNY"
    timeout: timedelta = DEFAULT_TIMEOUT
    escrow: bool = False
    store_id: int | None = None
    terminal_id: int | None = None
    notify_url: str | None = None
    return_url: str | None = None
    buyer_user_id: int | None = None
    method: str | None = None

    def checked(self) -> NewTrade:
        _check_text(self.out_trade_no, "out_trade_no", 64)
        _check_text(self.subject, "subject", 256)
        check_minor(self.amount)
        check_currency(self.currency)
        _check_url(self.notify_url, "notify_url")
        _check_url(self.return_url, "return_url")
        if not timedelta(minutes=1) <= self.timeout <= MAX_TIMEOUT:
            raise InvalidRequest("a trade times out between 1 minute and 15 days")
        return self

    def fingerprint(self) -> str:
        """The parts of the request that must match when out_trade_no is sent again."""
        return idempotency.request_hash(
            {
                "amount": self.amount,
                "currency": self.currency,
                "subject": self.subject,
                "escrow": self.escrow,
                "store_id": self.store_id,
            }
        )
