"""Person-to-person transfers between wallets, and what users read of their money.

A transfer is one ledger entry, submitted through the ledger's batched path so that
concurrent transfers share database transactions. There is no transfers table: the
entry (kind `transfer`, metadata naming both users and the memo) is the record, and the
receipt is read back from it. The sender's idempotency key becomes the entry's key
(`transfer:{sender}:{key}`), so a retry returns the first receipt and a reused key
with another request is refused by the ledger itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zhifu.clock import Clock
from zhifu.db import idempotency
from zhifu.db.database import Database
from zhifu.errors import (
    BalanceCapExceeded,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidRequest,
    NotFound,
    RecipientNotFound,
    SelfTransfer,
    ZhifuError,
)
from zhifu.identity import User, UserService, find_wallet
from zhifu.ledger import EntryKind, Ledger, Outcome, transfer
from zhifu.ledger import balance as ledger_balance
from zhifu.ledger import balance_as_of as ledger_balance_as_of
from zhifu.ledger import entry as ledger_entry
from zhifu.ledger import statement as ledger_statement
from zhifu.money import check_currency, check_minor
from zhifu.transfers.receipts import (
    Movement,
    Receipt,
    StatementItem,
    WalletBalance,
    counterparty_of,
    statement_csv,
    statement_item,
    transfer_parties,
)

MEMO_MAX = 140
KEY_MAX = 255


def check_memo(memo: str) -> str:
    if not isinstance(memo, str) or len(memo) > MEMO_MAX or not memo.isprintable():
        raise InvalidRequest(f"a memo has at most {MEMO_MAX} printable characters")
    return memo


def check_key(key: str) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > KEY_MAX:
        raise InvalidRequest(f"an idempotency key has 1 to {KEY_MAX} characters")
    return key


def refusal(error: ZhifuError, client_key: str) -> ZhifuError:
    """The ledger's refusal, told to the sender without the recipient's details."""
    if isinstance(error, InsufficientFunds):
        available = error.details.get("available")
        return InsufficientFunds("the wallet balance is too low", available=available)
    if isinstance(error, BalanceCapExceeded):
        return BalanceCapExceeded("the recipient's wallet cannot take this amount")
    if isinstance(error, IdempotencyConflict):
        return IdempotencyConflict(error.message, key=client_key)
    return error


class TransferService:
    def __init__(self, db: Database, clock: Clock, ledger: Ledger, users: UserService) -> None:
        self.db = db
        self.clock = clock
        self.ledger = ledger
        self.users = users

    async def transfer(
        self,
        from_user_id: int,
        *,
        to_user_id: int | None = None,
        to_phone: str | None = None,
        amount: int,
        currency: str = "CNY",
        memo: str = "",
        pin: str,
        idempotency_key: str,
    ) -> Receipt:
        """Move `amount` from the sender's wallet to the recipient's, after the PIN."""
        check_minor(amount)
        check_currency(currency)
        check_memo(memo)
        check_key(idempotency_key)
        await self.users.verify_pin(from_user_id, pin)
        recipient = await self._recipient(from_user_id, to_user_id, to_phone)
        command = transfer(
            await self.users.wallet(from_user_id, currency),
            await self.users.wallet(recipient.id, currency),
            amount,
            currency,
            key=idempotency.scoped(idempotency.transfer_scope(from_user_id), idempotency_key),
            kind=EntryKind.TRANSFER,
            description=f"transfer from user {from_user_id} to user {recipient.id}",
            metadata={"from_user_id": from_user_id, "to_user_id": recipient.id, "memo": memo},
        )
        entry_id = self._entry_id(await self.ledger.submit(command), idempotency_key)
        return await self.receipt(from_user_id, entry_id)

    @staticmethod
    def _entry_id(outcome: Outcome, client_key: str) -> int:
        if outcome.error is not None:
            raise refusal(outcome.error, client_key)
        return int(outcome.unwrap()["entry_id"])

    async def _recipient(
        self, sender_id: int, to_user_id: int | None, to_phone: str | None
    ) -> User:
        if (to_user_id is None) == (to_phone is None):
            raise InvalidRequest("name the recipient by to_user_id or by to_phone, not both")
        try:
            if to_user_id is not None:
                recipient = await self.users.get(to_user_id)
            else:
                assert to_phone is not None
                recipient = await self.users.by_phone(to_phone)
        except NotFound:
            raise RecipientNotFound("no user to send this to") from None
        if recipient.id == sender_id:
            raise SelfTransfer("a transfer goes to somebody else")
        return recipient

    async def receipt(self, user_id: int, entry_id: int) -> Receipt:
        """The receipt of a transfer; only its sender and recipient may see it."""
        async with self.db.connection() as conn:
            try:
                found = await ledger_entry(conn, entry_id)
            except NotFound:
                found = None
        parties = transfer_parties(found["kind"], found["metadata"]) if found else None
        if found is None or parties is None or user_id not in parties:
            raise NotFound(f"no receipt {entry_id}")
        return await self._receipt(found, *parties)

    async def movement(self, user_id: int, entry_id: int) -> Movement | None:
        """The entry as it touched the user's wallets; None if none of its postings is on
        one (another user's entry is the same as one that does not exist)."""
        currency_of = {account: c for c, account in (await self.users.wallets(user_id)).items()}
        async with self.db.connection() as conn:
            try:
                found = await ledger_entry(conn, entry_id)
            except NotFound:
                return None
        mine = [p for p in found["postings"] if p["account_id"] in currency_of]
        if not mine:
            return None
        return Movement(
            entry_id=entry_id,
            kind=str(found["kind"]),
            amount=sum(int(p["amount"]) for p in mine),
            currency=currency_of[mine[0]["account_id"]],
            created_at=found["created_at"],
            metadata=dict(found["metadata"] or {}),
            description=str(found["description"]),
        )

    async def _receipt(self, found: dict[str, Any], sender: int, recipient: int) -> Receipt:
        credit = next(p for p in found["postings"] if p["amount"] > 0)
        users = await self.users.get_many({sender, recipient})
        return Receipt(
            entry_id=found["id"],
            from_user_id=sender,
            from_phone=users[sender].masked_phone,
            to_user_id=recipient,
            to_phone=users[recipient].masked_phone,
            amount=int(credit["amount"]),
            currency=str(credit["currency"]),
            memo=str(found["metadata"].get("memo", "")),
            created_at=found["created_at"],
        )

    async def balance(self, user_id: int, currency: str = "CNY") -> WalletBalance:
        """The wallet's balance; a currency the user has no wallet in reads as zero
        (a read opens nothing)."""
        async with self.db.connection() as conn:
            wallet = await find_wallet(conn, user_id, currency)
            if wallet is None:
                return WalletBalance(currency, posted=0, available=0, pending_out=0, pending_in=0)
            return WalletBalance.of(await ledger_balance(conn, wallet))

    async def balances(self, user_id: int) -> list[WalletBalance]:
        """The balance of every wallet the user has, CNY first (and always there)."""
        currencies = set(await self.users.wallets(user_id)) | {"CNY"}
        return [
            await self.balance(user_id, currency) for currency in sorted(currencies, key=_cny_first)
        ]

    async def statement(
        self, user_id: int, currency: str = "CNY", limit: int = 50, before: int | None = None
    ) -> list[StatementItem]:
        """Movements of the user's wallet, newest first; page with the last `posting_id`."""
        async with self.db.connection() as conn:
            wallet = await find_wallet(conn, user_id, currency)
            if wallet is None:
                return []
            lines = await ledger_statement(conn, wallet, limit=limit, before=before)
        others = {c for c in (counterparty_of(user_id, line) for line in lines) if c is not None}
        users = await self.users.get_many(others) if others else {}
        return [statement_item(user_id, line, currency, users) for line in lines]

    async def statement_csv(
        self, user_id: int, currency: str = "CNY", limit: int = 500, before: int | None = None
    ) -> str:
        return statement_csv(await self.statement(user_id, currency, limit, before))

    async def balance_as_of(self, user_id: int, moment: datetime, currency: str = "CNY") -> int:
        """The posted balance of the user's wallet as it stood at `moment`."""
        if moment.tzinfo is None:
            raise InvalidRequest("give the moment with its time zone")
        async with self.db.connection() as conn:
            wallet = await find_wallet(conn, user_id, currency)
            return 0 if wallet is None else await ledger_balance_as_of(conn, wallet, moment)


def _cny_first(currency: str) -> tuple[bool, str]:
    return currency != "CNY", currency
