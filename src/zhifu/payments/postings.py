"""Every recipe of legs that payments moves money with, in one place.

Each recipe is a pure function from a trade (or a payout) and the accounts involved to
the ledger commands that move the money; the services look the accounts up, apply the
commands in the transaction that changes the trade, and so keep the trade and its money
in step. Settlement, coupons and credit add their recipes beside these.

| movement        | debit                                   | credit                             |
|-----------------|-----------------------------------------|------------------------------------|
| payment         | buyer's wallet                          | merchant pending (less fee), fee   |
| escrow hold     | buyer's wallet (held)                   | merchant pending (on release)      |
| escrow release  | the hold posted; merchant pending (fee) | platform fee                       |
| refund          | merchant pending, then available; fee   | buyer's wallet                     |
| payout          | merchant pending, then available        | the user's wallet                  |
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from zhifu.db.database import Conn
from zhifu.ledger import (
    AccountKind,
    Command,
    CreateHold,
    EntryKind,
    Leg,
    PostEntry,
    PostHold,
    VoidHold,
    apply,
    book_of,
    system_account,
)
from zhifu.payments.model import Trade

REVENUE_SHARDS = 16


async def revenue_account(conn: Conn, currency: str, *, beside: int) -> int:
    """The platform's fee income in the book of the account `beside` (sandbox fees are
    sandbox money): credited by every payment, so it is sharded too."""
    info = await system_account(
        conn,
        AccountKind.PLATFORM_REVENUE,
        currency,
        shards=REVENUE_SHARDS,
        book=await book_of(conn, beside),
    )
    return info.id


async def apply_one(conn: Conn, command: Command, now: datetime) -> dict[str, Any]:
    """Apply one ledger command in the caller's transaction; raise its refusal."""
    (outcome,) = await apply(conn, [command], now)
    return outcome.unwrap()


def _about(trade: Trade) -> dict[str, Any]:
    return {"trade_no": trade.trade_no, "merchant_id": trade.merchant_id}


def payment(trade: Trade, *, wallet: int, pending: int, revenue: int, fee: int) -> PostEntry:
    """Buyer's wallet -> merchant's pending settlement (less the fee) + platform fee."""
    currency = trade.currency
    legs = [
        Leg(wallet, -trade.amount, currency),
        Leg(pending, trade.amount - fee, currency),
        Leg(revenue, fee, currency),
    ]
    return PostEntry(
        legs=tuple(leg for leg in legs if leg.amount),
        kind=EntryKind.PAYMENT,
        description=trade.subject,
        metadata=_about(trade),
    )


def escrow_hold(trade: Trade, *, wallet: int, pending: int) -> CreateHold:
    """The buyer's money held for the merchant: it leaves the buyer's available balance
    now and reaches the merchant only when the hold is posted."""
    return CreateHold(
        wallet,
        pending,
        trade.amount,
        trade.currency,
        kind=EntryKind.ESCROW,
        description=trade.subject,
        metadata=_about(trade),
    )


def escrow_release(trade: Trade, *, hold_id: int, pending: int, revenue: int) -> list[Command]:
    """Post the hold to the merchant and take the fee from what it brought."""
    commands: list[Command] = [PostHold(hold_id)]
    if trade.fee:
        legs = (Leg(pending, -trade.fee, trade.currency), Leg(revenue, trade.fee, trade.currency))
        commands.append(PostEntry(legs=legs, kind=EntryKind.FEE, metadata=_about(trade)))
    return commands


def escrow_refund(hold_id: int) -> VoidHold:
    """The held money goes back to the buyer; no fee was taken."""
    return VoidHold(hold_id)


def refund(
    trade: Trade,
    *,
    wallet: int,
    merchant_legs: Sequence[Leg],
    revenue: int,
    fee_back: int,
    amount: int,
) -> PostEntry:
    """Merchant (pending first, then available: `merchant_legs`, which bring
    `amount - fee_back`) + the platform's share of the fee -> buyer's wallet."""
    legs = [
        Leg(wallet, amount, trade.currency),
        *merchant_legs,
        Leg(revenue, -fee_back, trade.currency),
    ]
    return PostEntry(
        legs=tuple(leg for leg in legs if leg.amount),
        kind=EntryKind.REFUND,
        description=f"refund of {trade.subject}",
        metadata=_about(trade),
    )


def payout(
    *,
    wallet: int,
    merchant_legs: Sequence[Leg],
    amount: int,
    currency: str,
    description: str,
    metadata: dict[str, Any],
) -> PostEntry:
    """Merchant (pending first, then available: `merchant_legs`) -> the user's wallet."""
    return PostEntry(
        legs=(Leg(wallet, amount, currency), *merchant_legs),
        kind=EntryKind.PAYOUT,
        description=description,
        metadata=metadata,
    )
