"""The double-entry ledger: the only writer of money in zhifu."""

from zhifu.ledger.accounts import (
    AccountInfo,
    AccountKind,
    Book,
    account_by_code,
    book_of,
    find_account,
    load_accounts,
    open_account,
    set_limits,
    system_account,
)
from zhifu.ledger.commands import (
    Command,
    CreateHold,
    Leg,
    Outcome,
    PostEntry,
    PostHold,
    VoidHold,
    transfer,
)
from zhifu.ledger.engine import apply
from zhifu.ledger.invariants import Report, verify
from zhifu.ledger.kinds import EntryKind
from zhifu.ledger.queries import (
    Balance,
    StatementLine,
    balance,
    balance_as_of,
    balances,
    entry,
    hold,
    statement,
)
from zhifu.ledger.service import Ledger

__all__ = [
    "AccountInfo",
    "AccountKind",
    "Balance",
    "Book",
    "Command",
    "CreateHold",
    "EntryKind",
    "Ledger",
    "Leg",
    "Outcome",
    "PostEntry",
    "PostHold",
    "Report",
    "StatementLine",
    "VoidHold",
    "account_by_code",
    "apply",
    "balance",
    "balance_as_of",
    "balances",
    "book_of",
    "entry",
    "find_account",
    "hold",
    "load_accounts",
    "open_account",
    "set_limits",
    "statement",
    "system_account",
    "transfer",
    "verify",
]
