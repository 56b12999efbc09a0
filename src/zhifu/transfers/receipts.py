"""What a user sees of money moving: receipts, balances, statement lines.

Values built from ledger rows; nothing here reads or writes a table of its own.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zhifu.identity import User
from zhifu.ledger import Balance, EntryKind, StatementLine
from zhifu.money import format_decimal


def money_fields(name: str, amount: int, currency: str) -> dict[str, Any]:
    """An amount as integer minor units and as a decimal string: amount, amount_decimal."""
    return {name: amount, f"{name}_decimal": format_decimal(amount, currency)}


@dataclass(frozen=True, slots=True)
class Receipt:
    entry_id: int
    from_user_id: int
    from_phone: str
    to_user_id: int
    to_phone: str
    amount: int
    currency: str
    memo: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "from": {"user_id": self.from_user_id, "phone": self.from_phone},
            "to": {"user_id": self.to_user_id, "phone": self.to_phone},
            **money_fields("amount", self.amount, self.currency),
            "currency": self.currency,
            "memo": self.memo,
            "created_at": self.created_at.isoformat(),
        }


def transfer_parties(kind: str, metadata: Mapping[str, Any]) -> tuple[int, int] | None:
    """(from, to) user ids of a person-to-person transfer entry, else None."""
    sender, recipient = metadata.get("from_user_id"), metadata.get("to_user_id")
    if kind != EntryKind.TRANSFER or not isinstance(sender, int) or not isinstance(recipient, int):
        return None
    return sender, recipient


@dataclass(frozen=True, slots=True)
class WalletBalance:
    currency: str
    posted: int
    available: int
    pending_out: int
    pending_in: int

    @classmethod
    def of(cls, balance: Balance) -> WalletBalance:
        return cls(
            balance.currency,
            balance.posted,
            balance.available,
            balance.pending_out,
            balance.pending_in,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            **money_fields("posted", self.posted, self.currency),
            **money_fields("available", self.available, self.currency),
            **money_fields("pending_out", self.pending_out, self.currency),
            **money_fields("pending_in", self.pending_in, self.currency),
        }


@dataclass(frozen=True, slots=True)
class StatementItem:
    """One movement on a wallet, with the balance just after it."""

    posting_id: int
    entry_id: int
    kind: str
    amount: int  # signed: negative when money left the wallet
    currency: str
    balance_after: int
    created_at: datetime
    memo: str
    counterparty_user_id: int | None
    counterparty_phone: str | None

    @property
    def direction(self) -> str:
        return "out" if self.amount < 0 else "in"

    def to_dict(self) -> dict[str, Any]:
        return {
            "posting_id": self.posting_id,
            "entry_id": self.entry_id,
            "kind": self.kind,
            "direction": self.direction,
            **money_fields("amount", self.amount, self.currency),
            "currency": self.currency,
            **money_fields("balance_after", self.balance_after, self.currency),
            "created_at": self.created_at.isoformat(),
            "memo": self.memo,
            "counterparty": {
                "user_id": self.counterparty_user_id,
                "phone": self.counterparty_phone,
            },
        }


@dataclass(frozen=True)
class Movement:
    """One ledger entry as it touched a user's wallets (the sum of its postings there)."""

    entry_id: int
    kind: str
    amount: int
    currency: str
    created_at: datetime
    metadata: dict[str, Any]
    description: str

    @property
    def direction(self) -> str:
        return "out" if self.amount < 0 else "in"


def counterparty_of(user_id: int, line: StatementLine) -> int | None:
    parties = transfer_parties(line.kind, line.metadata)
    if parties is None:
        return None
    sender, recipient = parties
    return recipient if sender == user_id else sender


def statement_item(
    user_id: int, line: StatementLine, currency: str, users: Mapping[int, User]
) -> StatementItem:
    other = counterparty_of(user_id, line)
    known = users.get(other) if other is not None else None
    return StatementItem(
        posting_id=line.posting_id,
        entry_id=line.entry_id,
        kind=line.kind,
        amount=line.amount,
        currency=currency,
        balance_after=line.balance_after,
        created_at=line.created_at,
        memo=str(line.metadata.get("memo", line.description)),
        counterparty_user_id=other,
        counterparty_phone=known.masked_phone if known else None,
    )


CSV_COLUMNS = (
    "posting_id",
    "entry_id",
    "created_at",
    "kind",
    "direction",
    "amount",
    "currency",
    "balance_after",
    "counterparty",
    "memo",
)


def spreadsheet_safe(text: str) -> str:
    """Keep spreadsheets from running a cell as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def statement_csv(items: Iterable[StatementItem]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow(
            (
                item.posting_id,
                item.entry_id,
                item.created_at.isoformat(),
                item.kind,
                item.direction,
                format_decimal(item.amount, item.currency),
                item.currency,
                format_decimal(item.balance_after, item.currency),
                spreadsheet_safe(item.counterparty_phone or ""),
                spreadsheet_safe(item.memo),
            )
        )
    return out.getvalue()
