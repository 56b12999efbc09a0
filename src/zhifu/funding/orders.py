"""Funding orders: a top-up or a withdrawal, its state machine, its bank reference.

An order is born `pending` with a ledger hold reserving its money. The bank's final
answer moves it once: SUCCEEDED posts the hold (`succeeded`), DECLINED voids it
(`failed`, with the bank's reason). If the ledger refuses to book a movement the bank
has already made (a top-up beyond a balance cap lowered meanwhile), the order goes to
`review` for an operator, its hold left pending. Anything else is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from zhifu.db import idempotency
from zhifu.ledger import EntryKind
from zhifu.money import format_decimal
from zhifu.states import transition

REFERENCE_PREFIX = "fo_"


class FundingKind(StrEnum):
    TOPUP = "topup"
    WITHDRAWAL = "withdrawal"

    @property
    def entry_kind(self) -> EntryKind:
        return EntryKind.TOPUP if self is FundingKind.TOPUP else EntryKind.WITHDRAWAL


class OrderState(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REVIEW = "review"


class OrderEvent(StrEnum):
    BANK_SUCCEEDED = "bank_succeeded"
    BANK_DECLINED = "bank_declined"
    BOOKING_REFUSED = "booking_refused"


ORDER_TRANSITIONS: dict[tuple[OrderState, OrderEvent], OrderState] = {
    (OrderState.PENDING, OrderEvent.BANK_SUCCEEDED): OrderState.SUCCEEDED,
    (OrderState.PENDING, OrderEvent.BANK_DECLINED): OrderState.FAILED,
    (OrderState.PENDING, OrderEvent.BOOKING_REFUSED): OrderState.REVIEW,
}


def next_state(state: OrderState, event: OrderEvent) -> OrderState:
    return transition(ORDER_TRANSITIONS, state, event, "a funding order")


def order_reference(order_id: int) -> str:
    """zhifu's reference for the order at the bank, which dedupes on it."""
    return f"{REFERENCE_PREFIX}{order_id}"


def order_id_of(reference: str) -> int | None:
    """The order a bank reference names, or None if it names none of zhifu's."""
    digits = reference.removeprefix(REFERENCE_PREFIX)
    if reference == digits or not digits.isascii() or not digits.isdigit() or len(digits) > 18:
        return None
    return int(digits)


# The worker first asks the bank about a pending order POLL_AFTER after it was opened,
# then waits twice as long each time, up to MAX_POLL_INTERVAL.
POLL_AFTER = timedelta(seconds=5)
MAX_POLL_INTERVAL = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class FundingRequest:
    """What the caller asked for; its hash tells a retry from a reused key."""

    user_id: int
    card_id: int
    kind: FundingKind
    amount: int
    currency: str
    idempotency_key: str

    @property
    def request_hash(self) -> str:
        return idempotency.request_hash(
            {
                "card_id": self.card_id,
                "kind": str(self.kind),
                "amount": self.amount,
                "currency": self.currency,
            }
        )


ORDER_COLUMNS = (
    "id, user_id, card_id, kind, amount, currency, state, hold_id, bank_reference, "
    "failure_code, created_at, updated_at, completed_at"
)


@dataclass(frozen=True, slots=True)
class FundingOrder:
    id: int
    user_id: int
    card_id: int
    kind: FundingKind
    amount: int
    currency: str
    state: OrderState
    hold_id: int | None
    bank_reference: str | None
    failure_code: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FundingOrder:
        values = {f.name: row[f.name] for f in fields(cls)}
        return cls(
            **{**values, "kind": FundingKind(row["kind"]), "state": OrderState(row["state"])}
        )

    @property
    def reference(self) -> str:
        return order_reference(self.id)

    @property
    def pending(self) -> bool:
        return self.state is OrderState.PENDING

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reference": self.reference,
            "kind": str(self.kind),
            "state": str(self.state),
            "card_id": self.card_id,
            "amount": self.amount,
            "amount_decimal": format_decimal(self.amount, self.currency),
            "currency": self.currency,
            "failure_code": self.failure_code,
            "bank_reference": self.bank_reference,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }
