"""Merchants: onboarding, stores and terminals, API keys, settlement account, balances.

A merchant has two ledger accounts per currency: `pending` receives payments (less the
fee) until settlement moves them to `available`. Payments make `pending` the hottest
account in the system, so it is opened with balance shards.

API keys are `sk_<prefix>_<secret>`: 16 random bytes of prefix to find the key, 32 of
secret. Only the SHA-256 of the secret is stored (the secret has 256 bits of entropy, so a
slow hash would add latency to every call and no protection); the key is shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.db.idempotency import merchant_scope, remember, replayed
from zhifu.errors import InsufficientFunds, InvalidRequest, NotFound, Unauthorized
from zhifu.identity.card_numbers import check_number
from zhifu.identity.cards import new_token
from zhifu.ledger import AccountKind, Book, Leg, balances, find_account, open_account
from zhifu.money import check_currency, format_decimal

# A merchant's discount rate is an integer in parts per million (0.6% = 6,000 ppm), so no
# float touches money; payments' fees apply it to each trade.
PPM = 1_000_000
DEFAULT_FEE_RATE_PPM = 6_000  # 0.6%
MERCHANT_PENDING_SHARDS = 8
_COLUMNS = (
    "id, name, fee_rate_ppm, category_code, city, refund_window_days, "
    "settlement_last4, settlement_bank, sandbox, created_at"
)
_STORE_COLUMNS = "id, merchant_id, name, created_at"
_TERMINAL_COLUMNS = "id, store_id, merchant_id, label, created_at"
_API_KEY_COLUMNS = "id, merchant_id, prefix, created_at, revoked_at"
_STORE = f"select {_STORE_COLUMNS} from store where id = %s"
_TERMINAL = f"select {_TERMINAL_COLUMNS} from terminal where id = %s"
_API_KEY = f"select {_API_KEY_COLUMNS} from merchant_api_key where id = %s"


@dataclass(frozen=True, slots=True)
class Merchant:
    id: int
    name: str
    fee_rate_ppm: int
    category_code: str
    city: str
    refund_window_days: int
    settlement_last4: str | None
    settlement_bank: str | None
    sandbox: bool
    created_at: datetime

    @property
    def owner(self) -> str:
        """The merchant as an owner of events and webhook endpoints."""
        return f"merchant:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "fee_rate_ppm": self.fee_rate_ppm,
            "fee_rate_percent": f"{self.fee_rate_ppm * 100 / PPM:.4f}".rstrip("0").rstrip("."),
            "category_code": self.category_code,
            "city": self.city,
            "refund_window_days": self.refund_window_days,
            "settlement_account": None
            if self.settlement_last4 is None
            else {"last4": self.settlement_last4, "bank": self.settlement_bank},
            "sandbox": self.sandbox,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    merchant_id: int
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    secret_key: str | None = None  # only when just created

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "prefix": f"sk_{self.prefix}",
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at and self.revoked_at.isoformat(),
        }
        if self.secret_key:
            body["secret_key"] = self.secret_key
        return body


def pending_code(merchant_id: int, currency: str) -> str:
    return f"merchant:{merchant_id}:pending:{currency}"


def available_code(merchant_id: int, currency: str) -> str:
    return f"merchant:{merchant_id}:available:{currency}"


async def merchant_accounts(conn: Conn, merchant_id: int, currency: str) -> tuple[int, int]:
    """The merchant's (pending, available) ledger accounts in `currency`, opened on use
    in the merchant's book (a sandbox merchant's money is sandbox money)."""
    wanted = (
        (
            pending_code(merchant_id, currency),
            AccountKind.MERCHANT_PENDING,
            MERCHANT_PENDING_SHARDS,
        ),
        (available_code(merchant_id, currency), AccountKind.MERCHANT, 1),
    )
    found = [await find_account(conn, code) for code, _, _ in wanted]
    pending, available = found
    if pending is None or available is None:
        book = await _book(conn, merchant_id)
        pending, available = [
            await open_account(
                conn, code, kind, currency, owner_id=merchant_id, shards=shards, book=book
            )
            for code, kind, shards in wanted
        ]
    return pending.id, available.id


async def existing_merchant_accounts(conn: Conn, merchant_id: int, currency: str) -> dict[str, int]:
    """Which of the merchant's accounts in `currency` are open ("pending_settlement",
    "available") and their ledger account ids. Reads open nothing."""
    codes = {
        "pending_settlement": pending_code(merchant_id, currency),
        "available": available_code(merchant_id, currency),
    }
    found = {name: await find_account(conn, code) for name, code in codes.items()}
    return {name: account.id for name, account in found.items() if account is not None}


@dataclass(frozen=True, slots=True)
class MerchantDebit:
    """The merchant's legs of money leaving it (a refund, a payout): pending settlement
    first, then available; legs of zero left out."""

    legs: tuple[Leg, ...]
    pending: int
    available: int
    balance: int  # what pending and available could give together

    def refused(self, error: InsufficientFunds) -> bool:
        """Whether the ledger refused for lack of the merchant's money (not another's)."""
        return error.account_id in (self.pending, self.available)


async def merchant_debit(conn: Conn, merchant_id: int, currency: str, amount: int) -> MerchantDebit:
    pending, available = await merchant_accounts(conn, merchant_id, currency)
    found = await balances(conn, [pending, available])
    from_pending = min(amount, max(found[pending].available, 0))
    legs = (Leg(pending, -from_pending, currency), Leg(available, from_pending - amount, currency))
    return MerchantDebit(
        legs=tuple(leg for leg in legs if leg.amount),
        pending=pending,
        available=available,
        balance=found[pending].available + found[available].available,
    )


async def _book(conn: Conn, merchant_id: int) -> Book:
    cur = await conn.execute("select sandbox from merchant where id = %s", (merchant_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"merchant {merchant_id} does not exist")
    return Book.of(row["sandbox"])


async def _one(conn: Conn, query: str, row_id: int) -> dict[str, Any]:
    """The row an idempotency key stored the id of (it was made with the key)."""
    row: dict[str, Any] | None = await (await conn.execute(query, (row_id,))).fetchone()
    assert row is not None
    return row


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_rate(rate_ppm: int) -> int:
    if isinstance(rate_ppm, bool) or not isinstance(rate_ppm, int) or not 0 <= rate_ppm <= PPM:
        raise InvalidRequest("a fee rate is between 0 and 1,000,000 parts per million")
    return rate_ppm


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100 or not name.isprintable():
        raise InvalidRequest("a name has 1 to 100 printable characters")
    return name.strip()


class MerchantService:
    def __init__(self, db: Database, clock: Clock, tokenizer_secret: bytes) -> None:
        self.db = db
        self.clock = clock
        self._secret = tokenizer_secret

    async def create(
        self,
        name: str,
        *,
        fee_rate_ppm: int = DEFAULT_FEE_RATE_PPM,
        city: str = "Shanghai",
        category_code: str = "5999",
        sandbox: bool = False,
    ) -> tuple[Merchant, ApiKey]:
        """Onboard a merchant with its first API key (the secret is shown only now). A
        sandbox merchant (a developer's test shop) takes and holds only sandbox money."""
        name, city = _check_name(name), _check_name(city)
        _check_rate(fee_rate_ppm)
        if not (len(category_code) == 4 and category_code.isdigit()):
            raise InvalidRequest("a merchant category code is 4 digits")

        async def work(conn: Conn) -> tuple[int, ApiKey]:
            cur = await conn.execute(
                """
                insert into merchant (name, fee_rate_ppm, category_code, city, sandbox, created_at)
                values (%s, %s, %s, %s, %s, %s) returning id
                """,
                (name, fee_rate_ppm, category_code, city, sandbox, self.clock.now()),
            )
            row = await cur.fetchone()
            assert row is not None
            await merchant_accounts(conn, row["id"], "CNY")
            return row["id"], await self._new_key(conn, row["id"])

        merchant_id, key = await self.db.transaction(work)
        return await self.get(merchant_id), key

    async def get(self, merchant_id: int, conn: Conn | None = None) -> Merchant:
        """The merchant; inside a transaction pass its connection (never take a second)."""
        query = f"select {_COLUMNS} from merchant where id = %s"
        if conn is None:
            row = await self.db.fetch_one(query, (merchant_id,))
        else:
            row = await (await conn.execute(query, (merchant_id,))).fetchone()
        if row is None:
            raise NotFound(f"merchant {merchant_id} does not exist")
        return Merchant(**row)

    # API keys.

    async def _new_key(self, conn: Conn, merchant_id: int) -> ApiKey:
        prefix, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        cur = await conn.execute(
            """
            insert into merchant_api_key (merchant_id, prefix, secret_hash, created_at)
            values (%s, %s, %s, %s) returning id, created_at
            """,
            (merchant_id, prefix, _hash_secret(secret), self.clock.now()),
        )
        row = await cur.fetchone()
        assert row is not None
        return ApiKey(
            row["id"], merchant_id, prefix, row["created_at"], None, f"sk_{prefix}_{secret}"
        )

    async def create_key(self, merchant_id: int, *, idempotency_key: str | None = None) -> ApiKey:
        """A new key, its secret shown only in this answer. The same idempotency key again
        answers the same key without its secret: zhifu keeps only the secret's hash, and a
        secret shown twice is a secret more exposed (revoke a key whose answer was lost)."""
        scope, request = merchant_scope(merchant_id), {"api_key": "new"}

        async def work(conn: Conn) -> ApiKey:
            earlier = await replayed(conn, scope, idempotency_key, request)
            if earlier is not None:
                return ApiKey(**await _one(conn, _API_KEY, earlier["api_key_id"]))
            key = await self._new_key(conn, merchant_id)
            await remember(conn, scope, idempotency_key, {"api_key_id": key.id})
            return key

        return await self.db.transaction(work)

    async def replace_keys(self, merchant_id: int) -> ApiKey:
        """Revoke every live key of the merchant and issue one new key, all at once."""

        async def work(conn: Conn) -> ApiKey:
            await conn.execute(
                """
                update merchant_api_key set revoked_at = %s
                where merchant_id = %s and revoked_at is null
                """,
                (self.clock.now(), merchant_id),
            )
            return await self._new_key(conn, merchant_id)

        return await self.db.transaction(work)

    async def list_keys(self, merchant_id: int) -> list[ApiKey]:
        rows = await self.db.fetch_all(
            f"""
            select {_API_KEY_COLUMNS} from merchant_api_key
            where merchant_id = %s order by id
            """,
            (merchant_id,),
        )
        return [ApiKey(**row) for row in rows]

    async def revoke_key(self, merchant_id: int, key_id: int) -> None:
        async with self.db.connection() as conn:
            cur = await conn.execute(
                """
                update merchant_api_key set revoked_at = coalesce(revoked_at, %s)
                where id = %s and merchant_id = %s
                """,
                (self.clock.now(), key_id, merchant_id),
            )
            if cur.rowcount != 1:
                raise NotFound(f"API key {key_id} does not exist")

    async def authenticate(self, secret_key: str) -> Merchant:
        """The merchant whose live API key this is; anything else is Unauthorized."""
        parts = secret_key.split("_", 2) if isinstance(secret_key, str) else []
        if len(parts) != 3 or parts[0] != "sk":
            raise Unauthorized("invalid API key")
        row = await self.db.fetch_one(
            """
            select merchant_id, secret_hash from merchant_api_key
            where prefix = %s and revoked_at is null
            """,
            (parts[1],),
        )
        if row is None or not hmac.compare_digest(row["secret_hash"], _hash_secret(parts[2])):
            raise Unauthorized("invalid API key")
        return await self.get(row["merchant_id"])

    # Stores, terminals, settlement account.

    async def add_store(
        self, merchant_id: int, name: str, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """A new store; the same idempotency key again answers the same store."""
        scope, request = merchant_scope(merchant_id), {"store": _check_name(name)}

        async def work(conn: Conn) -> dict[str, Any]:
            earlier = await replayed(conn, scope, idempotency_key, request)
            if earlier is not None:
                return await _one(conn, _STORE, earlier["store_id"])
            cur = await conn.execute(
                f"""
                insert into store (merchant_id, name, created_at) values (%s, %s, %s)
                returning {_STORE_COLUMNS}
                """,
                (merchant_id, request["store"], self.clock.now()),
            )
            store: dict[str, Any] | None = await cur.fetchone()
            assert store is not None
            await remember(conn, scope, idempotency_key, {"store_id": store["id"]})
            return store

        return await self.db.transaction(work)

    async def add_terminal(
        self, merchant_id: int, store_id: int, label: str, *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """A new terminal in one of the merchant's stores; the same idempotency key again
        answers the same terminal."""
        await self.store(merchant_id, store_id)
        scope, request = merchant_scope(merchant_id), {"terminal": [store_id, _check_name(label)]}

        async def work(conn: Conn) -> dict[str, Any]:
            earlier = await replayed(conn, scope, idempotency_key, request)
            if earlier is not None:
                return await _one(conn, _TERMINAL, earlier["terminal_id"])
            cur = await conn.execute(
                f"""
                insert into terminal (store_id, merchant_id, label, created_at)
                values (%s, %s, %s, %s) returning {_TERMINAL_COLUMNS}
                """,
                (store_id, merchant_id, request["terminal"][1], self.clock.now()),
            )
            terminal: dict[str, Any] | None = await cur.fetchone()
            assert terminal is not None
            await remember(conn, scope, idempotency_key, {"terminal_id": terminal["id"]})
            return terminal

        return await self.db.transaction(work)

    async def store(self, merchant_id: int, store_id: int) -> dict[str, Any]:
        row = await self.db.fetch_one(
            f"select {_STORE_COLUMNS} from store where id = %s and merchant_id = %s",
            (store_id, merchant_id),
        )
        if row is None:
            raise NotFound(f"store {store_id} does not exist")
        return row

    async def terminal(self, merchant_id: int, terminal_id: int) -> dict[str, Any]:
        row = await self.db.fetch_one(
            f"select {_TERMINAL_COLUMNS} from terminal where id = %s and merchant_id = %s",
            (terminal_id, merchant_id),
        )
        if row is None:
            raise NotFound(f"terminal {terminal_id} does not exist")
        return row

    async def stores(self, merchant_id: int) -> list[dict[str, Any]]:
        stores = await self.db.fetch_all(
            "select id, name, created_at from store where merchant_id = %s order by id",
            (merchant_id,),
        )
        terminals = await self.db.fetch_all(
            "select id, store_id, label, created_at from terminal where merchant_id = %s",
            (merchant_id,),
        )
        for store in stores:
            store["terminals"] = [t for t in terminals if t["store_id"] == store["id"]]
        return stores

    async def set_settlement_account(self, merchant_id: int, number: str, bank: str) -> Merchant:
        """Tokenise the bank account settlements are paid to; keep only its last four."""
        checked = check_number(self._secret, "account", number)
        async with self.db.connection() as conn:
            await conn.execute(
                """
                update merchant set settlement_token = %s, settlement_last4 = %s,
                                    settlement_bank = %s
                where id = %s
                """,
                (new_token(), checked.last4, _check_name(bank), merchant_id),
            )
        return await self.get(merchant_id)

    async def balances(self, merchant_id: int, currency: str = "CNY") -> dict[str, Any]:
        """Pending settlement and available, in minor units and as decimals; a currency
        the merchant never took reads as zero (a read opens nothing)."""
        check_currency(currency)
        async with self.db.connection() as conn:
            accounts = await existing_merchant_accounts(conn, merchant_id, currency)
            found = await balances(conn, list(accounts.values()))
        result: dict[str, Any] = {"currency": currency}
        for name in ("pending_settlement", "available"):
            amount = found[accounts[name]].posted if name in accounts else 0
            result[name] = amount
            result[f"{name}_decimal"] = format_decimal(amount, currency)
        return result
