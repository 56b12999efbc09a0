"""The bank connector: what zhifu asks of a bank rail, and what the bank answers.

Every rail (a card acquirer, a bank's account-to-account API, the simulator) implements
`BankConnector`, the shape LNbits gives its wallets: pull money from a card or account
(`charge`, for a top-up), push money to an account (`payout`, for a withdrawal), ask what
became of an earlier request (`status`), and call zhifu back when a result is known
(`on_callback`; a bank may call back more than once for the same result).

Each request carries zhifu's own unique reference (the funding order's); the bank dedupes
on it, so sending the same request twice moves money once. That is what lets zhifu retry
after a crash or a timeout without fear.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class BankStatus(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    # Timed out or not yet known: the final answer comes later (callback or `status`).
    PENDING = "pending"


class DeclineReason(StrEnum):
    INSUFFICIENT_FUNDS = "insufficient_funds"
    CARD_BLOCKED = "card_blocked"
    DO_NOT_HONOR = "do_not_honor"
    EXCEEDS_BANK_LIMIT = "exceeds_bank_limit"


class Direction(StrEnum):
    CHARGE = "charge"  # money from the customer's card into the platform's bank account
    PAYOUT = "payout"  # money from the platform's bank account to the customer's account


@dataclass(frozen=True, slots=True)
class BankRequest:
    """One movement asked of the bank. `reference` is zhifu's, unique per movement."""

    reference: str
    card_token: str
    last4: str
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class ChargeRequest(BankRequest):
    """Pull `amount` from the card or account (a top-up)."""


@dataclass(frozen=True, slots=True)
class PayoutRequest(BankRequest):
    """Push `amount` to the card or account (a withdrawal)."""


@dataclass(frozen=True, slots=True)
class BankResult:
    reference: str
    status: BankStatus
    bank_reference: str | None = None
    decline_reason: str | None = None

    @property
    def final(self) -> bool:
        return self.status is not BankStatus.PENDING


BankCallback = Callable[[BankResult], Awaitable[None]]


class BankError(Exception):
    """The bank could not be asked or refused the request itself (not a decline): the
    outcome of the movement is unknown, so the caller treats it as pending."""


class ReferenceReused(BankError):
    """A reference the bank already knows came with a different request."""


class BankConnector(Protocol):
    async def charge(self, request: ChargeRequest) -> BankResult:
        """Pull money from a card or account; the same reference twice charges once."""
        ...

    async def payout(self, request: PayoutRequest) -> BankResult:
        """Push money to a card or account; the same reference twice pays once."""
        ...

    async def status(self, reference: str) -> BankResult | None:
        """What became of an earlier request; None if the bank never received it."""
        ...

    def on_callback(self, handler: BankCallback) -> None:
        """Register the function the bank calls with results (at least once each)."""
        ...
