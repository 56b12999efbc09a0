"""What can be asked of the ledger, and what it answers.

Every change of money is one of four commands. The engine applies a list of them in one
database transaction, each accepted or refused on its own merits, in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from zhifu.errors import ZhifuError
from zhifu.ledger.kinds import EntryKind
from zhifu.money import check_minor


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of an entry: a negative amount debits the account, a positive one credits it."""

    account_id: int
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class PostEntry:
    """Move money at once: a balanced journal entry (legs sum to zero per currency)."""

    legs: tuple[Leg, ...]
    kind: str = EntryKind.TRANSFER
    key: str | None = None
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # Required when the legs span two currencies: the rate applied, recorded on the entry.
    exchange_rate: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", str(self.kind))  # an EntryKind, stored as its text


@dataclass(frozen=True, slots=True)
class CreateHold:
    """Reserve money on the debit account for a later post or void (two-phase transfer)."""

    debit_account_id: int
    credit_account_id: int
    amount: int
    currency: str
    kind: str = EntryKind.HOLD
    key: str | None = None
    expires_at: datetime | None = None
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", str(self.kind))  # an EntryKind, stored as its text


@dataclass(frozen=True, slots=True)
class PostHold:
    """Complete a pending hold for `amount` (default: all of it); the rest is released."""

    hold_id: int
    amount: int | None = None
    key: str | None = None
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VoidHold:
    """Release a pending hold; nothing moves. `expired` marks a release by its deadline."""

    hold_id: int
    key: str | None = None
    expired: bool = False


Command = PostEntry | CreateHold | PostHold | VoidHold


def transfer(
    debit_account_id: int,
    credit_account_id: int,
    amount: int,
    currency: str,
    **options: Any,
) -> PostEntry:
    """The common two-legged entry: `amount` from one account to another.

    The amount must be positive: a negative one would silently reverse the direction and
    take money from the account meant to receive it.
    """
    check_minor(amount)
    legs = (
        Leg(debit_account_id, -amount, currency),
        Leg(credit_account_id, amount, currency),
    )
    return PostEntry(legs=legs, **options)


def fingerprint(command: Command) -> dict[str, Any]:
    """What identifies a request for idempotency: everything but its key."""
    body = asdict(command)
    body.pop("key", None)
    body["type"] = type(command).__name__
    return body


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to one command: a result, or the error that refused it."""

    result: dict[str, Any] | None = None
    error: ZhifuError | None = None
    replayed: bool = False

    @property
    def accepted(self) -> bool:
        return self.error is None

    def unwrap(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result
