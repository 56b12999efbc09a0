"""Helpers of the funding tests: card numbers that pick a simulator behaviour, banks
that misbehave, and a check that the books still balance."""

from __future__ import annotations

import asyncio
import secrets
import uuid

from zhifu.funding import BankResult, ChargeRequest, PayoutRequest
from zhifu.identity.card_numbers import luhn_valid
from zhifu.ledger import Ledger


def card_number(last4: str) -> str:
    """A valid (Luhn) UnionPay card number ending in `last4`, unique to the caller."""
    head = "62" + "".join(secrets.choice("0123456789") for _ in range(9))
    for digit in "0123456789":
        number = head + digit + last4
        if luhn_valid(number):
            return number
    raise AssertionError("unreachable: one check digit always fits")


def key() -> str:
    return str(uuid.uuid4())


async def assert_books_balance(ledger: Ledger) -> None:
    report = await ledger.verify()
    assert report.ok, report.breaches


class Recorder:
    """A bank callback handler that remembers what it was called with."""

    def __init__(self) -> None:
        self.results: list[BankResult] = []

    async def __call__(self, result: BankResult) -> None:
        self.results.append(result)


class HangingBank:
    """A bank whose charges and payouts never answer (the process dies meanwhile)."""

    def __init__(self) -> None:
        self.called = asyncio.Event()

    async def _hang(self) -> BankResult:
        self.called.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def charge(self, request: ChargeRequest) -> BankResult:
        return await self._hang()

    async def payout(self, request: PayoutRequest) -> BankResult:
        return await self._hang()

    async def status(self, reference: str) -> BankResult | None:
        return None

    def on_callback(self, handler: object) -> None:
        pass


class UnreachableBank(HangingBank):
    """A bank that cannot be reached at all: every call fails."""

    async def _hang(self) -> BankResult:
        raise ConnectionError("no route to the bank")

    async def status(self, reference: str) -> BankResult | None:
        raise ConnectionError("no route to the bank")
